#!/usr/bin/env bash
# Benchmark: skiff's daemonless Dockerfile builder, on the sandbox registry.
#   1. Cold build, no-change rebuild, one-file-changed rebuild and a fresh
#      machine with a warm registry cache, of a multi-stage C application
#      (hack/bench/build/Dockerfile: compiled in a debootstrap'ed Debian
#      builder stage, shipped in a slim debootstrap'ed Debian stage), side by
#      side with BuildKit (buildkitd + buildctl, built once by
#      hack/bench/build/buildkit.sh) and Debian's buildah (--layers).
#   2. Snapshot scaling: a RUN that changes one file on a base of 1,000 files
#      and on one of 100,000 files (overlay snapshots; the walk fallback for
#      contrast).
# Prints a Markdown section on stdout, progress on stderr.
# Knobs: BENCH_BUILD_RUNS (cold, one-file and fresh-machine runs, default
# 3), BENCH_BUILD_WARM_RUNS (no-change runs, default 10),
# BENCH_BUILDAH_WARM_RUNS (default 3), BENCH_BUILDAH_DRIVER (default
# overlay, vfs where overlay fails), SKIFF_BENCH_DIR (root filesystems and caches, default
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
need_tools buildah debootstrap jq bc
[ -x "$skiff" ] || go build -o "$skiff" .
mkdir -p "$work"
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The base images, the application and its skaffold.yaml.
# shellcheck source=hack/bench/build/project.sh
source hack/bench/build/project.sh

# shellcheck source=hack/bench/build/buildkit.sh
source hack/bench/build/buildkit.sh

# Each tool runs in a cgroup of its own (cpu.shares equal, so none is
# favoured over the rest of the machine; cpuacct for its CPU time, its
# children's included: buildkitd's runc containers are put under it with
# defaultCgroupParent in buildkitd.toml).
# On cgroup v1 the parent group competes as one task against every process
# of the host's root group; on a shared machine it gets the weight of one
# task per core, so that the tools are not starved by the other users.
cg=skiff-bench
for h in cpu cpuacct; do mkdir -p "/sys/fs/cgroup/$h/$cg"; done
echo $((1024 * $(nproc))) > "/sys/fs/cgroup/cpu/$cg/cpu.shares"
for tool in skiff buildkit buildah; do
  for h in cpu cpuacct; do mkdir -p "/sys/fs/cgroup/$h/$cg/$tool"; done
  echo 1024 > "/sys/fs/cgroup/cpu/$cg/$tool/cpu.shares"
done
in_cg() { # in_cg TOOL COMMAND...: runs COMMAND in TOOL's cgroup
  local tool=$1; shift
  sh -c 'for h in cpu cpuacct; do echo $$ > /sys/fs/cgroup/$h/'"$cg/$tool"'/cgroup.procs; done; exec "$@"' sh "$@"
}
cpu_ns() { cat "/sys/fs/cgroup/cpuacct/$cg/$1/cpuacct.usage"; }

buildah_cmd() {
  echo "buildah --root $work/buildah/root --runroot $work/buildah/runroot --storage-driver $buildah_driver bud --isolation chroot --layers --tls-verify=false --quiet --build-arg BUILD_IMAGE=$build_image --build-arg RUNTIME_IMAGE=$runtime_image -t bench-app -f $app/Dockerfile $app"
}
skiff_cmd() { # skiff_cmd CACHE_DIR REPO
  echo "cd $tmp/project && $skiff build -q --cache-dir $1 --default-repo $2"
}
# buildkitd, one at a time, with its own root and socket; bk_start ROOT
# starts it on an empty ROOT, bk_stop stops it.
bk_sock=$work/buildkitd.sock
printf '[registry."%s"]\n  http = true\n  insecure = true\n[worker.oci]\n  defaultCgroupParent = "/%s/buildkit"\n' "$reg" "$cg" > "$work/buildkitd.toml"
bk_pid=
bk_start() {
  rm -rf "$1" "$bk_sock"
  # Not through the in_cg function: run in the background, a function is a
  # subshell and $! would be its pid, not buildkitd's.
  sh -c 'for h in cpu cpuacct; do echo $$ > /sys/fs/cgroup/$h/'"$cg"'/buildkit/cgroup.procs; done; exec "$@"' sh "$buildkitd" --root "$1" --addr "unix://$bk_sock" --config "$work/buildkitd.toml" \
    --oci-worker=true --containerd-worker=false --oci-worker-snapshotter=overlayfs >"$work/buildkitd.log" 2>&1 &
  bk_pid=$!
  for _ in $(seq 100); do
    "$buildctl" --addr "unix://$bk_sock" debug workers >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  cat "$work/buildkitd.log" >&2
  return 1
}
bk_stop() { [ -z "$bk_pid" ] || { kill "$bk_pid"; wait "$bk_pid" || true; bk_pid=; }; }
trap 'bk_stop; rm -rf "$tmp"' EXIT
buildkit_cmd() { # buildkit_cmd IMAGE [buildctl build flags]
  local image=$1; shift
  echo "$buildctl --addr unix://$bk_sock build --progress=plain --frontend dockerfile.v0 --local context=$app --local dockerfile=$app --opt build-arg:BUILD_IMAGE=$build_image --opt build-arg:RUNTIME_IMAGE=$runtime_image --output type=image,name=$image,push=true,registry.insecure=true $*"
}
bk_cache() { # bk_cache REF: registry cache flags, as a CI job would pass them
  echo "--export-cache type=registry,ref=$1,mode=max,registry.insecure=true --import-cache type=registry,ref=$1,registry.insecure=true"
}

# timed NAME TOOL COMMAND: runs COMMAND (a shell line) in TOOL's cgroup and
# appends "wall cpu" (seconds; CPU is the cgroup's user+system time) to
# $tmp/NAME.times.
timed() {
  local name=$1 tool=$2 cmd=$3 c0 c1 t0 t1
  c0=$(cpu_ns "$tool"); t0=$(date +%s%N)
  in_cg "$tool" sh -c "$cmd" >"$tmp/$name.out" 2>&1 || { tail -20 "$tmp/$name.out" >&2; return 1; }
  t1=$(date +%s%N); c1=$(cpu_ns "$tool")
  echo "$(( (t1 - t0) / 1000 )) $(( (c1 - c0) / 1000 ))" | awk '{printf "%.3f %.3f\n", $1/1e6, $2/1e6}' >> "$tmp/$name.times"
  log "$name: $(tail -1 "$tmp/$name.times") (wall, cpu seconds)"
}
median_col() { sort -n -k"$2" "$1" | awk -v c="$2" '{a[NR]=$c} END {print (a[int((NR+1)/2)] + a[int(NR/2)+1]) / 2}'; }
fmt() { printf '%.2f' "$1"; }
ratio() { echo "$1 / $2" | bc -l | xargs printf '%.2f'; }

# Buildah with overlay storage where it works (root on ext4 here), else vfs.
buildah_driver=${BENCH_BUILDAH_DRIVER:-overlay}

# Cold: an empty local state (skiff's cache directory, buildkitd's root,
# buildah's storage) and repositories never used before, so that the
# registry caches and targets are empty too. skiff pushes the image and its
# registry cache; BuildKit too (--export-cache type=registry,mode=max, what
# a CI job passes to get a registry cache at all); buildah builds only.
log "1/3 cold builds ($runs runs each, alternating)"
cold_skiff() { rm -rf "$work/skiff-cold"; timed skiff-cold skiff "$(skiff_cmd "$work/skiff-cold" "$reg/bench/cold-$(date +%s%N)")"; }
cold_buildkit() {
  bk_start "$work/buildkit-root"
  local r; r="$reg/bench/bk-cold-$(date +%s%N)"
  timed buildkit-cold buildkit "$(buildkit_cmd "$r/bench-app:latest" "$(bk_cache "$r/cache:latest")")"
  bk_stop
}
cold_buildah() { rm -rf "$work/buildah"; timed buildah-cold buildah "$(buildah_cmd)"; }
if ! (rm -rf "$work/buildah"; eval "$(buildah_cmd)" >/dev/null 2>"$tmp/buildah-probe.err"); then
  buildah_note="overlay storage failed here ($(tail -1 "$tmp/buildah-probe.err")), so vfs"
  buildah_driver=vfs
else
  buildah_note="overlay storage (kernel overlayfs, as root on ext4)"
fi
for i in $(seq "$runs"); do
  case $((i % 3)) in
    1) cold_skiff; cold_buildkit; cold_buildah ;;
    2) cold_buildkit; cold_buildah; cold_skiff ;;
    0) cold_buildah; cold_skiff; cold_buildkit ;;
  esac
done

# Warm: one build of each into its warm state, then no-change rebuilds and
# one-source-file-changed rebuilds, alternating.
log "2/3 no-change and one-file-changed rebuilds ($warm_runs and $runs runs each, alternating)"
rm -rf "$work/skiff-warm"
eval "$(skiff_cmd "$work/skiff-warm" "$reg/bench/warm")" >/dev/null
bk_start "$work/buildkit-root"
bk_warm="$reg/bench/bk-warm"
eval "$(buildkit_cmd "$bk_warm/bench-app:latest" "$(bk_cache "$bk_warm/cache:latest")")" >/dev/null 2>&1
for i in $(seq "$warm_runs"); do
  if [ $((i % 2)) -eq 1 ]; then
    timed skiff-nochange skiff "$(skiff_cmd "$work/skiff-warm" "$reg/bench/warm")"
    timed buildkit-nochange buildkit "$(buildkit_cmd "$bk_warm/bench-app:latest" "$(bk_cache "$bk_warm/cache:latest")")"
    timed buildkit-nochange-local buildkit "$(buildkit_cmd "$bk_warm/bench-app:latest")"
  else
    timed buildkit-nochange-local buildkit "$(buildkit_cmd "$bk_warm/bench-app:latest")"
    timed buildkit-nochange buildkit "$(buildkit_cmd "$bk_warm/bench-app:latest" "$(bk_cache "$bk_warm/cache:latest")")"
    timed skiff-nochange skiff "$(skiff_cmd "$work/skiff-warm" "$reg/bench/warm")"
  fi
done
for i in $(seq "$buildah_warm_runs"); do timed buildah-nochange buildah "$(buildah_cmd)"; done
# What the no-change rebuild did, from skiff's own report.
rebuild_report=$(cd "$tmp/project" && "$skiff" build --cache-dir "$work/skiff-warm" --default-repo "$reg/bench/warm" 2>&1 >/dev/null | grep '^Built' | sed 's/ in .*//')
changed="$app/src/module_0.c"
cp "$changed" "$tmp/module_0.c.orig"
for i in $(seq "$runs"); do
  # Each round changes one source file once; both tools see the same change.
  printf '/* change %s %s */\n' "$i" "$(date +%s%N)" >> "$changed"
  if [ $((i % 2)) -eq 1 ]; then
    timed skiff-onefile skiff "$(skiff_cmd "$work/skiff-warm" "$reg/bench/warm")"
    timed buildkit-onefile buildkit "$(buildkit_cmd "$bk_warm/bench-app:latest" "$(bk_cache "$bk_warm/cache:latest")")"
  else
    timed buildkit-onefile buildkit "$(buildkit_cmd "$bk_warm/bench-app:latest" "$(bk_cache "$bk_warm/cache:latest")")"
    timed skiff-onefile skiff "$(skiff_cmd "$work/skiff-warm" "$reg/bench/warm")"
  fi
done
cp "$tmp/module_0.c.orig" "$changed"
bk_stop

# A fresh machine with a warm registry cache (every CI job): the registry
# caches of one build of the unchanged sources, empty local state each run.
log "3/3 fresh machine, warm registry cache ($runs runs each, alternating)"
eval "$(skiff_cmd "$work/skiff-warm" "$reg/bench/warm")" >/dev/null
bk_start "$work/buildkit-root"
eval "$(buildkit_cmd "$bk_warm/bench-app:latest" "$(bk_cache "$bk_warm/cache:latest")")" >/dev/null 2>&1
bk_stop
fresh_skiff() { rm -rf "$work/skiff-fresh"; timed skiff-fresh skiff "$(skiff_cmd "$work/skiff-fresh" "$reg/bench/warm")"; }
fresh_buildkit() {
  bk_start "$work/buildkit-fresh"
  timed buildkit-fresh buildkit "$(buildkit_cmd "$bk_warm/bench-app:latest" "$(bk_cache "$bk_warm/cache:latest")")"
  bk_stop
}
for i in $(seq "$runs"); do
  if [ $((i % 2)) -eq 1 ]; then fresh_skiff; fresh_buildkit; else fresh_buildkit; fresh_skiff; fi
done
load_end=$(cut -d' ' -f1-3 /proc/loadavg)

# Is it reproducible? Two cold builds with --reproducible give one digest.
digests=()
for i in 1 2; do
  rm -rf "$work/skiff-repro"
  digests+=("$(cd "$tmp/project" && "$skiff" build -q --reproducible --cache-artifacts=false --cache-dir "$work/skiff-repro" --default-repo "$reg/bench/repro" | jq -r '.builds[0].tag' | sed 's/.*@//')")
done

# row NAME: "wall cpu" medians of NAME's runs.
row() { echo "$(median_col "$tmp/$1.times" 1) $(median_col "$tmp/$1.times" 2)"; }
read -r sc_w sc_c < <(row skiff-cold)
read -r kc_w kc_c < <(row buildkit-cold)
read -r hc_w hc_c < <(row buildah-cold)
read -r sn_w sn_c < <(row skiff-nochange)
read -r kn_w kn_c < <(row buildkit-nochange)
read -r kl_w kl_c < <(row buildkit-nochange-local)
read -r hn_w hn_c < <(row buildah-nochange)
read -r so_w so_c < <(row skiff-onefile)
read -r ko_w ko_c < <(row buildkit-onefile)
read -r sf_w sf_c < <(row skiff-fresh)
read -r kf_w kf_c < <(row buildkit-fresh)
verdict() { # verdict RATIO GOAL
  if [ "$(echo "$1 <= $2" | bc -l)" = 1 ]; then echo "met (goal ≤ $2×)"; else echo "**missed** (goal ≤ $2×)"; fi
}

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

### 1. skiff vs BuildKit (and buildah): cold, no-change, one file changed, fresh machine

The application: $files files of C (hack/bench/build/gen-app.sh), built by hack/bench/build/Dockerfile —
a builder stage FROM a Debian $suite minbase + gcc, libc6-dev, make (debootstrap from $mirror,
pushed with \`skiff image import\`) that compiles and self-tests the program, and a slim final stage FROM
a Debian $suite minbase with only the binary. Both base images come from the sandbox registry; every
tool builds the same Dockerfile, context and bases. BuildKit is buildkitd $bk_version (OCI worker with
Debian's runc, overlayfs snapshotter, built from the module proxy by hack/bench/build/buildkit.sh) driven by
buildctl; buildah is Debian's ($buildah_note, chroot isolation, \`--layers\`).
skiff and BuildKit push the image and keep a registry cache (skiff always does; BuildKit with
\`--export-cache type=registry,mode=max\` and \`--import-cache\`, what a CI job passes); buildah only builds.
Each tool runs in a cgroup of its own with equal cpu.shares; CPU is that cgroup's user+system time
(buildkitd's and its runc containers' included). Medians of the runs:

| | skiff wall (s) | BuildKit wall (s) | skiff/BuildKit wall | goal | skiff CPU (s) | BuildKit CPU (s) | skiff/BuildKit CPU |
|---|---:|---:|---:|---|---:|---:|---:|
| cold (empty local state, empty registry cache) | $(fmt "$sc_w") | $(fmt "$kc_w") | **$(ratio "$sc_w" "$kc_w")×** | $(verdict "$(ratio "$sc_w" "$kc_w")" 0.85) | $(fmt "$sc_c") | $(fmt "$kc_c") | $(ratio "$sc_c" "$kc_c")× |
| no-change rebuild | $(fmt "$sn_w") | $(fmt "$kn_w") | **$(ratio "$sn_w" "$kn_w")×** | $(verdict "$(ratio "$sn_w" "$kn_w")" 0.7), and ≤ 0.15 s: $( [ "$(echo "$sn_w <= 0.15" | bc -l)" = 1 ] && echo met || echo '**missed**') | $(fmt "$sn_c") | $(fmt "$kn_c") | $(ratio "$sn_c" "$kn_c")× |
| no-change rebuild, BuildKit without the registry cache flags | $(fmt "$sn_w") | $(fmt "$kl_w") | $(ratio "$sn_w" "$kl_w")× | | $(fmt "$sn_c") | $(fmt "$kl_c") | $(ratio "$sn_c" "$kl_c")× |
| one source file changed (COPY src/ and the compile rerun) | $(fmt "$so_w") | $(fmt "$ko_w") | **$(ratio "$so_w" "$ko_w")×** | $(verdict "$(ratio "$so_w" "$ko_w")" 0.95) | $(fmt "$so_c") | $(fmt "$ko_c") | $(ratio "$so_c" "$ko_c")× |
| fresh machine, warm registry cache (empty local state; BuildKit: a new daemon root importing the cache) | $(fmt "$sf_w") | $(fmt "$kf_w") | **$(ratio "$sf_w" "$kf_w")×** | $(verdict "$(ratio "$sf_w" "$kf_w")" 0.6) | $(fmt "$sf_c") | $(fmt "$kf_c") | $(ratio "$sf_c" "$kf_c")× |

buildah, same machine and cgroup weight: cold $(fmt "$hc_w") s wall, $(fmt "$hc_c") s CPU (skiff/buildah $(ratio "$sc_w" "$hc_w")×);
no-change rebuild $(fmt "$hn_w") s wall, $(fmt "$hn_c") s CPU (skiff/buildah $(ratio "$sn_w" "$hn_w")×).

- skiff's report of the no-change rebuild: \`$rebuild_report\`.
- Two cold \`--reproducible\` skiff builds: ${digests[0]} and ${digests[1]} ($( [ "${digests[0]}" = "${digests[1]}" ] && echo identical || echo DIFFERENT )).

Runs: $runs cold builds of each tool (the order rotating each round), $warm_runs no-change rebuilds of skiff and
BuildKit alternating ($buildah_warm_runs of buildah), $runs one-file-changed rebuilds alternating (each round appends
a comment to src/module_0.c, both tools build that), $runs fresh-machine builds alternating. Load average at the
start: $load_start, at the end: $load_end (the machine is shared). Commands (\`\$R\` a repository never used before for cold runs):

\`\`\`sh
$(skiff_cmd "\$CACHE" "\$REGISTRY/bench/warm")   # cold and fresh machine: rm -rf \$CACHE first
$buildkitd --root \$ROOT --addr unix://$bk_sock --config $work/buildkitd.toml --oci-worker=true --containerd-worker=false --oci-worker-snapshotter=overlayfs &   # cold and fresh machine: an empty \$ROOT
$(buildkit_cmd "\$R/bench-app:latest" "$(bk_cache "\$R/cache:latest")")
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
