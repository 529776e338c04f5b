#!/usr/bin/env bash
# Benchmark: container isolation's snapshot of a RUN that changes one file,
# on a base of 1,000 files and on one of 100,000 files
# (BenchmarkInPlaceSnapshot in internal/build/snapshot). Container mode
# unpacks the stage into / and snapshots in place; the snapshot code is the
# same in any directory, so it is measured in a scratch directory here (the
# RUN itself, a process in the container, is not part of it).
# Prints a Markdown section on stdout, progress on stderr.
# Knobs: BENCH_CONTAINER_COUNT (go test -count, default 5).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
count=${BENCH_CONTAINER_COUNT:-5}
echo "bench container: go test -bench BenchmarkInPlaceSnapshot -count $count" >&2
out=$(go test -timeout 60m -run '^$' -bench 'BenchmarkInPlaceSnapshot' -benchtime 5x -count "$count" ./internal/build/snapshot/)
# median ns/op of one sub-benchmark
med() {
  echo "$out" | awk -v n="BenchmarkInPlaceSnapshot/$1-" 'index($1, n) == 1 {print $3}' | sort -n |
    awk '{a[NR]=$1} END {if (NR == 0) exit 1; print a[int((NR+1)/2)]}'
}
ms() { echo "scale=1; $1 / 1000000" | bc -l; }
e1=$(med inplace/files=1000); e2=$(med inplace/files=100000)
w1=$(med inplace-walk/files=1000); w2=$(med inplace-walk/files=100000)
f1=$(med walk/files=1000); f2=$(med walk/files=100000)
ratio() { echo "scale=2; $1 / $2" | bc -l; }
cat <<MD
## Container isolation: snapshot of one changed file

\`go test -run '^\$' -bench BenchmarkInPlaceSnapshot -benchtime 5x -count $count ./internal/build/snapshot/\` (median of $count runs of 5 snapshots each; the first step, which unpacks the base, is not timed).
A step writes one existing file; the snapshot finds the change, compares metadata and writes the layer (4 entries: the file and its parent directories, as overlayfs records them).

| base | container mode: inotify events (ms) | container mode: full metadata walk, the fallback (ms) | walk snapshotter of the other modes (ms) |
|---|---|---|---|
| 1,000 files | $(ms "$e1") | $(ms "$w1") | $(ms "$f1") |
| 100,000 files | $(ms "$e2") | $(ms "$w2") | $(ms "$f2") |

- 100,000 / 1,000 files: **$(ratio "$e2" "$e1")×** with events (goal ≤ 3×, and ≤ 0.5 s: $(ms "$e2") ms); $(ratio "$w2" "$w1")× for the full walk, which is used only when the event queue overflowed ($(cat /proc/sys/fs/inotify/max_queued_events) events here), a directory was moved, or inotify watches ran out.
- The container-mode layer is the one overlayfs records (TestInPlaceMatchesOverlay compares them byte for byte).
MD
