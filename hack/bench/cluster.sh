#!/usr/bin/env bash
# Benchmark: the build benchmark's project (hack/bench/build: multi-stage C
# application on Debian bases from the sandbox registry) built locally and
# in the cluster (skiff build --cluster: a pod of skiff's image on the
# sandbox's real node, in container isolation), side by side: cold (empty
# caches, new repositories) and the no-change rebuild.
# Prints a Markdown section on stdout, progress on stderr.
# Knobs: BENCH_CLUSTER_RUNS (cold runs per mode, default 2),
# BENCH_CLUSTER_WARM_RUNS (default 5), SKIFF_BENCH_DIR (shared with build.sh).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
# shellcheck disable=SC1091
source .testenv/env
reg=$SKIFF_TEST_REGISTRY
pods_reg=${SKIFF_TEST_REGISTRY_FOR_PODS:-}
runs=${BENCH_CLUSTER_RUNS:-2}
warm_runs=${BENCH_CLUSTER_WARM_RUNS:-5}
work=${SKIFF_BENCH_DIR:-/var/tmp/skiff-bench}
skiff="$root/bin/skiff"
log() { echo "bench cluster: $*" >&2; }
[ -n "$pods_reg" ] || { log "the sandbox has no real node (SKIFF_TEST_REGISTRY_FOR_PODS is empty); run hack/testenv up as root"; exit 1; }

# shellcheck source=hack/bench/build/tools.sh
source hack/bench/build/tools.sh
need_tools debootstrap hyperfine jq kubectl
[ -x "$skiff" ] || go build -o "$skiff" .
mkdir -p "$work"
tmp=$(mktemp -d)
ns=skiff-bench-cluster-$$
cleanup() {
  kubectl delete namespace "$ns" --wait=false >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
# shellcheck source=hack/bench/build/project.sh
source hack/bench/build/project.sh

log "building skiff's image (make image)"
IMAGE_DIR=$tmp/image VERSION=bench hack/image/build "$reg/bench/skiff" >/dev/null 2>"$tmp/image.log" ||
  { cat "$tmp/image.log" >&2; exit 1; }
image=$(jq -r '.builds[0].tag' "$tmp/image/build.json")
# The namespace's pods go to the real node (testenv.RealNode.Namespace).
kubectl create namespace "$ns" >/dev/null
kubectl label namespace "$ns" skiff.dev/testenv-real-node=true skiff.dev/testenv=true >/dev/null

local_cmd() { # local_cmd CACHE_DIR REPO
  echo "cd $tmp/project && $skiff build -q --cache-dir $1 --default-repo $2"
}
cluster_cmd() { # cluster_cmd REPO
  echo "cd $tmp/project && $skiff build -q --cluster -n $ns --cluster-image $image --cluster-registry-alias $reg=$pods_reg --default-repo $1"
}
timed() { # timed NAME COMMAND: appends "wall cpu" to $tmp/NAME.times
  local name=$1; shift
  /usr/bin/time -f "%e %U %S" -o "$tmp/time" sh -c "$1" >/dev/null 2>"$tmp/$name.err" || { cat "$tmp/$name.err" >&2; return 1; }
  awk '{printf "%s %.2f\n", $1, $2 + $3}' "$tmp/time" >> "$tmp/$name.times"
  log "$name: $(tail -1 "$tmp/$name.times") (wall, local cpu seconds)"
}
cold_local() { rm -rf "$work/cl-local"; timed local-cold "$(local_cmd "$work/cl-local" "$reg/bench/cl-cold-$(date +%s%N)")"; }
cold_cluster() { timed cluster-cold "$(cluster_cmd "$reg/bench/cl-cold-$(date +%s%N)")"; }
log "cold builds ($runs runs each, alternating)"
for i in $(seq "$runs"); do
  if [ $((i % 2)) -eq 1 ]; then cold_local; cold_cluster; else cold_cluster; cold_local; fi
done
stats() { awk '{w+=$1; ww+=$1*$1; c+=$2; n++} END {m=w/n; v=ww/n-m*m; if (v<0) v=0; printf "%f %f %f\n", m, sqrt(v), c/n}' "$1"; }

# No change: the same inputs into the same repositories again. The local
# build has its local cache; the build pod starts empty and finds every
# step in the registry cache.
rm -rf "$work/cl-local"
sh -c "$(local_cmd "$work/cl-local" "$reg/bench/cl-warm-local")" >/dev/null
sh -c "$(cluster_cmd "$reg/bench/cl-warm-cluster")" >/dev/null
hyperfine --warmup 1 --runs "$warm_runs" --export-json "$tmp/warm.json" \
  --command-name "local no-change" "$(local_cmd "$work/cl-local" "$reg/bench/cl-warm-local")" \
  --command-name "cluster no-change" "$(cluster_cmd "$reg/bench/cl-warm-cluster")" >&2
# A local build's cache makes a cluster build of the same inputs all hits.
after_local=$(cd "$tmp/project" && $skiff build --cluster -n "$ns" --cluster-image "$image" \
  --cluster-registry-alias "$reg=$pods_reg" --default-repo "$reg/bench/cl-warm-local" 2>&1 >/dev/null | grep '^Built' | sed 's/.*(\(.*\)) in .*/\1/')
load_end=$(cut -d' ' -f1-3 /proc/loadavg)

read -r lc_m lc_s lc_c < <(stats "$tmp/local-cold.times")
read -r cc_m cc_s cc_c < <(stats "$tmp/cluster-cold.times")
lw_m=$(jq -r '.results[0].mean' "$tmp/warm.json"); lw_s=$(jq -r '.results[0].stddev // 0' "$tmp/warm.json")
cw_m=$(jq -r '.results[1].mean' "$tmp/warm.json"); cw_s=$(jq -r '.results[1].stddev // 0' "$tmp/warm.json")
f() { printf '%.2f' "$1"; }
ratio=$(awk -v a="$cc_m" -v b="$lc_m" 'BEGIN {printf "%.2f", a/b}')
extra=$(awk -v a="$cw_m" -v b="$lw_m" 'BEGIN {printf "%.2f", a-b}')
cat <<EOF
## cluster

### Cluster build vs local build: the build benchmark's project

The project of the build section ($files files of C, multi-stage, Debian $suite bases from the sandbox
registry). Local: \`skiff build\` as root on this machine (root isolation). Cluster: \`skiff build --cluster\`:
one pod of skiff's image (\`make image\`) per artifact on the sandbox's real node (kubelet + containerd on
this machine, so both compete for the same 2 cores), with the runtime's default capabilities and seccomp
profile (container isolation), the context sent as a tar over the exec API, pushing through the registry
as the pod reaches it ($pods_reg, the same storage as $reg).

| | wall, mean (s) | ± (s) | CPU of the local skiff, user+sys (s) |
|---|---:|---:|---:|
| local cold (empty local and registry cache) | $(f "$lc_m") | $(f "$lc_s") | $(f "$lc_c") |
| cluster cold (empty registry cache; the pod starts empty) | $(f "$cc_m") | $(f "$cc_s") | $(f "$cc_c") |
| local no-change rebuild | $(f "$lw_m") | $(f "$lw_s") | |
| cluster no-change rebuild (pod start, upload, every step from the registry cache) | $(f "$cw_m") | $(f "$cw_s") | |

- cluster cold / local cold: **${ratio}×** (goal ≤ 1.3×); no-change rebuild **+${extra} s** in the cluster (goal ≤ 1 s more).
- A cluster build of the inputs a local build has just built: \`$after_local\` (the same cache keys).

Runs: $runs cold builds per mode, alternating (load average at the start: $load_start, at the end: $load_end);
no-change rebuilds with hyperfine, $warm_runs each after one warm-up. Reproduce: \`hack/bench/run cluster\`
(after \`make build testenv\`), or \`hack/bench/cluster.sh\` alone for this section. The cluster command is
\`$(cluster_cmd '$REPO')\`.
EOF
