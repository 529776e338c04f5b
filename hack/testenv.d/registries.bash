# hack/testenv.d/registries.bash — the sandbox's TLS registries, sourced by
# hack/testenv. Uses hack/testenv's log, die, cmdline_of, $CTL and $STATE.
#
# The same CNCF distribution registry as the plain one (Debian's
# docker-registry), three more times, over TLS with a CA the sandbox makes
# (sandboxctl registry-pki: crypto/x509, no openssl):
#   basic  htpasswd basic auth
#   token  distribution's auth.token, with sandboxctl token-server as the
#          token service (HTTPS, the same CA, the same htpasswd users); its
#          realm is https://localhost:PORT/token, since go-containerregistry
#          refuses realms at loopback or private IP literals other than the
#          registry's own host:port
#   mtls   no auth, but a client certificate signed by the CA is required
# Users (USER:PASSWORD per line): $TLSREG_DIR/pki/users; the CA and the
# client pair are in $TLSREG_DIR/pki (ca.crt, client.cert, client.key).
#
# Pods cannot reach the host's loopback: when the real node runs, each of
# them (and the token service) is served a second time, from the same
# storage and on the same port, on the node's bridge address (NAME-pods),
# which the server certificate then names too; the token registry's realm
# there is the token service's bridge address. tlsreg_up runs after the
# node has started, and restarts everything when the bridge address changes.

TLSREG_DIR=$STATE/tlsregistries
TLSREG_PKI=$TLSREG_DIR/pki
TLSREG_NAMES=(basic token mtls)
TLSREG_ALL=(tokenservice "${TLSREG_NAMES[@]}" tokenservice-pods basic-pods token-pods mtls-pods)
TLSREG_SERVICE=skiff-testenv-registry
TLSREG_ISSUER=skiff-testenv-token-service

# tlsreg_pod_ip prints the real node's bridge address when the node runs.
tlsreg_pod_ip() {
	node_enabled && [[ -f $NODE_DIR/subnet ]] && node_pid >/dev/null || return 1
	printf '%s.1' "$(cat "$NODE_DIR/subnet")"
}

# tlsreg_daemons lists what runs: the loopback daemons, and their -pods
# twins when the bridge address is recorded (tlsreg_up).
tlsreg_daemons() {
	echo tokenservice "${TLSREG_NAMES[@]}"
	[[ -s $TLSREG_DIR/podip ]] && echo tokenservice-pods "${TLSREG_NAMES[@]/%/-pods}"
	return 0
}

# tlsreg_running NAME: the daemon whose pid file is $TLSREG_DIR/NAME.pid runs
# with NAME's config (the token service: on NAME's address with this
# sandbox's keys).
tlsreg_running() {
	local pid want=$TLSREG_DIR/$1.yml
	[[ $1 == tokenservice* ]] && want="token-server -listen $(tlsreg_addr "$1") -tls-cert $TLSREG_PKI/"
	pid=$(cat "$TLSREG_DIR/$1.pid" 2>/dev/null) || return 1
	[[ $pid =~ ^[0-9]+$ ]] && [[ $(cmdline_of "$pid") == *"$want"* ]]
}

# tlsreg_addr NAME: NAME-pods listens on the bridge address, on NAME's port.
tlsreg_addr() {
	if [[ $1 == *-pods ]]; then
		printf '%s:%s' "$(cat "$TLSREG_DIR/podip" 2>/dev/null)" "$(cat "$TLSREG_DIR/${1%-pods}.port" 2>/dev/null)"
	else
		printf '127.0.0.1:%s' "$(cat "$TLSREG_DIR/$1.port" 2>/dev/null)"
	fi
}

# tlsreg_wait NAME checks that NAME answers over TLS with the sandbox's CA.
tlsreg_wait() {
	local url=https://$(tlsreg_addr "$1")/v2/ extra=()
	[[ $1 == tokenservice* ]] && url=https://$(tlsreg_addr "$1")/token
	[[ $1 == mtls* ]] && extra=(-cert "$TLSREG_PKI/client.cert" -key "$TLSREG_PKI/client.key")
	"$CTL" wait-http -timeout "${2:-30s}" -ca "$TLSREG_PKI/ca.crt" "${extra[@]}" "$url"
}

# tlsreg_config NAME writes the config of registry NAME (basic, token, mtls,
# or one of them with -pods).
tlsreg_config() {
	local name=$1 kind=${1%-pods} realm
	realm=https://localhost:$(cat "$TLSREG_DIR/tokenservice.port")/token
	[[ $name == *-pods ]] && realm=https://$(tlsreg_addr tokenservice-pods)/token
	cat <<EOF
# Written by hack/testenv (hack/testenv.d/registries.bash): registry "$name".
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $TLSREG_DIR/$kind.data
  delete:
    enabled: true
http:
  addr: $(tlsreg_addr "$name")
  secret: $(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
  tls:
    certificate: $TLSREG_PKI/server.crt
    key: $TLSREG_PKI/server.key
EOF
	case $kind in
	mtls)
		printf '    clientcas:\n      - %s\n' "$TLSREG_PKI/ca.crt"
		;;
	basic)
		printf 'auth:\n  htpasswd:\n    realm: skiff-testenv\n    path: %s\n' "$TLSREG_PKI/htpasswd"
		;;
	token)
		cat <<EOF
auth:
  token:
    realm: $realm
    service: $TLSREG_SERVICE
    issuer: $TLSREG_ISSUER
    rootcertbundle: $TLSREG_PKI/ca.crt
EOF
		;;
	esac
}

# tlsreg_start NAME CMD... starts CMD detached, its pid in NAME.pid (see
# ensure_registry for why setsid, the inner shell and the closed descriptors).
tlsreg_start() {
	local name=$1
	shift
	[[ -f $TLSREG_DIR/$name.log ]] && mv "$TLSREG_DIR/$name.log" "$TLSREG_DIR/$name.log.prev"
	# shellcheck disable=SC2016 # $$ and $1 are for the inner shell
	setsid sh -c 'echo $$ >"$1"; shift; exec "$@"' sh "$TLSREG_DIR/$name.pid" "$@" \
		>"$TLSREG_DIR/$name.log" 2>&1 </dev/null 7>&- 8>&- 9>&- &
	if ! tlsreg_wait "$name" || ! tlsreg_running "$name"; then
		tail -n 20 "$TLSREG_DIR/$name.log" >&2
		die "$name did not start; log: $TLSREG_DIR/$name.log"
	fi
}

tlsreg_stop() {
	local pid i
	if tlsreg_running "$1"; then
		pid=$(cat "$TLSREG_DIR/$1.pid")
		kill "$pid" 2>/dev/null || true
		for ((i = 0; i < 100; i++)); do
			[[ -e /proc/$pid ]] || break
			sleep 0.1
		done
		[[ -e /proc/$pid ]] && kill -9 "$pid" 2>/dev/null
	fi
	rm -f "$TLSREG_DIR/$1.pid"
}

# tlsreg_up starts what is not running: the PKI first, then the token
# service (the token registry's config names its port), then the registries;
# then, when the real node runs, the same on its bridge address.
tlsreg_up() {
	mkdir -p "$TLSREG_DIR"
	local name all_up=1 key podip="" pki=(-dir "$TLSREG_PKI")
	podip=$(tlsreg_pod_ip) && pki+=(-ip "$podip")
	"$CTL" registry-pki "${pki[@]}" || die "making the TLS registries' CA and users failed"
	# Running registries made by another version of this file, or for
	# another bridge address, restart.
	key=$({
		declare -f tlsreg_config tlsreg_up tlsreg_start_set
		echo "$podip"
	} | sha256sum | cut -c1-16)
	[[ $(cat "$TLSREG_DIR/key" 2>/dev/null) == "$key" ]] || all_up=0
	for name in $(tlsreg_daemons); do
		tlsreg_running "$name" && tlsreg_wait "$name" 10s 2>/dev/null || all_up=0
	done
	((all_up)) && return
	tlsreg_down_processes
	rm -f "$TLSREG_DIR/podip"
	local out ports
	out=$("$CTL" freeport -n 4)
	read -r -d '' -a ports <<<"$out" || true
	((${#ports[@]} == 4)) || die "could not pick free ports for the TLS registries"
	local i=1
	echo "${ports[0]}" >"$TLSREG_DIR/tokenservice.port"
	for name in "${TLSREG_NAMES[@]}"; do
		echo "${ports[i]}" >"$TLSREG_DIR/$name.port"
		i=$((i + 1))
		mkdir -p "$TLSREG_DIR/$name.data"
	done
	tlsreg_start_set ""
	log "TLS registries: basic auth $(tlsreg_addr basic), token auth $(tlsreg_addr token) (token service $(tlsreg_addr tokenservice)), client certificate $(tlsreg_addr mtls)"
	if [[ -n $podip ]]; then
		echo "$podip" >"$TLSREG_DIR/podip"
		tlsreg_start_set -pods
		log "TLS registries for the real node's pods: the same on $podip"
	fi
	echo "$key" >"$TLSREG_DIR/key"
}

# tlsreg_start_set SUFFIX starts the token service and the registries named
# with SUFFIX ("" on loopback, -pods on the bridge address).
tlsreg_start_set() {
	local name sfx=$1
	tlsreg_start "tokenservice$sfx" "$CTL" token-server -listen "$(tlsreg_addr "tokenservice$sfx")" \
		-tls-cert "$TLSREG_PKI/server.crt" -tls-key "$TLSREG_PKI/server.key" \
		-cert "$TLSREG_PKI/token.crt" -key "$TLSREG_PKI/token.key" -htpasswd "$TLSREG_PKI/htpasswd" \
		-issuer "$TLSREG_ISSUER" -service "$TLSREG_SERVICE"
	for name in "${TLSREG_NAMES[@]/%/$sfx}"; do
		tlsreg_config "$name" >"$TLSREG_DIR/$name.yml"
		tlsreg_start "$name" docker-registry serve "$TLSREG_DIR/$name.yml"
	done
}

tlsreg_down_processes() {
	local name
	for name in "${TLSREG_ALL[@]}"; do
		tlsreg_stop "$name"
	done
}

tlsreg_down() {
	[[ -d $TLSREG_DIR ]] || return 0
	tlsreg_down_processes
	rm -rf "$TLSREG_DIR"
}

# tlsreg_user N prints the Nth user's name (field 1) or password (field 2).
tlsreg_user() { sed -n "$1p" "$TLSREG_PKI/users" | cut -d: -f"$2"; }

# tlsreg_env prints the env-file lines about the TLS registries; the
# _FOR_PODS ones are empty without the real node.
tlsreg_env() {
	local basic="" token="" mtls="" ts=""
	if [[ -s $TLSREG_DIR/podip ]]; then
		basic=$(tlsreg_addr basic-pods) token=$(tlsreg_addr token-pods)
		mtls=$(tlsreg_addr mtls-pods) ts=$(tlsreg_addr tokenservice-pods)
	fi
	printf "export %s='%s'\n" \
		SKIFF_TEST_TLS_REGISTRY "$(tlsreg_addr basic)" \
		SKIFF_TEST_TOKEN_REGISTRY "$(tlsreg_addr token)" \
		SKIFF_TEST_MTLS_REGISTRY "$(tlsreg_addr mtls)" \
		SKIFF_TEST_TOKEN_SERVICE "$(tlsreg_addr tokenservice)" \
		SKIFF_TEST_TLS_REGISTRY_FOR_PODS "$basic" \
		SKIFF_TEST_TOKEN_REGISTRY_FOR_PODS "$token" \
		SKIFF_TEST_MTLS_REGISTRY_FOR_PODS "$mtls" \
		SKIFF_TEST_TOKEN_SERVICE_FOR_PODS "$ts" \
		SKIFF_TEST_REGISTRY_CA "$TLSREG_PKI/ca.crt" \
		SKIFF_TEST_REGISTRY_CLIENT_CERT "$TLSREG_PKI/client.cert" \
		SKIFF_TEST_REGISTRY_CLIENT_KEY "$TLSREG_PKI/client.key" \
		SKIFF_TEST_REGISTRY_USER "$(tlsreg_user 1 1)" \
		SKIFF_TEST_REGISTRY_PASSWORD "$(tlsreg_user 1 2)" \
		SKIFF_TEST_REGISTRY_JOB_TOKEN "$(tlsreg_user 2 2)"
}

tlsreg_status() {
	local name ok=0
	for name in $(tlsreg_daemons); do
		if tlsreg_running "$name"; then
			printf 'tls %-17s running on %s (pid %s)\n' "$name:" "$(tlsreg_addr "$name")" "$(cat "$TLSREG_DIR/$name.pid")"
		else
			printf 'tls %-17s not running\n' "$name:"
			ok=1
		fi
	done
	return "$ok"
}
