#!/usr/bin/env bash
# Benchmark: skiff's daemonless Dockerfile builder, on the sandbox registry.
#   1. Cold build and no-change rebuild of a multi-stage C application
#      (hack/bench/build/Dockerfile: compiled in a debootstrap'ed Debian
#      builder stage, shipped in a slim debootstrap'ed Debian stage), side by
#      side with Debian's buildah (vfs storage, chroot isolation, --layers).
#   2. Snapshot scaling: a RUN that changes one file on a base of 1,000 files
#      and on one of 100,000 files (overlay snapshots; the walk fallback for
#      contrast).
# Prints a Markdown section on stdout, progress on stderr.
# Knobs: BENCH_BUILD_RUNS (cold runs, default 3), BENCH_BUILD_WARM_RUNS
# (default 10), SKIFF_BENCH_DIR (root filesystems and caches, default
# /var/tmp/skiff-bench, kept between runs; delete it to start over).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
# shellcheck disable=SC1091
source .testenv/env
reg=$SKIFF_TEST_REGISTRY
runs=${BENCH_BUILD_RUNS:-3}
warm_runs=${BENCH_BUILD_WARM_RUNS:-10}
buildah_warm_runs=${BENCH_BUILDAH_WARM_RUNS:-3}
work=${SKIFF_BENCH_DIR:-/var/tmp/skiff-bench}
skiff="$root/bin/skiff"
log() { echo "bench build: $*" >&2; }

# shellcheck source=hack/bench/build/tools.sh
source hack/bench/build/tools.sh
need_tools buildah debootstrap hyperfine jq bc
[ -x "$skiff" ] || go build -o "$skiff" .
mkdir -p "$work"
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The base images, the application and its skaffold.yaml.
# shellcheck source=hack/bench/build/project.sh
source hack/bench/build/project.sh

buildah_cmd() {
  echo "buildah --root $work/buildah/root --runroot $work/buildah/runroot --storage-driver vfs bud --isolation chroot --layers --tls-verify=false --quiet --build-arg BUILD_IMAGE=$build_image --build-arg RUNTIME_IMAGE=$runtime_image -t bench-app -f $app/Dockerfile $app"
}
skiff_cmd() { # skiff_cmd CACHE_DIR REPO
  echo "cd $tmp/project && $skiff build -q --cache-dir $1 --default-repo $2"
}

# mean_of FILE: hyperfine's mean and stddev, in seconds.
mean_of() { jq -r '.results[0] | "\(.mean) \(.stddev // 0)"' "$1"; }
fmt() { printf '%.2f' "$1"; }

log "1/2 cold builds ($runs runs each, alternating) and no-change rebuilds"
# Cold: empty local cache and a registry path never used before (so the
# registry cache and the target repository are empty too) for skiff; empty
# storage for buildah. The two alternate so that both see the same machine
# load; wall and CPU (user+system) time are both recorded.
timed() { # timed NAME COMMAND...: appends "wall cpu" to $tmp/NAME.times
  local name=$1; shift
  /usr/bin/time -f "%e %U %S" -o "$tmp/time" "$@" >/dev/null 2>"$tmp/$name.err" || { cat "$tmp/$name.err" >&2; return 1; }
  awk '{printf "%s %.2f\n", $1, $2 + $3}' "$tmp/time" >> "$tmp/$name.times"
  log "$name: $(tail -1 "$tmp/$name.times") (wall, cpu seconds)"
}
cold_skiff() { rm -rf "$work/skiff-cold"; timed skiff-cold sh -c "$(skiff_cmd "$work/skiff-cold" "$reg/bench/cold-$(date +%s%N)")"; }
cold_buildah() { rm -rf "$work/buildah"; timed buildah-cold sh -c "$(buildah_cmd)"; }
for i in $(seq "$runs"); do
  if [ $((i % 2)) -eq 1 ]; then cold_skiff; cold_buildah; else cold_buildah; cold_skiff; fi
done
# stats FILE: mean wall, stddev wall, mean cpu.
stats() { awk '{w+=$1; ww+=$1*$1; c+=$2; n++} END {m=w/n; v=ww/n-m*m; if (v<0) v=0; printf "%f %f %f\n", m, sqrt(v), c/n}' "$1"; }
# No change: the same inputs again, with the caches of a first build.
rm -rf "$work/skiff-warm"
eval "$(skiff_cmd "$work/skiff-warm" "$reg/bench/warm")" >/dev/null
hyperfine --warmup 1 --runs "$warm_runs" --export-json "$tmp/skiff-warm.json" --command-name "skiff no-change" \
  "$(skiff_cmd "$work/skiff-warm" "$reg/bench/warm")" >&2
hyperfine --runs "$buildah_warm_runs" --export-json "$tmp/buildah-warm.json" --command-name "buildah no-change" \
  "$(buildah_cmd)" >&2
# What the no-change rebuild did, from skiff's own report.
rebuild_report=$(cd "$tmp/project" && "$skiff" build --cache-dir "$work/skiff-warm" --default-repo "$reg/bench/warm" 2>&1 >/dev/null | grep '^Built' | sed 's/ in .*//')
# Is it reproducible? Two cold builds with --reproducible give one digest.
digests=()
for i in 1 2; do
  rm -rf "$work/skiff-repro"
  digests+=("$(cd "$tmp/project" && "$skiff" build -q --reproducible --cache-artifacts=false --cache-dir "$work/skiff-repro" --default-repo "$reg/bench/repro" | jq -r '.builds[0].tag' | sed 's/.*@//')")
done

read -r sc scs scc < <(stats "$tmp/skiff-cold.times")
read -r bc bcs bcc < <(stats "$tmp/buildah-cold.times")
read -r sw sws < <(mean_of "$tmp/skiff-warm.json")
read -r bw bws < <(mean_of "$tmp/buildah-warm.json")

# 2. Snapshot scaling.
log "2/2 snapshot scaling"
bb_root() { # bb_root DIR NFILES: busybox plus NFILES small files under /data
  local dir=$1 n=$2
  [ -f "$dir.done" ] && return
  rm -rf "$dir" && mkdir -p "$dir"/{bin,etc,tmp,proc,dev}
  cp "$(command -v busybox)" "$dir/bin/busybox"
  for a in $("$dir/bin/busybox" --list); do [ "$a" = busybox ] || ln -sf busybox "$dir/bin/$a"; done
  echo 'root:x:0:0:root:/root:/bin/sh' > "$dir/etc/passwd"
  echo 'root:x:0:' > "$dir/etc/group"
  python3 - "$dir/data" "$n" <<'PY'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    d = os.path.join(root, "d%03d" % (i // 1000))
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "f%06d" % i), "w") as f:
        f.write("file %d\n" % i)
PY
  touch "$dir.done"
}
scale_runs=${BENCH_SCALE_RUNS:-15}
for n in 1000 100000; do
  bb_root "$work/rootfs-files-$n" "$n"
  img=$reg/bench/files-$n:1
  "$skiff" image import --reproducible "$work/rootfs-files-$n" "$img" >/dev/null
  proj="$tmp/scale-$n"
  mkdir -p "$proj"
  printf 'ARG BASE\nFROM $BASE\nRUN echo changed > /data/d000/f000000 && echo new > /data/new\n' > "$proj/Dockerfile"
  cat > "$proj/skaffold.yaml" <<EOF
apiVersion: skaffold/v4beta11
kind: Config
build:
  tagPolicy: {sha256: {}}
  artifacts:
  - image: scale
    docker: {buildArgs: {BASE: "$img"}}
EOF
  rm -rf "$work/scale-cache-$n"
  # The first build extracts the base layer into the layer store, once per machine.
  start=$(date +%s.%N)
  (cd "$proj" && "$skiff" build -q --cache-artifacts=false --cache-dir "$work/scale-cache-$n" --default-repo "$reg/bench/scale") >/dev/null
  echo "$(date +%s.%N) - $start" | bc -l > "$tmp/scale-first-$n"
done
# scale_once N: one build; appends "wall_seconds step_ms" to $tmp/scale-N.times.
scale_once() {
  local n=$1 start out wall ms
  start=$(date +%s.%N)
  out=$(cd "$tmp/scale-$n" && "$skiff" build --cache-artifacts=false --cache-dir "$work/scale-cache-$n" --default-repo "$reg/bench/scale" 2>&1 >/dev/null)
  wall=$(echo "$(date +%s.%N) - $start" | bc -l)
  ms=$(echo "$out" | sed -n 's/.*RUN .*: done in \([0-9.]*\)\(ms\|s\).*/\1 \2/p' | awk '{ if ($2 == "s") print $1*1000; else print $1 }')
  echo "$wall $ms" >> "$tmp/scale-$n.times"
}
# Alternate the two so that both see the same machine load; report medians.
for i in $(seq "$scale_runs"); do scale_once 1000; scale_once 100000; done
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
scale_rows=()
for n in 1000 100000; do
  total=$(awk '{print $1}' "$tmp/scale-$n.times" | median)
  step=$(awk '{print $2}' "$tmp/scale-$n.times" | median)
  # The walk fallback (Kaniko's approach) on the same build, once.
  wstart=$(date +%s.%N)
  (cd "$tmp/scale-$n" && "$skiff" build -q --snapshotter=walk --cache-artifacts=false --cache-dir "$work/scale-cache-$n" --default-repo "$reg/bench/scale") >/dev/null
  walk=$(echo "$(date +%s.%N) - $wstart" | bc -l)
  scale_rows+=("$n $(cat "$tmp/scale-first-$n") $total $step $walk")
done
read -r _ f1 t1 s1 w1 <<<"${scale_rows[0]}"
read -r _ f2 t2 s2 w2 <<<"${scale_rows[1]}"

cat <<EOF
## build

### 1. Cold build and no-change rebuild (skiff vs buildah)

The application: $files files of C (hack/bench/build/gen-app.sh), built by hack/bench/build/Dockerfile —
a builder stage FROM a Debian $suite minbase + gcc, libc6-dev, make (debootstrap from $mirror,
pushed with \`skiff image import\`) that compiles and self-tests the program, and a slim final stage FROM
a Debian $suite minbase with only the binary. Both base images come from the sandbox registry.

| | wall, mean (s) | ± (s) | CPU user+sys, mean (s) |
|---|---:|---:|---:|
| skiff cold (empty local and registry cache; builds, stores the cache, pushes) | $(fmt "$sc") | $(fmt "$scs") | $(fmt "$scc") |
| buildah cold (empty vfs storage; \`bud --layers\`, no push) | $(fmt "$bc") | $(fmt "$bcs") | $(fmt "$bcc") |
| skiff no-change rebuild (cache lookups, manifest HEAD, nothing pushed) | $(fmt "$sw") | $(fmt "$sws") | |
| buildah no-change rebuild (\`--layers\` cache) | $(fmt "$bw") | $(fmt "$bws") | |

- skiff cold / buildah cold: **$(fmt "$(echo "$sc / $bc" | bc -l)")×** (goal ≤ 1; skiff's time includes pushing the image and the registry cache, buildah's does not push).
- skiff cold / skiff no-change rebuild: **$(fmt "$(echo "$sc / $sw" | bc -l)")×** (goal ≥ 20); no-change rebuild $(fmt "$sw") s (goal ≤ 1 s).
- skiff's report of the rebuild: \`$rebuild_report\`.
- Two cold \`--reproducible\` builds: ${digests[0]} and ${digests[1]} ($( [ "${digests[0]}" = "${digests[1]}" ] && echo identical || echo DIFFERENT )).

Runs: $runs cold builds of each, alternating skiff and buildah (load average at the start: $load_start, at the end: $(cut -d' ' -f1-3 /proc/loadavg));
no-change rebuilds with hyperfine, $warm_runs for skiff (after one warm-up), $buildah_warm_runs for buildah. Commands:

\`\`\`sh
$(skiff_cmd "\$CACHE" "\$REGISTRY/bench/cold-\$(date +%s%N)")   # cold: rm -rf \$CACHE first
$(buildah_cmd)   # cold: rm -rf $work/buildah first
\`\`\`

### 2. Snapshot scaling: one RUN changing one file

\`RUN echo changed > /data/d000/f000000 && echo new > /data/new\` on busybox plus N small files
(\`--cache-artifacts=false\` so the RUN always runs; the base layer already extracted in the layer store),
$scale_runs builds of each, alternating; the RUN step's time is skiff's own report (mount, run in the sandbox, snapshot, compress).

| base | whole \`skiff build\`, median (s) | the RUN step, median (ms) | first build, extracting the base (s) | walk fallback, whole build (s) |
|---|---:|---:|---:|---:|
| 1,000 files | $(fmt "$t1") | $(fmt "$s1") | $(fmt "$f1") | $(fmt "$w1") |
| 100,000 files | $(fmt "$t2") | $(fmt "$s2") | $(fmt "$f2") | $(fmt "$w2") |

- 100,000 / 1,000 files: whole build **$(fmt "$(echo "$t2 / $t1" | bc -l)")×**, RUN step **$(fmt "$(echo "$s2 / $s1" | bc -l)")×** (goal ≤ 1.5×). The overlay snapshot tars only the upper directory, so its cost follows what the RUN changed.
- The walk fallback (used where overlayfs is unavailable) extracts and compares the whole tree: $(fmt "$(echo "$w2 / $w1" | bc -l)")× slower on 100,000 files, which is why it is only the fallback.

Reproduce: \`hack/bench/run build\` (after \`make build testenv\`); root filesystems and caches stay in $work.
EOF
