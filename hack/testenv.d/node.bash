# shellcheck shell=bash
# hack/testenv.d/node.bash — the sandbox's real node, sourced by hack/testenv.
#
# One kubelet + containerd node joins the sandbox's control plane next to
# kwok's fake nodes, labelled and tainted skiff.dev/real-node=true:NoSchedule
# so that only pods that ask for it land there. Everything it has is the
# sandbox's own, so several sandboxes run side by side on one machine:
#   - a bridge skf<id> with a free /24 of 198.18.0.0/15 (RFC 2544, neither
#     loopback nor private: clear of the machine's own networks), chosen
#     under a machine-wide lock; pods get only the bridge's link route, no
#     gateway, no NAT, and the host's forwarding stays off;
#   - a cgroup /skiff-<id> in every v1 hierarchy (the kubelet's cgroupRoot);
#   - a private mount namespace (node-init) in which /var/lib, /var/log and
#     /run are overlays whose upper layers are in the node's directory, so
#     the paths kubelet, containerd and CNI hard-code (device-plugins, shim
#     sockets, CNI results) are per sandbox and vanish with the namespace;
#     kubelet's kernel tunables are files bind-mounted over /proc/sys there;
#   - free ports for the kubelet, containerd's stream server on port 0.
# `down` kills the cgroup tree, deletes the bridge and checks with
# sandboxctl host-check that the host is as it was before the node started.

NODE_DIR=$STATE/node
NODE_LOGS=$STATE/node-logs
NODE_NAME=localhost
NODE_ID=${CLUSTER#skiff-}
NODE_BRIDGE=skf$NODE_ID
NODE_CGROUP=$CLUSTER
NODE_LABEL=skiff.dev/real-node
NODE_TAINT=$NODE_LABEL=true:NoSchedule
CONTAINERD_VERSION=v2.4.2
PAUSE_VERSION=3.10.2
PAUSE_IMAGE_PATH=sandbox/pause:$PAUSE_VERSION
NODE_INIT=$ROOT/hack/testenv.d/node-init
# SKIFF_TESTENV_REAL_NODE=0 starts the sandbox without the real node (no
# root needed); .testenv/env then says so and testenv.RealNode fails.
REAL_NODE=${SKIFF_TESTENV_REAL_NODE:-1}

node_enabled() { [[ $REAL_NODE != 0 ]]; }

# node_packages are the Debian packages the node needs: runc and the CNI
# plugins it runs, gcc and the static libc for the pause binary.
node_packages() { if node_enabled; then echo runc containernetworking-plugins gcc libc6-dev; fi; }

# build_node_into is the node's build recipe; its text is part of the key.
# kubelet comes from the same tools module as the control plane, so its
# packages are mostly in the Go build cache already; containerd has a module
# of its own (hack/tools/containerd) because its dependencies would move the
# versions the control plane is built with.
build_node_into() {
	local out=$1
	local k8s_ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$KUBE_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$KUBE_MINOR"
	local ctrd_ldflags="-s -w -X github.com/containerd/containerd/v2/version.Version=$CONTAINERD_VERSION"
	local t
	(
		export GOWORK=off GOFLAGS="-mod=readonly -buildvcs=false"
		cd "$TOOLS"
		t=$(date +%s)
		go build -trimpath -ldflags "$k8s_ldflags" -o "$out/" k8s.io/kubernetes/cmd/kubelet
		echo "kubelet built in $(($(date +%s) - t))s"
		local kube_dir
		kube_dir=$(go list -m -f '{{.Dir}}' k8s.io/kubernetes)
		cd "$TOOLS/containerd"
		t=$(date +%s)
		CGO_ENABLED=0 go build -trimpath -tags urfave_cli_no_docs -ldflags "$ctrd_ldflags" -o "$out/" \
			github.com/containerd/containerd/v2/cmd/containerd
		CGO_ENABLED=0 go build -trimpath -tags "urfave_cli_no_docs no_grpc" -ldflags "$ctrd_ldflags" -o "$out/" \
			github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2
		echo "containerd and its shim built in $(($(date +%s) - t))s"
		# The pod sandbox image's one binary, as kubernetes' build/pause makes it.
		gcc -Os -Wall -Werror -static -DVERSION="v$PAUSE_VERSION-skiff" -o "$out/pause" "$kube_dir/build/pause/linux/pause.c"
		strip "$out/pause"
	)
}

node_cache_key() {
	{
		declare -f build_node_into
		echo "$KUBE_VERSION $CONTAINERD_VERSION $PAUSE_VERSION"
		go env GOVERSION GOOS GOARCH CGO_ENABLED
		gcc --version | head -n 1
		cat "$TOOLS/go.mod" "$TOOLS/go.sum" "$TOOLS/containerd/go.mod" "$TOOLS/containerd/go.sum"
	} | sha256sum | cut -c1-16
}

ensure_node_bin() {
	ensure_built "real-node binaries (kubelet, containerd, pause)" "node-$(node_cache_key)" build_node_into \
		"cold: kubelet ~5-30 min depending on the Go build cache, containerd ~5 min"
	NODE_BIN=$BUILT
}

# node_config_key changes when what a running node is made of changes: its
# binaries, the scripts that start it, and the registry and cluster it
# belongs to. A changed key restarts the node.
node_config_key() {
	{
		echo "$NODE_BIN $(registry_addr) $(cat "$STATE/cluster-key" 2>/dev/null)"
		declare -f start_node write_node_config
		cat "$NODE_INIT"
	} | sha256sum | cut -c1-16
}

node_pid() {
	local pid
	pid=$(cat "$NODE_DIR/init.pid" 2>/dev/null) || return 1
	[[ $pid =~ ^[0-9]+$ ]] && [[ $(cmdline_of "$pid") == *"node-init $NODE_DIR "* ]] && printf '%s' "$pid"
}

node_ready() {
	"$CTL" wait-node -kubeconfig "$KUBECONFIG_FILE" -name "$NODE_NAME" -timeout 5s 2>/dev/null
}

ensure_node() {
	if ! node_enabled; then
		stop_node
		log "real node: off (SKIFF_TESTENV_REAL_NODE=0)"
		return
	fi
	[[ $(id -u) == 0 ]] || die "the real node needs root (a bridge, cgroups and a mount namespace); run as root, or start a sandbox without it: SKIFF_TESTENV_REAL_NODE=0 hack/testenv up"
	case $STATE/ in
	/run/* | /var/lib/* | /var/log/*) die "the checkout is under /run, /var/lib or /var/log, which the real node overlays; move it, or SKIFF_TESTENV_REAL_NODE=0" ;;
	esac
	local f
	for f in /usr/sbin/runc /usr/lib/cni/bridge /usr/lib/cni/host-local /usr/lib/cni/loopback; do
		[[ -x $f ]] || die "$f is missing (Debian packages runc and containernetworking-plugins)"
	done
	ensure_node_bin
	PAUSE_DIGEST=$("$CTL" push-pause -pause "$NODE_BIN/pause" "$(registry_addr)/$PAUSE_IMAGE_PATH" 2>>"$STATE/setup.log") ||
		die "pushing the pause image failed; see $STATE/setup.log"
	local key
	key=$(node_config_key)
	if ! node_pid >/dev/null || [[ $(cat "$NODE_DIR/key" 2>/dev/null) != "$key" ]] || ! node_ready; then
		if [[ -d $NODE_DIR ]]; then
			log "real node is not running or is outdated; restarting it"
			stop_node
		fi
		start_node "$key"
	fi
	# Pods of namespaces labelled skiff.dev/testenv-real-node=true go to the
	# node (testenv.RealNode.Namespace).
	"$CTL" real-node-policy -kubeconfig "$KUBECONFIG_FILE" -label "$NODE_LABEL=true" -taint "$NODE_TAINT" 2>>"$STATE/setup.log" ||
		die "installing the real node's admission policy failed; see $STATE/setup.log"
}

start_node() {
	local key=$1 start
	start=$(date +%s)
	mkdir -p "$NODE_DIR"
	# What the host looks like before the node touches it; down compares.
	"$CTL" host-snapshot -o "$NODE_DIR/host-before.json" ||
		die "recording the host's state failed"
	echo "$key" >"$NODE_DIR/key"
	echo "$NODE_BIN" >"$NODE_DIR/bin"
	[[ -d $NODE_LOGS ]] && rm -rf "$NODE_LOGS.prev" && mv "$NODE_LOGS" "$NODE_LOGS.prev"
	mkdir -p "$NODE_LOGS"
	create_bridge
	"$CTL" cgroup-create -name "$NODE_CGROUP" >"$NODE_DIR/cgroups" ||
		node_failed "creating cgroup /$NODE_CGROUP failed"
	KUBELET_PORT=$("$CTL" freeport)
	write_node_config
	# The node's processes must not inherit the lock descriptors; setsid
	# detaches them from this shell's session; unshare gives node-init a
	# private mount namespace, in which it writes its own pid.
	setsid unshare --mount --propagation private -- "$NODE_INIT" "$NODE_DIR" "$NODE_BIN" "$NODE_LOGS" \
		</dev/null >>"$NODE_LOGS/node-init.log" 2>&1 8>&- 9>&- 7>&- &
	local i pid=""
	for ((i = 0; i < 50; i++)); do
		pid=$(node_pid) && break
		sleep 0.1
	done
	[[ -n $pid ]] || node_failed "node-init did not start"
	"$CTL" wait-node -kubeconfig "$KUBECONFIG_FILE" -name "$NODE_NAME" -pid "$pid" -timeout 90s 2>>"$NODE_LOGS/node-init.log" ||
		node_failed "the real node did not become Ready: $(tail -n 1 "$NODE_LOGS/node-init.log")"
	log "real node $NODE_NAME Ready in $(($(date +%s) - start))s (kubelet $KUBE_VERSION, containerd $CONTAINERD_VERSION, bridge $NODE_BRIDGE $NODE_SUBNET.0/24, cgroup /$NODE_CGROUP)"
}

# node_failed shows why the node did not start, stops what did, and fails.
node_failed() {
	local f
	for f in node-init containerd kubelet; do
		[[ -s $NODE_LOGS/$f.log ]] || continue
		log "last lines of $NODE_LOGS/$f.log:"
		tail -n 15 "$NODE_LOGS/$f.log" | sed 's/^/    /' >&2
	done
	stop_node || true
	die "$1 (logs: $NODE_LOGS/)"
}

# create_bridge picks a /24 of 198.18.0.0/15 that no interface on the machine
# uses, starting from one derived from the sandbox's id, and creates the
# bridge with .1 of it. The machine-wide lock makes two sandboxes starting
# at once pick different ones: a bridge holding its address is the record.
create_bridge() {
	exec 7>"$CACHE_ROOT/net.lock"
	flock 7
	if [[ -e /sys/class/net/$NODE_BRIDGE ]]; then
		ip link delete "$NODE_BRIDGE" 2>/dev/null || true
	fi
	local used start i idx net=""
	used=$(ip -4 -o addr show | awk '{print $4}')
	start=$((16#${NODE_ID:0:4} % 512))
	for ((i = 0; i < 512; i++)); do
		idx=$(((start + i) % 512))
		net="198.$((18 + idx / 256)).$((idx % 256))"
		if ! grep -q "^$net\." <<<"$used" && [[ -z $(ip -4 route show "$net.0/24") ]]; then
			break
		fi
		net=""
	done
	if [[ -z $net ]]; then
		flock -u 7
		exec 7>&-
		node_failed "no free /24 left in 198.18.0.0/15 for the node's bridge"
	fi
	if ! { ip link add name "$NODE_BRIDGE" type bridge &&
		ip addr add "$net.1/24" dev "$NODE_BRIDGE" &&
		ip link set "$NODE_BRIDGE" up; }; then
		flock -u 7
		exec 7>&-
		node_failed "creating bridge $NODE_BRIDGE ($net.1/24) failed"
	fi
	flock -u 7
	exec 7>&-
	NODE_SUBNET=$net
	echo "$net" >"$NODE_DIR/subnet"
}

# write_node_config writes the configuration of containerd, CNI and kubelet.
write_node_config() {
	local d=$NODE_DIR reg
	reg=$(registry_addr)
	mkdir -p "$d/containerd" "$d/cni/net.d" "$d/certs.d/$reg" "$d/certs.d/_default" "$d/kubelet" "$d/pod-logs"
	# Pods cannot reach the host's loopback: node-init serves the same
	# registry storage on the bridge's address and the same port, for pods
	# that push or pull (cluster builds, CI jobs). Its process lives in the
	# node's cgroup and goes with it.
	sed "s|^  addr: 127\.0\.0\.1:|  addr: $NODE_SUBNET.1:|" "$REG_CONFIG" >"$d/registry.yml"
	# Version 3 config; everything that defaults to a machine-wide path is
	# set to one of the node's (the rest is under node-init's overlays).
	cat >"$d/containerd.toml" <<EOF
# Written by hack/testenv for the real node of $CLUSTER.
version = 3
root = "$d/containerd/root"
state = "$d/containerd/state"
disabled_plugins = ["io.containerd.nri.v1.nri", "io.containerd.tracing.processor.v1.otlp"]

[grpc]
  address = "/run/containerd/containerd.sock"

[plugins."io.containerd.internal.v1.opt"]
  path = "$d/containerd/opt"

[plugins."io.containerd.image-verifier.v1.bindir"]
  bin_dir = "$d/containerd/image-verifier"

[plugins."io.containerd.cri.v1.images"]
  snapshotter = "overlayfs"
  [plugins."io.containerd.cri.v1.images".pinned_images]
    sandbox = "$reg/$PAUSE_IMAGE_PATH"
  [plugins."io.containerd.cri.v1.images".registry]
    config_path = "$d/certs.d"

[plugins."io.containerd.cri.v1.runtime"]
  netns_mounts_under_state_dir = true
  restrict_oom_score_adj = true
  cdi_spec_dirs = ["$d/cdi"]
  [plugins."io.containerd.cri.v1.runtime".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      runtime_path = "$NODE_BIN/containerd-shim-runc-v2"
      [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]
        BinaryName = "/usr/sbin/runc"
        Root = "$d/containerd/runc"
        SystemdCgroup = false
  [plugins."io.containerd.cri.v1.runtime".cni]
    bin_dirs = ["/usr/lib/cni"]
    conf_dir = "$d/cni/net.d"
    max_conf_num = 1

[plugins."io.containerd.grpc.v1.cri"]
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
EOF
	# Images come from the sandbox registry over plain HTTP; any other
	# registry name resolves to a closed loopback port, so nothing is ever
	# pulled from outside the machine.
	cat >"$d/certs.d/$reg/hosts.toml" <<EOF
server = "http://$reg"
[host."http://$reg"]
  capabilities = ["pull", "resolve"]
EOF
	cat >"$d/certs.d/_default/hosts.toml" <<EOF
# Only the sandbox registry ($reg) is reachable from the real node.
server = "http://127.0.0.1:9"
[host."http://127.0.0.1:9"]
  capabilities = ["pull", "resolve"]
EOF
	# No gateway, masquerade, port mapping or default route: pods reach the
	# host's bridge address and each other, nothing beyond.
	cat >"$d/cni/net.d/10-skiff.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "skiff-$NODE_ID",
  "plugins": [{
    "type": "bridge",
    "bridge": "$NODE_BRIDGE",
    "isGateway": false,
    "isDefaultGateway": false,
    "ipMasq": false,
    "hairpinMode": false,
    "ipam": {
      "type": "host-local",
      "ranges": [[{"subnet": "$NODE_SUBNET.0/24", "rangeStart": "$NODE_SUBNET.2", "rangeEnd": "$NODE_SUBNET.254"}]],
      "dataDir": "$d/cni/ipam"
    }
  }]
}
EOF
	"$CTL" node-kubeconfig -kubeconfig "$KUBECONFIG_FILE" \
		-ca-cert "$CLUSTER_DIR/pki/ca.crt" -ca-key "$CLUSTER_DIR/pki/ca.key" \
		-node "$NODE_NAME" -o "$d/kubelet.kubeconfig" 2>>"$STATE/setup.log" ||
		node_failed "writing the kubelet's kubeconfig failed; see $STATE/setup.log"
	cat >"$d/kubelet.yaml" <<EOF
# Written by hack/testenv for the real node of $CLUSTER.
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# The API server dials the node's Hostname address (localhost): serve there.
address: 127.0.0.1
port: $KUBELET_PORT
readOnlyPort: 0
healthzPort: 0
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: "$CLUSTER_DIR/pki/ca.crt"}
authorization:
  mode: Webhook
containerRuntimeEndpoint: unix:///run/containerd/containerd.sock
# cgroup v1 (hybrid) machine: kubelet refuses v1 from 1.35 unless told.
failCgroupV1: false
failSwapOn: false
cgroupDriver: cgroupfs
cgroupRoot: /$NODE_CGROUP
podLogsDir: "$d/pod-logs"
volumePluginDir: "$d/kubelet/volume-plugins"
resolvConf: ""
makeIPTablesUtilChains: false
protectKernelDefaults: false
hairpinMode: none
serializeImagePulls: false
shutdownGracePeriod: 0s
shutdownGracePeriodCriticalPods: 0s
registerWithTaints:
- {key: $NODE_LABEL, value: "true", effect: NoSchedule}
# Other sandboxes share this disk and memory: evict only when nearly full.
evictionHard: {memory.available: 100Mi, nodefs.available: 1%, nodefs.inodesFree: 1%, imagefs.available: 1%}
imageGCHighThresholdPercent: 99
imageGCLowThresholdPercent: 98
EOF
}

# stop_node stops the node and removes everything it made, then checks
# that the host is as it was before. Safe to run when nothing runs.
stop_node() {
	[[ -d $NODE_DIR ]] || return 0
	local pid i ok=0
	# The namespaces of the node's processes, to check they are gone after.
	"$CTL" node-refs -cgroup "$NODE_CGROUP" -bridge "$NODE_BRIDGE" -o "$NODE_DIR/refs.json" 2>/dev/null || true
	if pid=$(node_pid); then
		# node-init stops kubelet, then containerd; containers and shims are
		# killed with the cgroup below.
		kill -TERM "$pid" 2>/dev/null || true
		for ((i = 0; i < 100; i++)); do
			[[ -e /proc/$pid ]] || break
			sleep 0.1
		done
	fi
	"$CTL" cgroup-remove -name "$NODE_CGROUP" -timeout 30s || ok=1
	if [[ -e /sys/class/net/$NODE_BRIDGE ]]; then
		ip link delete "$NODE_BRIDGE" || ok=1
	fi
	if [[ -f $NODE_DIR/host-before.json ]]; then
		if ! "$CTL" host-check -before "$NODE_DIR/host-before.json" -refs "$NODE_DIR/refs.json" \
			-cgroup "$NODE_CGROUP" -bridge "$NODE_BRIDGE" -path "$NODE_DIR" >"$NODE_LOGS/host-check.txt" 2>&1; then
			sed 's/^/    /' "$NODE_LOGS/host-check.txt" >&2
			ok=1
		fi
	fi
	if ((ok != 0)); then
		log "error: the real node was not removed cleanly (above); its directory $NODE_DIR is kept"
		return 1
	fi
	rm -rf "$NODE_DIR"
	log "real node stopped; host checked: no mounts, bridges, cgroups, namespaces or processes left, sysctls and firewall unchanged"
}

node_status() {
	if ! node_enabled && [[ ! -d $NODE_DIR ]]; then
		echo "node:     off (SKIFF_TESTENV_REAL_NODE=0)"
		return 0
	fi
	local pid
	if ! pid=$(node_pid); then
		echo "node:     real node not running"
		return 1
	fi
	if [[ -x $CTL ]] && node_ready; then
		echo "node:     real node $NODE_NAME Ready (pid $pid; bridge $NODE_BRIDGE $(cat "$NODE_DIR/subnet").0/24; cgroup /$NODE_CGROUP; logs $NODE_LOGS)"
		return 0
	fi
	echo "node:     real node $NODE_NAME running (pid $pid) but not Ready; logs $NODE_LOGS"
	return 1
}

# node_env prints the .testenv/env lines about the real node.
node_env() {
	local up="" subnet=""
	if node_enabled && node_pid >/dev/null; then
		up=$NODE_NAME
		subnet=$(cat "$NODE_DIR/subnet").0/24
	fi
	printf "export %s='%s'\n" \
		SKIFF_TEST_REAL_NODE "$up" \
		SKIFF_TEST_REAL_NODE_LABEL "$NODE_LABEL=true" \
		SKIFF_TEST_REAL_NODE_TAINT "$NODE_TAINT" \
		SKIFF_TEST_REAL_NODE_SUBNET "$subnet" \
		SKIFF_TEST_REAL_NODE_LOGS "$NODE_LOGS" \
		SKIFF_TEST_PAUSE_IMAGE "$(registry_addr)/$PAUSE_IMAGE_PATH" \
		SKIFF_TEST_REGISTRY_FOR_PODS "${subnet:+${subnet%.0/24}.1:$(cat "$REG_PORT")}"
}
