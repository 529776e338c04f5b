#!/usr/bin/env bash
# Profiles skiff's cold build of the build benchmark's application
# (hack/bench/build.sh's "cold" row: empty local state and a repository
# never used before), then a no-change rebuild, with a pprof CPU profile of the skiff process
# (SKIFF_CPUPROFILE; the RUN steps' processes are not in it, only skiff's own
# work: pulls, extraction, snapshots, compression, pushes). Prints the wall
# time, the CPU time (user+sys) of skiff and its children, and the top of the
# profile. Needs the sandbox (hack/testenv up) and bin/skiff.
# Usage: hack/bench/build/profile.sh [OUT] (profiles OUT.cold and OUT.no-change)
set -euo pipefail
root="$(cd "$(dirname "$0")/../../.." && pwd)"
cd "$root"
# shellcheck disable=SC1091
source .testenv/env
reg=$SKIFF_TEST_REGISTRY
work=${SKIFF_BENCH_DIR:-/var/tmp/skiff-bench}
skiff="$root/bin/skiff"
out=${1:-$work/profile}
log() { echo "bench profile: $*" >&2; }
# shellcheck source=hack/bench/build/tools.sh
source hack/bench/build/tools.sh
need_tools debootstrap jq
[ -x "$skiff" ] || go build -o "$skiff" .
mkdir -p "$work"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# shellcheck source=hack/bench/build/project.sh
source hack/bench/build/project.sh

cache="$work/skiff-profile"
repo="$reg/bench/profile-$(date +%s%N)"
# run NAME: one skiff build of the project into $repo with $cache, profiled
# into $out.NAME.
run() {
  local start end
  start=$(date +%s.%N)
  (cd "$tmp/project" && SKIFF_CPUPROFILE="$out.$1" /usr/bin/time -f '%U %S' -o "$tmp/time" \
    "$skiff" build -q --cache-dir "$cache" --default-repo "$repo" >/dev/null)
  end=$(date +%s.%N)
  printf '## %s: wall %.2f s; user+sys of skiff and its children %s s\n\n' "$1" \
    "$(echo "$end - $start" | bc)" "$(awk '{print $1 + $2}' "$tmp/time")"
  go tool pprof -top -nodecount=25 "$skiff" "$out.$1" 2>/dev/null | sed -n '4,$p'
  echo
  go tool pprof -top -cum -nodecount=40 "$skiff" "$out.$1" 2>/dev/null | sed -n '7,$p'
  echo
}
rm -rf "$cache"
run cold
run no-change
rm -rf "$cache"
