# Sourced by hack/bench/build.sh and hack/bench/isolation.sh (with log set).
# need_tools TOOL...: installs the Debian packages of the same names that
# are missing.
need_tools() {
  local missing=() tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null || missing+=("$tool")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
  fi
}
