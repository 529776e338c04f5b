# hack/vault/testenv.sh — the sandbox's Vault, sourced by hack/testenv.
# Uses hack/testenv's log, die, find_go, cmdline_of, $CTL (sandboxctl), $STATE and $CACHE_ROOT.
#
# vaultdev (cmd/vaultdev) is HashiCorp Vault's own core and HTTP API with the
# KV, JWT and Kubernetes backends; it is built once per machine into
# $CACHE_ROOT/vault-<key>/bin and runs in dev mode on 127.0.0.1 (a port the
# kernel picks) with a root token generated here.

VAULT_MOD=$ROOT/hack/vault
VAULT_STATE=$STATE/vault

# vault_build_into is the build recipe; its text is part of the cache key.
vault_build_into() {
	(
		cd "$VAULT_MOD"
		export GOWORK=off GOFLAGS="-mod=readonly -buildvcs=false"
		go build -trimpath -ldflags "-s -w" -o "$1/" ./cmd/vaultdev
	)
}

vault_cache_key() {
	{
		declare -f vault_build_into
		go env GOVERSION GOOS GOARCH CGO_ENABLED
		cat "$VAULT_MOD/go.mod" "$VAULT_MOD/go.sum" "$VAULT_MOD"/cmd/vaultdev/*.go
	} | sha256sum | cut -c1-16
}

# vault_ensure_bin sets VAULT_BIN, building it when the cache lacks it (a
# flock makes a concurrent up wait for the build in progress).
vault_ensure_bin() {
	find_go
	local dir
	dir=$CACHE_ROOT/vault-$(vault_cache_key)
	VAULT_BIN=$dir/bin
	[[ -f $VAULT_BIN/.complete ]] && return
	mkdir -p "$dir"
	exec 7>"$dir/lock"
	if ! flock -n 7; then
		log "another process is building $VAULT_BIN; waiting for it"
		flock 7
	fi
	if [[ ! -f $VAULT_BIN/.complete ]]; then
		local tmp start
		tmp=$(mktemp -d "$dir/tmp.XXXXXX")
		chmod 755 "$tmp"
		start=$(date +%s)
		log "building vaultdev into $VAULT_BIN (cold: about 7 min on 2 cores; log: $dir/build.log)"
		if ! vault_build_into "$tmp" >"$dir/build.log" 2>&1; then
			tail -n 30 "$dir/build.log" >&2
			rm -rf "$tmp"
			die "building vaultdev failed; full log: $dir/build.log"
		fi
		touch "$tmp/.complete"
		rm -rf "$VAULT_BIN"
		mv "$tmp" "$VAULT_BIN"
		log "vaultdev built in $(($(date +%s) - start))s"
	fi
	flock -u 7
	exec 7>&-
}

vault_running() {
	local pid
	pid=$(cat "$VAULT_STATE/pid" 2>/dev/null) || return 1
	[[ $pid =~ ^[0-9]+$ && -e /proc/$pid ]] && [[ $(cmdline_of "$pid") == *"vaultdev -root-token-file $VAULT_STATE/"* ]]
}

vault_addr() { cat "$VAULT_STATE/addr"; }

# vault_up starts Vault unless it runs and answers. Dev mode keeps nothing
# across restarts, so a restart also makes a new root token.
vault_up() {
	vault_ensure_bin
	mkdir -p "$VAULT_STATE"
	if vault_running && "$CTL" wait-http -timeout 10s "http://$(vault_addr)/v1/sys/health"; then
		return
	fi
	vault_down
	mkdir -p "$VAULT_STATE"
	(umask 077 && head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' | sed 's/^/skiff-root-/' >"$VAULT_STATE/root-token")
	rm -f "$VAULT_STATE/addr"
	# shellcheck disable=SC2016 # $$ and $1 are for the inner shell
	setsid sh -c 'echo $$ >"$1"; shift; exec "$@"' sh "$VAULT_STATE/pid" \
		"$VAULT_BIN/vaultdev" -root-token-file "$VAULT_STATE/root-token" -jwt-key "$VAULT_STATE/jwt-key.pem" \
		-addr-file "$VAULT_STATE/addr" >"$VAULT_STATE/vault.log" 2>&1 </dev/null 7>&- 8>&- 9>&- &
	local i
	for ((i = 0; i < 300; i++)); do
		[[ -s $VAULT_STATE/addr ]] && break
		# Until the inner shell has written the pid file and exec'd, the
		# process is not yet recognisable as vaultdev: give up only once the
		# pid file names a process that has gone.
		if [[ -s $VAULT_STATE/pid && ! -e /proc/$(cat "$VAULT_STATE/pid") ]]; then
			break
		fi
		sleep 0.1
	done
	if [[ ! -s $VAULT_STATE/addr ]] || ! "$CTL" wait-http -timeout 30s "http://$(vault_addr)/v1/sys/health"; then
		tail -n 20 "$VAULT_STATE/vault.log" >&2
		die "vault did not start; log: $VAULT_STATE/vault.log"
	fi
	log "vault started on $(vault_addr) (pid $(cat "$VAULT_STATE/pid"))"
}

vault_down() {
	if vault_running; then
		local pid i
		pid=$(cat "$VAULT_STATE/pid")
		kill "$pid" 2>/dev/null || true
		for ((i = 0; i < 100; i++)); do
			[[ -e /proc/$pid ]] || break
			sleep 0.1
		done
		[[ -e /proc/$pid ]] && kill -9 "$pid" 2>/dev/null
		log "vault stopped (pid $pid)"
	fi
	rm -rf "$VAULT_STATE"
}

# vault_env prints the env-file lines about Vault.
vault_env() {
	printf "export %s='%s'\n" \
		SKIFF_TEST_VAULT_ADDR "http://$(vault_addr)" \
		SKIFF_TEST_VAULT_TOKEN "$(cat "$VAULT_STATE/root-token")" \
		SKIFF_TEST_VAULT_JWT_KEY "$VAULT_STATE/jwt-key.pem" \
		SKIFF_TEST_VAULT_JWT_ISSUER skiff-testenv
}

vault_status() {
	if vault_running; then
		echo "vault:    running on $(vault_addr) (pid $(cat "$VAULT_STATE/pid"))"
	else
		echo "vault:    not running"
		return 1
	fi
}
