#!/usr/bin/env bash
# Writes the render benchmark fixture into DIR: a kustomize base of 10 apps
# (Deployment, Service, ServiceAccount, generated ConfigMap each) and a
# production overlay that adds a PodDisruptionBudget per app (50 objects in
# all), with a namespace, a name prefix, labels, a patch on every
# Deployment, a merged ConfigMap generator and an images transformer; plus a
# skaffold.yaml and an artifacts file for skiff. Deterministic.
set -euo pipefail
dir=${1:?usage: gen.sh DIR}
mkdir -p "$dir/base" "$dir/overlays/production"
apps=(api auth billing cart catalog checkout email search shipping web)

{
  echo "apiVersion: kustomize.config.k8s.io/v1beta1"
  echo "kind: Kustomization"
  echo "resources:"
  for a in "${apps[@]}"; do echo "- $a.yaml"; done
  echo "configMapGenerator:"
  for a in "${apps[@]}"; do
    echo "- name: $a-config"
    echo "  literals: [APP=$a, LOG_LEVEL=info, PORT=8080]"
  done
} > "$dir/base/kustomization.yaml"

for a in "${apps[@]}"; do
  cat > "$dir/base/$a.yaml" <<YAML
apiVersion: apps/v1
kind: Deployment
metadata:
  name: $a
  labels: {app: $a}
spec:
  replicas: 1
  selector:
    matchLabels: {app: $a}
  template:
    metadata:
      labels: {app: $a}
    spec:
      serviceAccountName: $a
      containers:
      - name: $a
        image: shop/$a
        ports: [{containerPort: 8080}]
        envFrom: [{configMapRef: {name: $a-config}}]
        readinessProbe: {httpGet: {path: /healthz, port: 8080}}
      - name: envoy
        image: envoyproxy/envoy:v1.31.0
---
apiVersion: v1
kind: Service
metadata:
  name: $a
spec:
  selector: {app: $a}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: $a
YAML
done

{
  cat <<'YAML'
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: shop-prod
namePrefix: prod-
labels:
- pairs: {env: production, team: shop}
  includeSelectors: false
resources:
- ../../base
- pdbs.yaml
images:
- name: envoyproxy/envoy
  newTag: v1.31.2
patches:
- target: {kind: Deployment}
  patch: |-
    - op: replace
      path: /spec/replicas
      value: 3
    - op: add
      path: /spec/template/spec/containers/0/resources
      value: {requests: {cpu: 100m, memory: 64Mi}, limits: {memory: 128Mi}}
configMapGenerator:
YAML
  for a in "${apps[@]}"; do
    echo "- name: $a-config"
    echo "  behavior: merge"
    echo "  literals: [LOG_LEVEL=warn]"
  done
} > "$dir/overlays/production/kustomization.yaml"

for a in "${apps[@]}"; do
  cat <<YAML
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: $a
spec:
  minAvailable: 1
  selector:
    matchLabels: {app: $a}
YAML
done > "$dir/overlays/production/pdbs.yaml"

{
  echo "apiVersion: skaffold/v4beta11"
  echo "kind: Config"
  echo "metadata: {name: shop}"
  echo "build:"
  echo "  artifacts:"
  for a in "${apps[@]}"; do echo "  - image: shop/$a"; done
  echo "manifests:"
  echo "  kustomize:"
  echo "    paths: [overlays/production]"
} > "$dir/skaffold.yaml"

{
  printf '{"builds":['
  sep=""
  for a in "${apps[@]}"; do
    digest=$(printf '%s' "$a" | sha256sum | cut -d' ' -f1)
    printf '%s{"imageName":"shop/%s","tag":"registry.shop.test/%s:1.0.0@sha256:%s"}' "$sep" "$a" "$a" "$digest"
    sep=","
  done
  printf ']}\n'
} > "$dir/artifacts.json"
