#!/bin/sh
# Integration suite: the image and the manifests agree on the port, the
# health check path exists in the image, and every overlay builds on the base.
set -eu
cd "$(dirname "$0")/.."
fail=0
check() { # description, command...
	what=$1
	shift
	if "$@"; then echo "ok   $what"; else echo "FAIL $what"; fail=1; fi
}
check "Dockerfile exposes 8080" grep -q '^EXPOSE 8080$' Dockerfile
check "httpd listens on 8080" grep -q '"-p", "8080"' Dockerfile
check "the container port is 8080" grep -q 'containerPort: 8080' deploy/k8s/base/deployment.yaml
check "the readiness probe's path is served" test -f "site$(sed -n 's/^ *path: *//p' deploy/k8s/base/deployment.yaml)"
for overlay in deploy/k8s/overlays/*/; do
	check "$overlay uses the base" grep -q '\.\./\.\./base' "$overlay/kustomization.yaml"
done
exit "$fail"
