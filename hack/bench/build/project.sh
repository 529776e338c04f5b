# Sourced by hack/bench/build.sh and hack/bench/isolation.sh (with reg, work, skiff,
# tmp and log set): the Debian base images and the bench-app project in $tmp/project.
# Sets mirror, suite, build_image, runtime_image, app and files.
# The machine's configured Debian mirror and suite.
mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
[ -n "$mirror" ] || mirror=$(awk '/^deb / {print $2; exit}' /etc/apt/sources.list)
suite=$(. /etc/os-release && echo "$VERSION_CODENAME")

# unmount_under DIR: lazily unmounts what is mounted below DIR (debootstrap
# mounts proc and sys in its target and leaves them when it fails), deepest
# first, so that removing DIR never reaches into a mounted filesystem.
unmount_under() {
  awk -v d="$1" 'index($5, d "/") == 1 {print $5}' /proc/self/mountinfo | sort -r |
    while read -r m; do umount -l "$m"; done
}

# bootstrap DIR [packages]: a minbase Debian root filesystem, made once. The
# bench scripts share $work, so one lock serialises the bootstraps.
bootstrap() {
  local dir=$1 include=${2:-}
  exec 8>"$work/.bootstrap.lock"
  flock 8
  if [ ! -f "$dir.done" ]; then
    unmount_under "$dir"
    rm -rf "$dir"
    log "debootstrap $suite from $mirror into $dir ${include:+(with $include)}"
    if ! debootstrap --variant=minbase ${include:+--include="$include"} "$suite" "$dir" "$mirror" >"$dir.log" 2>&1; then
      unmount_under "$dir"
      log "debootstrap into $dir failed; its log: $dir.log"
      tail -n 5 "$dir.log" >&2
      exec 8>&-
      return 1
    fi
    unmount_under "$dir"
    rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/*
    touch "$dir.done"
  fi
  exec 8>&-
}
bootstrap "$work/rootfs-build" gcc,libc6-dev,make
bootstrap "$work/rootfs-slim"
build_image=$reg/bench/debian-build:$suite
runtime_image=$reg/bench/debian-slim:$suite
log "importing the base images"
"$skiff" image import --reproducible "$work/rootfs-build" "$build_image" >/dev/null
"$skiff" image import --reproducible "$work/rootfs-slim" "$runtime_image" >/dev/null

# The application and a skaffold.yaml for skiff.
app="$tmp/project/app"
hack/bench/build/gen-app.sh "$app"
cat > "$tmp/project/skaffold.yaml" <<EOF
apiVersion: skaffold/v4beta11
kind: Config
build:
  tagPolicy: {sha256: {}}
  artifacts:
  - image: bench-app
    context: app
    docker:
      buildArgs: {BUILD_IMAGE: "$build_image", RUNTIME_IMAGE: "$runtime_image"}
EOF
files=$(find "$app" -type f | wc -l)
