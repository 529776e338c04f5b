#!/usr/bin/env bash
# Profiles skiff's cold build of the build benchmark's application
# (hack/bench/build.sh's "cold" row): one build with empty local state and a
# repository never used before, with a pprof CPU profile of the skiff process
# (SKIFF_CPUPROFILE; the RUN steps' processes are not in it, only skiff's own
# work: pulls, extraction, snapshots, compression, pushes). Prints the wall
# time, skiff's CPU time (user+sys, children excluded), and the top of the
# profile. Needs the sandbox (hack/testenv up) and bin/skiff.
# Usage: hack/bench/build/profile.sh [OUT.pprof]
set -euo pipefail
root="$(cd "$(dirname "$0")/../../.." && pwd)"
cd "$root"
# shellcheck disable=SC1091
source .testenv/env
reg=$SKIFF_TEST_REGISTRY
work=${SKIFF_BENCH_DIR:-/var/tmp/skiff-bench}
skiff="$root/bin/skiff"
out=${1:-$work/cold.pprof}
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
rm -rf "$cache"
start=$(date +%s.%N)
# /usr/bin/time's format: %U user and %S system seconds of skiff and of the
# children it waited for; the RUN steps are separate processes, so this is
# read beside the profile, whose samples are skiff's alone.
(cd "$tmp/project" && SKIFF_CPUPROFILE="$out" /usr/bin/time -f '%U %S' -o "$tmp/time" \
  "$skiff" build -q --cache-dir "$cache" --default-repo "$reg/bench/profile-$(date +%s%N)" >/dev/null)
end=$(date +%s.%N)
rm -rf "$cache"
printf 'wall %.2f s; user+sys of skiff and its children %s s\n' "$(echo "$end - $start" | bc)" "$(awk '{print $1 + $2}' "$tmp/time")"
go tool pprof -top -nodecount=30 "$skiff" "$out" 2>/dev/null
echo
go tool pprof -top -cum -nodecount=40 "$skiff" "$out" 2>/dev/null | tail -n 40
