#!/usr/bin/env bash
# Benchmark: apply + wait of 50 objects (10 Deployments of 2 replicas) on the
# sandbox cluster, side by side in one run, each run into a fresh namespace:
#   - skiff apply --status-check (validation dry run, inventory, release
#     record, watch-based status check included)
#   - kubectl apply --server-side, then kubectl rollout status per Deployment
#   - the cluster's own time: plain client-go creates + a watch until every
#     Deployment is ready (hack/bench/apply/clusterready), the floor.
# Prints a Markdown section on stdout; progress on stderr.
# BENCH_APPLY_RUNS (default 5) runs of each, in rotating order.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
if [ -z "${KUBECONFIG:-}" ]; then
  # shellcheck disable=SC1091
  source .testenv/env
fi
runs=${BENCH_APPLY_RUNS:-5}
manifests="$root/hack/bench/apply/manifests.yaml"
skiff="$root/bin/skiff"
[ -x "$skiff" ] || go build -o "$skiff" .

tmp=$(mktemp -d)
namespaces=()
cleanup() {
  if [ ${#namespaces[@]} -gt 0 ]; then
    kubectl delete namespace --wait=false "${namespaces[@]}" >/dev/null 2>&1 || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
go build -o "$tmp/clusterready" ./hack/bench/apply/clusterready

deployments=$(awk '/^kind: Deployment/{d=1} d && /^  name:/{print $2; d=0}' "$manifests")
objects=$(grep -c '^kind:' "$manifests")
ndeploy=$(echo "$deployments" | wc -l)

run_skiff() { (cd "$tmp" && "$skiff" apply -n "$1" --app bench --status-check "$manifests"); }
run_kubectl() {
  kubectl apply --server-side -n "$1" -f "$manifests"
  for d in $deployments; do
    kubectl rollout status "deployment/$d" -n "$1" --timeout=5m
  done
}
run_cluster() { "$tmp/clusterready" -n "$1" "$manifests"; }

# measure TOOL NS: seconds for one run into the fresh namespace NS.
measure() {
  local tool=$1 ns=$2 start end
  start=$(date +%s.%N)
  if ! "run_$tool" "$ns" >"$tmp/out" 2>&1; then
    echo "bench apply: $tool failed:" >&2
    cat "$tmp/out" >&2
    return 1
  fi
  end=$(date +%s.%N)
  echo "$end - $start" | bc -l
}

# Each run gets a fresh namespace, removed (and awaited, untimed) before the
# next run so that runs do not slow each other down or exhaust the Service
# IP range.
fresh_namespace() {
  ns="bench-apply-$1-$(head -c4 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  namespaces+=("$ns")
  kubectl create namespace "$ns" >/dev/null
}
drop_namespace() {
  kubectl delete namespace "$1" --wait=true --timeout=3m >/dev/null 2>&1 || true
}

load=$(cut -d' ' -f1-3 /proc/loadavg)
declare -A times
tools=(cluster skiff kubectl)
for ((i = 0; i < runs; i++)); do
  for ((j = 0; j < ${#tools[@]}; j++)); do
    tool=${tools[$(((i + j) % ${#tools[@]}))]}
    fresh_namespace "$tool"
    t=$(measure "$tool" "$ns")
    drop_namespace "$ns"
    times[$tool]+="$t "
    printf 'bench apply: run %d %s %.2fs\n' $((i + 1)) "$tool" "$t" >&2
  done
done

stat() { # stat median|min|max TIMES...
  local what=$1
  shift
  printf '%s\n' "$@" | sort -g | awk -v w="$what" '{a[NR]=$1} END {
    if (w=="min") print a[1]; else if (w=="max") print a[NR];
    else if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2 }'
}
declare -A med mn mx
for tool in "${tools[@]}"; do
  # shellcheck disable=SC2086
  med[$tool]=$(stat median ${times[$tool]})
  # shellcheck disable=SC2086
  mn[$tool]=$(stat min ${times[$tool]})
  # shellcheck disable=SC2086
  mx[$tool]=$(stat max ${times[$tool]})
done
ratio() { echo "$1 / $2" | bc -l; }
speedup=$(ratio "${med[kubectl]}" "${med[skiff]}")
overhead=$(ratio "${med[skiff]}" "${med[cluster]}")
verdict() { if [ "$(echo "$1" | bc -l)" = 1 ]; then echo met; else echo "**not met**"; fi; }

cat <<MD
## Apply and wait: $objects objects, $ndeploy Deployments

Time from start until every Deployment is ready, each run into a fresh namespace,
$runs runs of each in rotating order (seconds; wall clock, process start included;
load average when the runs started: $load).
The sandbox runs kube-controller-manager and kube-scheduler with `--kube-api-qps=200
--kube-api-burst=400` (hack/testenv); with the default 20 QPS the cluster's own time is
about three times longer for every tool and client-side throttling dominates.

| what | median | min | max | × cluster |
|---|---:|---:|---:|---:|
| cluster's own time: client-go creates + one watch | $(printf '%.2f' "${med[cluster]}") | $(printf '%.2f' "${mn[cluster]}") | $(printf '%.2f' "${mx[cluster]}") | 1.00 |
| \`skiff apply --status-check\` | $(printf '%.2f' "${med[skiff]}") | $(printf '%.2f' "${mn[skiff]}") | $(printf '%.2f' "${mx[skiff]}") | $(printf '%.2f' "$overhead") |
| \`kubectl apply --server-side\` + \`kubectl rollout status\` × $ndeploy | $(printf '%.2f' "${med[kubectl]}") | $(printf '%.2f' "${mn[kubectl]}") | $(printf '%.2f' "${mx[kubectl]}") | $(printf '%.2f' "$(ratio "${med[kubectl]}" "${med[cluster]}")") |

- skiff is $(printf '%.1f' "$speedup")× faster than kubectl (goal ≥ 2×: $(verdict "$speedup >= 2")).
- skiff takes $(printf '%.2f' "$overhead")× the cluster's own time (goal ≤ 1.5×: $(verdict "$overhead <= 1.5")).
- Ceiling: no client can beat kubectl by more than kubectl ÷ cluster = $(printf '%.2f' "$(ratio "${med[kubectl]}" "${med[cluster]}")")× here,
  since the cluster's own time is the floor of every run; the rest of kubectl's time is its
  $((ndeploy + 1)) process starts and sequential waits.
- skiff's time includes what kubectl does not do: a server-side dry run of the whole set
  before writing, the inventory, a release record, and a watch on all $objects objects
  (not only the Deployments).

Reproduce (sandbox up, \`make build\`): \`hack/bench/run apply\`, or by hand, each in a fresh namespace NS:

\`\`\`
bin/skiff apply -n NS --app bench --status-check hack/bench/apply/manifests.yaml
kubectl apply --server-side -n NS -f hack/bench/apply/manifests.yaml
for d in $(echo $deployments); do kubectl rollout status deployment/\$d -n NS; done
go run ./hack/bench/apply/clusterready -n NS hack/bench/apply/manifests.yaml
\`\`\`
MD
