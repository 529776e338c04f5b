# Sourced by hack/bench/build.sh (with log set): BuildKit's buildkitd and
# buildctl, built once from the Go module proxy at the version in skiff's
# go.mod and kept outside the checkout. Sets buildkitd and buildctl.
# `go install …/cmd/buildkitd@VERSION` refuses BuildKit's module (it has
# exclude directives), so the module is downloaded, copied out of the module
# cache and built there, with the tags BuildKit's own Dockerfile uses.
bk_version=${BENCH_BUILDKIT_VERSION:-$(awk '$1 == "github.com/moby/buildkit" {print $2}' go.mod)}
bk_dir=${BENCH_BUILDKIT_DIR:-$HOME/.cache/skiff/bench/buildkit-$bk_version}
buildkitd=$bk_dir/buildkitd
buildctl=$bk_dir/buildctl
if [ ! -x "$buildkitd" ] || [ ! -x "$buildctl" ]; then
  log "building buildkitd and buildctl $bk_version into $bk_dir (once)"
  mod=$(go mod download -json "github.com/moby/buildkit@$bk_version" | jq -r .Dir)
  src=$(mktemp -d)
  cp -r "$mod/." "$src/" && chmod -R u+w "$src"
  mkdir -p "$bk_dir"
  (cd "$src" && GOFLAGS=-mod=mod CGO_ENABLED=0 go build -trimpath -tags "osusergo netgo static_build seccomp" \
    -o "$bk_dir/" ./cmd/buildkitd ./cmd/buildctl) >&2
  rm -rf "$src"
fi
# BuildKit's OCI worker runs steps with runc (Debian's).
command -v runc >/dev/null || need_tools runc
