#!/usr/bin/env bash
# Benchmark: the inner loop of `skiff dev` on the example app (a copy of
# examples/myapp, profile development), on the sandbox cluster:
#   - rebuild path: save dev/index.html (copied into the image by the
#     Dockerfile's development stage) → the Deployment rolled out with the
#     new image and ready;
#   - sync path: save site/index.html, covered by a sync rule the copy adds
#     → the new content in the container (kwok runs the pod's exec in a
#     local directory, so "in the container" is a file there);
#   - idle CPU of the skiff dev process over 30 s with nothing changing
#     (utime + stime from /proc/<pid>/stat).
# Prints a Markdown section on stdout; progress on stderr.
# BENCH_DEV_RUNS (default 10) runs of each path; BENCH_DEV_IDLE (default 30)
# seconds of idle measurement.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
if [ -z "${SKIFF_TEST_REGISTRY:-}" ]; then
  # shellcheck disable=SC1091
  source .testenv/env
fi
runs=${BENCH_DEV_RUNS:-10}
idle=${BENCH_DEV_IDLE:-30}
skiff="$root/bin/skiff"
# A bin/skiff from before skiff dev existed would not do: build it then.
"$skiff" dev --help 2>/dev/null | grep -q -- --auto-sync || go build -o "$skiff" .

tmp=$(mktemp -d)
user="bench$(head -c3 /dev/urandom | od -An -tx1 | tr -d ' \n')"
ns="myapp-dev-$user" # skiff dev's default: {{.App}}-dev-{{.User}}
pid=""
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -INT "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  kubectl delete clusterexec "$ns" --ignore-not-found >/dev/null 2>&1 || true
  kubectl delete namespace "$ns" --ignore-not-found --wait=false >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT

cp -r examples/myapp "$tmp/myapp"
# The copy gets one sync rule: site/ → www/ relative to the container's
# working directory (/ in the image, so /www as the Dockerfile copies it;
# the kwok exec directory here).
awk '{print} /^      context: \.$/ {print "      sync:\n        manual:\n          - src: \"site/**\"\n            dest: www\n            strip: site/"}' \
  "$tmp/myapp/deploy/skaffold.yaml" > "$tmp/skaffold.yaml"
mv "$tmp/skaffold.yaml" "$tmp/myapp/deploy/skaffold.yaml"
grep -q 'strip: site/' "$tmp/myapp/deploy/skaffold.yaml" || { echo "bench dev: could not add the sync rule" >&2; exit 1; }
mkdir -p "$tmp/container"
kubectl apply -f - >/dev/null <<YAML
apiVersion: kwok.x-k8s.io/v1alpha1
kind: ClusterExec
metadata: {name: $ns}
spec:
  selector: {matchNamespaces: [$ns]}
  execs: [{local: {workDir: $tmp/container}}]
YAML
go build -o "$tmp/loopbench" ./hack/bench/dev/loopbench

(cd "$tmp/myapp" && exec env USER="$user" BASE_IMAGE="$SKIFF_TEST_BASE_IMAGE" NO_COLOR=1 \
  "$skiff" dev -p development -d "$SKIFF_TEST_REGISTRY/bench/dev-$user" >"$tmp/dev.log" 2>&1) &
pid=$!
for _ in $(seq 600); do
  grep -q '^Watching for changes' "$tmp/dev.log" && break
  kill -0 "$pid" 2>/dev/null || { cat "$tmp/dev.log" >&2; exit 1; }
  sleep 0.1
done
grep -q '^Watching for changes' "$tmp/dev.log" || { cat "$tmp/dev.log" >&2; exit 1; }
echo "bench dev: skiff dev (pid $pid) is watching namespace $ns" >&2

load=$(cut -d' ' -f1-3 /proc/loadavg)
"$tmp/loopbench" -n "$ns" -deployment myapp -runs "$runs" \
  -rebuild-file "$tmp/myapp/dev/index.html" \
  -sync-file "$tmp/myapp/site/index.html" -synced-to "$tmp/container/www/index.html" >"$tmp/results"
read -r _ rb_med rb_min rb_max < <(grep '^rebuild ' "$tmp/results")
read -r _ sy_med sy_min sy_max < <(grep '^sync ' "$tmp/results")
rebuilt=$(grep -c '^Build complete' "$tmp/dev.log" || true)
synced=$(grep -c '^Synced ' "$tmp/dev.log" || true)

# Idle CPU: the process's user + system ticks over the idle window.
ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
hz=$(getconf CLK_TCK)
sleep 2
t0=$(ticks)
windows=""
prev=$t0
for ((w = 0; w < idle; w += 5)); do
  sleep 5
  now=$(ticks)
  windows+="$((now - prev)) "
  prev=$now
done
t1=$prev
idle=$(((idle + 4) / 5 * 5))
cpu_s=$(echo "($t1 - $t0) / $hz" | bc -l)
cpu_pct=$(echo "100 * $cpu_s / $idle" | bc -l)
rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")

kill -INT "$pid"
wait "$pid" || true
pid=""
cleaned=$(grep -c '^Cleanup complete' "$tmp/dev.log" || true)

if [ "$rebuilt" = $((runs + 1)) ] && [ "$synced" = "$runs" ]; then
  buildcheck="one build per rebuild run, none for a sync"
else
  buildcheck="**not one build per rebuild run and one sync per sync run; see the log**"
fi
verdict() { if [ "$(echo "$1" | bc -l)" = 1 ]; then echo met; else echo "**not met**"; fi; }

cat <<MD
## Inner loop: \`skiff dev\` on the example app

A copy of \`examples/myapp\` (profile \`development\`, plus one sync rule \`site/** → www\`)
under \`skiff dev\` on the sandbox cluster; $runs runs of each path, timed from outside by
\`hack/bench/dev/loopbench\` (load average when the runs started: $load).

| path | median | min | max | goal |
|---|---:|---:|---:|---|
| rebuild: save \`dev/index.html\` → new image built, pushed, applied, Deployment rolled out and ready | $(printf '%.2f s' "$rb_med") | $(printf '%.2f s' "$rb_min") | $(printf '%.2f s' "$rb_max") | ≤ 2 s: $(verdict "$rb_med <= 2") |
| sync: save \`site/index.html\` → new content in the container (tar over the pod's exec API) | $(printf '%.3f s' "$sy_med") | $(printf '%.3f s' "$sy_min") | $(printf '%.3f s' "$sy_max") | ≤ 0.5 s: $(verdict "$sy_med <= 0.5") |
| idle CPU of the loop over ${idle} s (nothing changing) | $(printf '%.2f %%' "$cpu_pct") | | | ≈ 0: $(verdict "$cpu_pct < 0.5") |

- The loop built $rebuilt times (the first deploy included) and synced $synced times: $buildcheck.
  RSS of the idle process: $((rss / 1024)) MiB; CPU over the idle window: $(printf '%.2f' "$cpu_s") s
  (clock ticks of 1/$hz s per 5 s: ${windows% }).
- Both times include the watcher's batching of a save (80 ms of quiet) and, for the rebuild,
  the build (cached base layer), the push to the sandbox registry, the render (kustomize),
  the server-side apply with its dry run, and the status check until the new pod is ready.
- Cleanup on SIGINT: $( [ "$cleaned" = 1 ] && echo "completed (the namespace skiff created is gone)" || echo "**did not complete**, see the log").

Reproduce (sandbox up, \`make build\`): \`hack/bench/run dev\`, or by hand in a copy of examples/myapp with the sync rule:

\`\`\`
BASE_IMAGE=\$SKIFF_TEST_BASE_IMAGE skiff dev -p development -d \$SKIFF_TEST_REGISTRY/bench
go run ./hack/bench/dev/loopbench -n myapp-dev-\$USER -deployment myapp -rebuild-file dev/index.html \\
  -sync-file site/index.html -synced-to <kwok exec workDir>/www/index.html
\`\`\`
MD
