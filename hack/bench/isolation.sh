#!/usr/bin/env bash
# Benchmark: the same build in root and in rootless isolation, side by side.
# The project is hack/bench/build's (a multi-stage C application on Debian
# bases from the sandbox registry). Root mode: skiff as root. Rootless mode:
# skiff as an ordinary user this script creates (useradd, with useradd's
# /etc/subuid range) and removes again. Where /dev/net/tun is not open to
# every user (no udev), the rootless runs get a 0666 node in a private mount
# namespace, as a laptop has, so both modes give RUN the same slirp4netns
# network; the host's node is not changed.
# Prints a Markdown section on stdout, progress on stderr.
# Knobs: BENCH_ISO_RUNS (cold runs per mode, default 3), BENCH_ISO_WARM_RUNS
# (default 10), SKIFF_BENCH_DIR (shared with hack/bench/build.sh).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
# shellcheck disable=SC1091
source .testenv/env
reg=$SKIFF_TEST_REGISTRY
runs=${BENCH_ISO_RUNS:-3}
warm_runs=${BENCH_ISO_WARM_RUNS:-10}
work=${SKIFF_BENCH_DIR:-/var/tmp/skiff-bench}
log() { echo "bench isolation: $*" >&2; }
[ "$(id -u)" = 0 ] || { log "needs root (root mode, and creating the rootless user)"; exit 1; }
# shellcheck source=hack/bench/build/tools.sh
source hack/bench/build/tools.sh
need_tools debootstrap hyperfine jq
mkdir -p "$work"
user=skiff-bench-$$
tmp=$(mktemp -d)
bin=$(mktemp -d)
cleanup() { rm -rf "$tmp" "$bin"; userdel --remove "$user" 2>/dev/null || true; }
trap cleanup EXIT
# skiff in a directory every user can read (bin/ may be under /root).
skiff="$bin/skiff"
CGO_ENABLED=0 go build -o "$skiff" .
chmod 755 "$bin"
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
# shellcheck source=hack/bench/build/project.sh
source hack/bench/build/project.sh
chmod 755 "$tmp"
useradd --create-home --shell /bin/sh --user-group "$user"
chown -R "$user:" "$tmp/project"
home=$(getent passwd "$user" | cut -d: -f6)
uid=$(id -u "$user")
gid=$(id -g "$user")

# as_user COMMAND: runs a shell command as the user, with /dev/net/tun open
# to it in a private mount namespace when the host's node is not.
as_user() {
  local env=(env -i "HOME=$home" "USER=$user" "PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")
  if [ "$(stat -c %a /dev/net/tun)" = 666 ]; then
    setpriv --reuid="$uid" --regid="$gid" --clear-groups -- "${env[@]}" sh -c "$1"
  else
    mkdir -p "$tmp/tun"
    unshare --mount --propagation private -- sh -c 'set -e; d=$0 u=$1 g=$2; shift 2
      mount -t tmpfs -o mode=755,size=16k tun "$d"; mknod -m 666 "$d/tun" c 10 200; mount --bind "$d/tun" /dev/net/tun
      exec setpriv --reuid="$u" --regid="$g" --clear-groups -- "$@"' "$tmp/tun" "$uid" "$gid" "${env[@]}" sh -c "$1"
  fi
}
cmd() { # cmd CACHE_DIR REPO: the build, the same in both modes
  echo "cd $tmp/project && $skiff build -q --cache-dir $1 --default-repo $2"
}
root_cache=$work/iso-root
user_cache=$home/cache

timed() { # timed NAME COMMAND...: appends "wall cpu" to $tmp/NAME.times
  local name=$1; shift
  # bash's time keyword, not /usr/bin/time: COMMAND may be a function
  # (as_user); it counts the CPU of every child that was waited for.
  local TIMEFORMAT='%R %U %S' rc=0
  { time "$@" >/dev/null 2>"$tmp/$name.err"; } 2>"$tmp/time" || rc=$?
  [ "$rc" = 0 ] || { cat "$tmp/$name.err" >&2; return 1; }
  awk '{printf "%s %.2f\n", $1, $2 + $3}' "$tmp/time" >> "$tmp/$name.times"
  log "$name: $(tail -1 "$tmp/$name.times") (wall, cpu seconds)"
}
cold_root() { rm -rf "$root_cache"; timed root-cold sh -c "$(cmd "$root_cache" "$reg/bench/iso-cold-$(date +%s%N)")"; }
cold_user() {
  rm -rf "$user_cache"
  timed rootless-cold as_user "$(cmd "$user_cache" "$reg/bench/iso-cold-$(date +%s%N)")"
}
log "cold builds ($runs runs each, alternating) and no-change rebuilds"
for i in $(seq "$runs"); do
  if [ $((i % 2)) -eq 1 ]; then cold_root; cold_user; else cold_user; cold_root; fi
done
stats() { awk '{w+=$1; ww+=$1*$1; c+=$2; n++} END {m=w/n; v=ww/n-m*m; if (v<0) v=0; printf "%f %f %f\n", m, sqrt(v), c/n}' "$1"; }

# No change: the same inputs again, with the caches of a first build. The
# rootless command is the whole of as_user (setpriv and, without udev, the
# private /dev/net/tun), which a laptop user would not pay; it is small.
rm -rf "$root_cache" "$user_cache"
sh -c "$(cmd "$root_cache" "$reg/bench/iso-warm-root")" >/dev/null
as_user "$(cmd "$user_cache" "$reg/bench/iso-warm-user")" >/dev/null
export -f as_user
export home user uid gid tmp
# --shell bash: the exported function travels in a variable whose name
# dash (hyperfine's default sh here) drops.
hyperfine --shell bash --warmup 1 --runs "$warm_runs" --export-json "$tmp/warm.json" \
  --command-name "root no-change" "$(cmd "$root_cache" "$reg/bench/iso-warm-root")" \
  --command-name "rootless no-change" "as_user \"$(cmd "$user_cache" "$reg/bench/iso-warm-user")\"" >&2
mode_line=$(as_user "cd $tmp/project && $skiff build --cache-dir $user_cache --default-repo $reg/bench/iso-warm-user" 2>&1 >/dev/null | grep 'isolation:' | head -1)
load_end=$(cut -d' ' -f1-3 /proc/loadavg)

read -r rc_m rc_s rc_c < <(stats "$tmp/root-cold.times")
read -r uc_m uc_s uc_c < <(stats "$tmp/rootless-cold.times")
rw_m=$(jq -r '.results[0].mean' "$tmp/warm.json"); rw_s=$(jq -r '.results[0].stddev // 0' "$tmp/warm.json")
uw_m=$(jq -r '.results[1].mean' "$tmp/warm.json"); uw_s=$(jq -r '.results[1].stddev // 0' "$tmp/warm.json")
rw_c=$(jq -r '.results[0].user + .results[0].system' "$tmp/warm.json")
uw_c=$(jq -r '.results[1].user + .results[1].system' "$tmp/warm.json")
f() { printf '%.2f' "$1"; }
ratio=$(awk -v a="$uc_m" -v b="$rc_m" 'BEGIN {printf "%.2f", a/b}')
cat <<EOF
## isolation

### Root vs rootless: the build benchmark's project in each mode

The project of the build section ($files files of C, multi-stage, Debian $suite bases from the sandbox
registry). Root: \`skiff build\` as root (root isolation). Rootless: the same command as an ordinary user
created for the run (useradd, with its /etc/subuid range; skiff says \`$mode_line\`).
Both give RUN its own network through slirp4netns and push to the sandbox registry.

| | wall, mean (s) | ± (s) | CPU user+sys, mean (s) |
|---|---:|---:|---:|
| root cold (empty local and registry cache) | $(f "$rc_m") | $(f "$rc_s") | $(f "$rc_c") |
| rootless cold (empty local and registry cache) | $(f "$uc_m") | $(f "$uc_s") | $(f "$uc_c") |
| root no-change rebuild | $(f "$rw_m") | $(f "$rw_s") | $(f "$rw_c") |
| rootless no-change rebuild (includes re-executing skiff in its user namespace) | $(f "$uw_m") | $(f "$uw_s") | $(f "$uw_c") |

- rootless cold / root cold: **${ratio}×** wall, $(awk -v a="$uc_c" -v b="$rc_c" 'BEGIN {printf "%.2f", a/b}')× CPU (goal ≤ 1.2×); no-change rebuild $(f "$uw_m") s rootless, $(f "$rw_m") s root (goal ≤ 0.2 s).
  On a machine whose load average is above its core count the wall times measure the queue more than
  skiff: compare the CPU column then.

Runs: $runs cold builds per mode, alternating (load average at the start: $load_start, at the end: $load_end);
no-change rebuilds with hyperfine, $warm_runs each after one warm-up. Reproduce: \`hack/bench/run isolation\`
(after \`make build testenv\`), or \`hack/bench/isolation.sh\` alone for this section. The rootless
command is \`$(cmd '$CACHE' '$REGISTRY/bench/iso-cold-$(date +%s%N)')\` run as the user
(\`setpriv --reuid --regid --clear-groups\`; without udev inside \`unshare --mount\` with a private 0666 /dev/net/tun).
EOF
