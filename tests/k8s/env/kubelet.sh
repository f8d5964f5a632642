# shellcheck shell=bash
# Kubelet mode of the k8s test environment (`up --kubelet`): a real node,
# kubelet + containerd, next to kwok's fake one, so Pods bound to
# $KUBELET_NODE run as real containers (real output, `pods/log` with follow,
# exit codes, CreateContainerConfigError, ErrImageNeverPull, grace periods).
# Sourced by up and down after lib.sh, never run; it defines functions and
# starts nothing by itself.
#
# Everything the node owns lives under $ECSD_K8S_ENV_DIR/node: containerd's
# socket, root and state (so the machine's /run/containerd and any Docker
# engine, with its own containerd, are never touched), the kubelet's root
# and pod logs, the CNI config and its IPAM store. What cannot live there is
# named after the env, so two envs never share it and `down` finds it again:
# the bridge ecsd<N>, the cgroup /ecsd-k8s-<N> under which the kubelet puts
# its kubepods tree, the CNI network ecsd-k8s-<N> (N is a checksum of the
# state dir). Host settings the kubelet changes (six sysctls) and directories
# it creates (/var/log/containers, ...) are recorded under $KUBELET_HOST_STATE
# by the first kubelet env to start and put back by the last one to stop.

# Host-wide record shared by every kubelet-mode env on this machine.
KUBELET_HOST_STATE=/run/ecsd-k8s-kubelet
# The sysctls the kubelet sets when it starts (setupKernelTunables). On this
# machine it changes the first, third and fourth.
KUBELET_SYSCTLS=(vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops
	kernel.keys.root_maxkeys kernel.keys.root_maxbytes)
# Directories outside the env that the kubelet, containerd or CNI create when
# they are missing. Removed again (when empty) by the last env to stop. The
# kubelet's device-plugin registration socket has a fixed path (upstream's
# DevicePluginPath), whatever --root-dir says.
KUBELET_HOST_DIRS=(/var/log/containers /var/lib/cni /var/lib/cni/results /run/containerd /run/containerd/s
	/var/lib/kubelet /var/lib/kubelet/device-plugins)
KUBELET_DEVICE_SOCK=/var/lib/kubelet/device-plugins/kubelet.sock
CNI_BIN_DIR=/usr/lib/cni

# Set the names of this env's node resources (see the header).
node_vars() {
	node_dir=$(env_dir_abs)/node
	node_id=$(env_dir_abs | cksum | cut -d' ' -f1)
	node_bridge=ecsd$node_id
	node_cgroup=ecsd-k8s-$node_id
	node_net=ecsd-k8s-$node_id
	ctrd_sock=$node_dir/containerd/containerd.sock
}

# Fail early, before anything starts, if the machine cannot run the node.
node_preflight() {
	local cmd p
	(($(id -u) == 0)) || die "kubelet mode needs root (it runs containerd and the kubelet)"
	for cmd in containerd containerd-shim-runc-v2 ctr runc ip; do
		command -v "$cmd" >/dev/null ||
			die "kubelet mode needs $cmd (deploy/local/install-deps.sh --test installs it)"
	done
	for p in bridge host-local loopback; do
		[[ -x $CNI_BIN_DIR/$p ]] ||
			die "kubelet mode needs the CNI plugin $CNI_BIN_DIR/$p (Debian containernetworking-plugins; deploy/local/install-deps.sh --test)"
	done
	[[ -d /sys/fs/cgroup ]] || die "no /sys/fs/cgroup"
	# A unix socket path holds at most 107 bytes (containerd adds .ttrpc).
	((${#ctrd_sock} + 6 <= 107)) ||
		die "state dir $(env_dir_abs) is too long for containerd's socket path; use a shorter ECSD_K8S_ENV_DIR"
}

# The address the kubelet registers as its InternalIP and serves on. It
# refuses 127.0.0.1, so take the machine's own: the first global IPv4
# address of the default route's interface (ECSD_K8S_KUBELET_NODE_IP wins).
node_ip_detect() {
	local dev ip
	if [[ -n ${ECSD_K8S_KUBELET_NODE_IP:-} ]]; then
		# The kubelet would start and even report Ready, but without an
		# InternalIP: the apiserver could not reach it for logs.
		[[ $ECSD_K8S_KUBELET_NODE_IP != 127.* ]] ||
			die "ECSD_K8S_KUBELET_NODE_IP: the kubelet refuses a loopback node IP"
		printf '%s\n' "$ECSD_K8S_KUBELET_NODE_IP"
		return
	fi
	dev=$(ip -4 route show default | awk '{ for (i = 1; i < NF; i++) if ($i == "dev") { print $(i + 1); exit } }')
	ip=$(ip -4 -o addr show ${dev:+dev "$dev"} scope global | awk '{ split($4, a, "/"); print a[1]; exit }')
	[[ -n $ip ]] || die "no global IPv4 address found for the kubelet (set ECSD_K8S_KUBELET_NODE_IP)"
	printf '%s\n' "$ip"
}

ip2int() {
	local IFS=. a b c d
	read -r a b c d <<<"$1"
	echo $(((a << 24) | (b << 16) | (c << 8) | d))
}

# True if CIDR overlaps any IPv4 network this machine has an address or a
# route in.
cidr_taken() { # CIDR
	local lo hi net n plen s e
	lo=$(ip2int "${1%/*}")
	hi=$((lo + (1 << (32 - ${1#*/})) - 1))
	while read -r net; do
		[[ $net == */* ]] || net=$net/32
		n=$(ip2int "${net%/*}") plen=${net#*/}
		s=$((n & ~((1 << (32 - plen)) - 1) & 0xffffffff))
		e=$((s + (1 << (32 - plen)) - 1))
		((s <= hi && lo <= e)) && return 0
	done < <({
		ip -4 -o addr show | awk '{ print $4 }'
		ip -4 route show table all | awk '$1 ~ /^[0-9]/ { print $1 }'
	})
	return 1
}

# The pod subnet: a /24 in 10.200.0.0-10.249.255.0, derived from the env so
# concurrent envs differ, skipping whatever this machine already uses. The
# ranges Docker hands out (172.17-31, 192.168), the service range
# (10.96/16) and kwok's fake pod IPs (10.244/16) lie outside it.
node_subnet_pick() {
	local i n s
	if [[ -n ${ECSD_K8S_KUBELET_POD_SUBNET:-} ]]; then
		printf '%s\n' "$ECSD_K8S_KUBELET_POD_SUBNET"
		return
	fi
	for ((i = 0; i < 256; i++)); do
		n=$(((node_id + i) % 12800))
		s=10.$((200 + n / 256)).$((n % 256)).0/24
		cidr_taken "$s" || { printf '%s\n' "$s"; return 0; }
	done
	die "no free /24 for pods in 10.200.0.0/16-10.249.0.0/16"
}

# --- host-wide record --------------------------------------------------------
read_sysctl() { cat "/proc/sys/${1//.//}"; }

# Register this env as a user of the host settings. The first user records
# the sysctls and which of KUBELET_HOST_DIRS exist, before anything changes
# them.
host_state_enter() {
	local fd s d
	mkdir -p "$KUBELET_HOST_STATE/users"
	exec {fd}>"$KUBELET_HOST_STATE/lock"
	flock "$fd"
	host_state_prune
	if [[ ! -f $KUBELET_HOST_STATE/sysctl.saved ]]; then
		for s in "${KUBELET_SYSCTLS[@]}"; do
			printf '%s %s\n' "$s" "$(read_sysctl "$s")"
		done >"$KUBELET_HOST_STATE/sysctl.saved.tmp"
		for d in "${KUBELET_HOST_DIRS[@]}"; do
			[[ -e $d ]] || printf '%s\n' "$d"
		done >"$KUBELET_HOST_STATE/dirs.created"
		mv "$KUBELET_HOST_STATE/sysctl.saved.tmp" "$KUBELET_HOST_STATE/sysctl.saved"
	fi
	env_dir_abs >"$KUBELET_HOST_STATE/users/$node_id"
	exec {fd}>&-
}

# Forget users whose state dir has no node any more (removed by hand without
# `down`): they can no longer hold anything.
host_state_prune() {
	local u
	for u in "$KUBELET_HOST_STATE"/users/*; do
		[[ -f $u ]] || continue
		[[ -d $(cat "$u")/node ]] || rm -f "$u"
	done
}

# Unregister this env; if it was the last user, put the sysctls back and
# remove the host directories that were created meanwhile and are empty.
host_state_leave() {
	local fd s v d users
	[[ -d $KUBELET_HOST_STATE ]] || return 0
	exec {fd}>"$KUBELET_HOST_STATE/lock"
	flock "$fd"
	rm -f "$KUBELET_HOST_STATE/users/$node_id"
	host_state_prune
	users=$(find "$KUBELET_HOST_STATE/users" -type f 2>/dev/null | wc -l)
	if ((users == 0)) && [[ -f $KUBELET_HOST_STATE/sysctl.saved ]]; then
		while read -r s v; do
			if [[ $(read_sysctl "$s") != "$v" ]]; then
				echo "$v" >"/proc/sys/${s//.//}" || log "could not restore $s to $v"
				log "restored $s = $v"
			fi
		done <"$KUBELET_HOST_STATE/sysctl.saved"
		# Deepest first, so /var/lib/cni/results goes before /var/lib/cni.
		if [[ -f $KUBELET_HOST_STATE/dirs.created ]]; then
			if grep -qxF "$(dirname "$KUBELET_DEVICE_SOCK")" "$KUBELET_HOST_STATE/dirs.created"; then
				rm -f "$KUBELET_DEVICE_SOCK"
			fi
			while read -r d; do
				rmdir "$d" 2>/dev/null || true
			done < <(sort -r "$KUBELET_HOST_STATE/dirs.created")
		fi
		rm -f "$KUBELET_HOST_STATE/sysctl.saved" "$KUBELET_HOST_STATE/dirs.created"
	fi
	exec {fd}>&-
	if ((users == 0)); then
		rm -rf "$KUBELET_HOST_STATE"
	fi
}

# --- certificates --------------------------------------------------------------
# In CERT_DIR (which holds the env's ca.crt/ca.key): the kubelet's client
# certificate (system:node:NAME in system:nodes, what the Node authorizer
# and NodeRestriction expect), its serving certificate for NODE_IP (so the
# apiserver can verify it), and the apiserver's client certificate for
# talking to kubelets (system:masters: logs, exec, port-forward).
node_certs() { # CERT_DIR NODE_IP
	(
		cd "$1" || exit
		umask 077
		sign() { # NAME SUBJECT EXT
			openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
				-keyout "$1.key" -out "$1.csr" -subj "$2" 2>/dev/null
			printf '%b' "$3" >"$1.ext"
			openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial \
				-out "$1.crt" -days 365 -extfile "$1.ext" 2>/dev/null
		}
		sign kubelet-client "/O=system:nodes/CN=system:node:$KUBELET_NODE" \
			'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n'
		sign kubelet-serving "/O=system:nodes/CN=system:node:$KUBELET_NODE" \
			"basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:$2,DNS:$KUBELET_NODE\n"
		sign apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" \
			'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n'
	)
}

# --- cgroups --------------------------------------------------------------------
# Every directory that is (or would be) this env's cgroup root: one per
# cgroup v1 hierarchy, or the single one of a cgroup v2 machine.
node_cgroup_dirs() {
	local h
	if [[ -f /sys/fs/cgroup/cgroup.controllers ]]; then
		printf '%s\n' "/sys/fs/cgroup/$node_cgroup"
		return
	fi
	for h in /sys/fs/cgroup/*/; do
		if [[ -f $h/cgroup.procs ]]; then printf '%s\n' "${h%/}/$node_cgroup"; fi
	done
}

# The kubelet insists that its cgroupRoot exists in every hierarchy.
node_cgroup_create() {
	local d parent c ctl
	while read -r d; do
		mkdir -p "$d"
		parent=$(dirname "$d")
		# A new cpuset cgroup starts with no CPUs and no memory nodes.
		for c in cpuset.cpus cpuset.mems; do
			if [[ -f $d/$c && -z $(cat "$d/$c") ]]; then cat "$parent/$c" >"$d/$c"; fi
		done
		if [[ -f $parent/cgroup.subtree_control ]]; then
			read -ra ctl <"$parent/cgroup.subtree_control" || true
			for c in "${ctl[@]}"; do
				echo "+$c" >"$d/cgroup.subtree_control" 2>/dev/null || true
			done
		fi
	done < <(node_cgroup_dirs)
}

# Print the pids in this env's cgroups (every container the node runs).
node_cgroup_pids() {
	local d
	while read -r d; do
		if [[ -d $d ]]; then find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null || true; fi
	done < <(node_cgroup_dirs) | sort -u
}

# --- up ----------------------------------------------------------------------
# Prepare the host side and start containerd (does not wait for it): called
# before etcd starts, so containerd comes up while the control plane does.
# Needs start_daemon and the `started` flag from up, and node_certs done.
node_start_runtime() { # POD_SUBNET
	local subnet=$1 gw c=$node_dir/containerd
	gw=${subnet%.*/*}.1
	# From here on the host changes: a failing `up` must run `down`.
	# shellcheck disable=SC2034 # read by up's exit trap
	started=1
	mkdir -p "$node_dir"/{kubelet-root,pod-logs,volume-plugins,cni/net.d,cni/ipam} \
		"$c"/{root,state,opt,runc,hosts.d/_default,hosts.d/docker.io}
	host_state_enter
	node_cgroup_create

	# The bridge exists before the first pod, with the pods' gateway address,
	# so another env picking a subnet sees this one taken, `down` always has
	# it to delete, and the host reaches pods (and pods the host) through it.
	if ! ip link show "$node_bridge" >/dev/null 2>&1; then
		ip link add name "$node_bridge" type bridge
	fi
	ip addr replace "$gw/${subnet#*/}" dev "$node_bridge"
	ip link set "$node_bridge" up

	# isGateway false: the bridge already has the gateway address, and a
	# gateway bridge would make the plugin turn on net.ipv4.ip_forward.
	# ipMasq false: no NAT rules. Pods reach each other and this machine,
	# nothing beyond it.
	cat >"$node_dir/cni/net.d/10-$node_net.conflist" <<-EOF
		{
		  "cniVersion": "1.0.0",
		  "name": "$node_net",
		  "plugins": [
		    {
		      "type": "bridge",
		      "bridge": "$node_bridge",
		      "isGateway": false,
		      "ipMasq": false,
		      "hairpinMode": true,
		      "ipam": {
		        "type": "host-local",
		        "dataDir": "$node_dir/cni/ipam",
		        "ranges": [[{ "subnet": "$subnet", "gateway": "$gw" }]],
		        "routes": [{ "dst": "0.0.0.0/0" }]
		      }
		    }
		  ]
		}
	EOF

	# No registry is reachable: any pull goes to a closed loopback port and
	# fails at once, instead of trying the network (docker.io explicitly,
	# every other registry through _default).
	local h
	for h in _default docker.io; do
		cat >"$c/hosts.d/$h/hosts.toml" <<-EOF
			server = "http://127.0.0.1:9"
			[host."http://127.0.0.1:9"]
			  capabilities = ["pull", "resolve"]
		EOF
	done

	# restrict_oom_score_adj: root in this VM lacks CAP_SYS_RESOURCE; without
	# it every sandbox fails with runc's "can't get final child's PID from
	# pipe: EOF". netns_mounts_under_state_dir keeps pod network namespaces
	# out of /var/run/netns. disable_apparmor: no profile loaded into the
	# kernel. runc's state goes under the env too (Root).
	cat >"$c/config.toml" <<-EOF
		version = 2
		root = "$c/root"
		state = "$c/state"
		disabled_plugins = ["io.containerd.internal.v1.tracing", "io.containerd.tracing.processor.v1.otlp",
		  "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
		  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs"]

		[grpc]
		  address = "$ctrd_sock"
		[ttrpc]
		  address = "$ctrd_sock.ttrpc"
		[debug]
		  level = "warn"
		[metrics]
		  address = ""

		[plugins."io.containerd.internal.v1.opt"]
		  path = "$c/opt"
		[plugins."io.containerd.runtime.v1.linux"]
		  runtime_root = "$c/runc-v1"
		[plugins."io.containerd.grpc.v1.cri"]
		  sandbox_image = "$PAUSE_IMAGE"
		  restrict_oom_score_adj = true
		  disable_apparmor = true
		  netns_mounts_under_state_dir = true
		  stream_server_address = "127.0.0.1"
		  stream_server_port = "0"
		  [plugins."io.containerd.grpc.v1.cri".containerd]
		    snapshotter = "overlayfs"
		    default_runtime_name = "runc"
		    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
		      runtime_type = "io.containerd.runc.v2"
		      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
		        SystemdCgroup = false
		        Root = "$c/runc"
		  [plugins."io.containerd.grpc.v1.cri".cni]
		    bin_dir = "$CNI_BIN_DIR"
		    conf_dir = "$node_dir/cni/net.d"
		    max_conf_num = 1
		  [plugins."io.containerd.grpc.v1.cri".registry]
		    config_path = "$c/hosts.d"
	EOF
	start_daemon containerd containerd --config "$c/config.toml"
}

ctr_() { ctr --address "$ctrd_sock" --namespace k8s.io "$@"; }

# Wait for containerd, then import the pause and busybox images. up runs it
# in the background while the control plane starts.
node_runtime_ready() {
	local img
	wait_until containerd 30 "containerd" ctr_ version
	for img in pause busybox; do
		ctr_ images import "$(image_tar "$img")" >/dev/null
	done
}

# Start the kubelet; needs the apiserver up, certificates in CERT_DIR. Its
# API port on the node IP is a candidate (ECSD_K8S_KUBELET_PORT fixes it):
# up starts it again on another when the port is in use (start_on_ports).
# The healthz endpoint, which nothing here reads, is off, so the kubelet
# needs no loopback port.
node_start_kubelet() { # SERVER CERT_DIR NODE_IP
	local server=$1 c=$2 node_ip=$3 k=$node_dir/kubelet port
	mkdir -p "$k"
	port=${ECSD_K8S_KUBELET_PORT:-$(candidate_port)}
	(
		umask 077
		cat >"$k/kubeconfig" <<-EOF
			apiVersion: v1
			kind: Config
			clusters:
			- name: ecsd-k8s-env
			  cluster:
			    server: $server
			    certificate-authority: $c/ca.crt
			users:
			- name: $KUBELET_NODE
			  user:
			    client-certificate: $c/kubelet-client.crt
			    client-key: $c/kubelet-client.key
			contexts:
			- name: $KUBELET_NODE@ecsd-k8s-env
			  context:
			    cluster: ecsd-k8s-env
			    user: $KUBELET_NODE
			current-context: $KUBELET_NODE@ecsd-k8s-env
		EOF
	)
	# Notes on the choices:
	# - address: the node IP, where the apiserver reaches it
	#   (--kubelet-preferred-address-types=InternalIP); anonymous access
	#   off, clients need a certificate of the env's CA, authorization by
	#   SubjectAccessReview.
	# - cgroupRoot: this env's own cgroup, so the kubepods tree is its own.
	# - evictionHard: no disk thresholds ("0%" disables one); this VM's disk
	#   use says nothing about the test pods. imageGCHighThresholdPercent
	#   100 turns image GC off, so the imported images, which no registry can
	#   give back, stay.
	# - makeIPTablesUtilChains false: no iptables chains or DROP rules.
	# - podLogsDir, volumePluginDir, --root-dir: inside the env.
	cat >"$k/config.yaml" <<-EOF
		apiVersion: kubelet.config.k8s.io/v1beta1
		kind: KubeletConfiguration
		address: $node_ip
		port: $port
		readOnlyPort: 0
		healthzPort: 0
		tlsCertFile: $c/kubelet-serving.crt
		tlsPrivateKeyFile: $c/kubelet-serving.key
		rotateCertificates: false
		serverTLSBootstrap: false
		authentication:
		  anonymous:
		    enabled: false
		  webhook:
		    enabled: true
		  x509:
		    clientCAFile: $c/ca.crt
		authorization:
		  mode: Webhook
		containerRuntimeEndpoint: unix://$ctrd_sock
		cgroupDriver: cgroupfs
		cgroupRoot: /$node_cgroup
		cgroupsPerQOS: true
		failSwapOn: false
		failCgroupV1: false
		makeIPTablesUtilChains: false
		podLogsDir: $node_dir/pod-logs
		volumePluginDir: $node_dir/volume-plugins
		resolvConf: /etc/resolv.conf
		evictionHard:
		  memory.available: "100Mi"
		  nodefs.available: "0%"
		  nodefs.inodesFree: "0%"
		  imagefs.available: "0%"
		  imagefs.inodesFree: "0%"
		imageGCHighThresholdPercent: 100
		imageGCLowThresholdPercent: 99
		serializeImagePulls: false
		shutdownGracePeriod: 0s
		shutdownGracePeriodCriticalPods: 0s
	EOF
	start_daemon kubelet "$KUBELET_BIN" \
		--config="$k/config.yaml" \
		--kubeconfig="$k/kubeconfig" \
		--root-dir="$node_dir/kubelet-root" \
		--hostname-override="$KUBELET_NODE" \
		--node-ip="$node_ip" \
		--node-labels="ecsd.test/node=kubelet" \
		--v=1
}

# --- down --------------------------------------------------------------------
# Mount points at or under DIR, deepest first (octal escapes decoded).
mounts_under() { # DIR
	local m
	while read -r m; do
		m=$(printf '%b' "$m")
		if [[ $m == "$1" || $m == "$1"/* ]]; then printf '%s\n' "$m"; fi
	done < <(awk '{ print $5 }' /proc/self/mountinfo) | sort -r
}

# True if PID runs (exists and is not a zombie).
pid_running() { # PID
	local stat
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	stat=${stat##*) }
	[[ ${stat%% *} != Z ]]
}

# SIGKILL PIDS and wait (at most 10 s) until none of them runs; fail if one
# still does. Zombies are not waited for: the kubelet, containerd and the
# shims are orphans, which this machine's init reaps only about a second
# later (`down` waits for that once, at its end); containers are reaped by
# their shim at once.
node_killed=()
kill_dead() { # PID...
	local pid deadline=$((SECONDS + 10)) left
	(($# > 0)) || return 0
	kill -KILL "$@" 2>/dev/null || true
	node_killed+=("$@")
	while :; do
		left=0
		for pid in "$@"; do
			if pid_running "$pid"; then left=1; fi
		done
		((left)) || return 0
		if ((SECONDS >= deadline)); then
			log "error: processes $* would not die"
			return 1
		fi
		sleep 0.02
	done
}

# Tear down everything the node made, whatever state it is in (never
# started, half started, running, killed): kubelet and containerd, the shims
# and containers, mounts under node/, the cgroups, the bridge, CNI's cache
# entries, the kubelet's /var/log/containers links, and, for the last
# kubelet env on the machine, the sysctls. SIGKILL throughout: the node's
# state is thrown away as a whole, so nothing needs to stop gracefully, and
# pod network namespaces go away with the mounts that hold them (their veth
# ends with them). Goes on past a step that fails, so as much as possible is
# undone, and then returns 1; node/ itself is removed only when nothing is
# mounted under it any more.
node_down() {
	local dir pid name pids=() socks=() mounts=() sandboxes=() f m i rc=0
	dir=$(env_dir_abs)
	node_vars
	if [[ ! -d $node_dir && ! -e $KUBELET_HOST_STATE/users/$node_id ]] &&
		! ip link show "$node_bridge" >/dev/null 2>&1 &&
		[[ -z $(node_cgroup_dirs | while read -r d; do if [[ -d $d ]]; then echo "$d"; fi; done) ]]; then
		return 0
	fi

	# Shim sockets live in /run/containerd/s whatever containerd's state dir
	# is; a killed shim leaves its socket behind. Note them first.
	for f in "$node_dir"/containerd/state/io.containerd.runtime.v2.task/*/*/address; do
		if [[ -f $f ]]; then socks+=("$(sed 's|^unix://||' "$f")"); fi
	done
	# Pod sandboxes, whose CNI results libcni caches in /var/lib/cni/results
	# as NETWORK-SANDBOXID-IFNAME (this env's network and cni-loopback).
	for f in "$node_dir"/containerd/root/io.containerd.grpc.v1.cri/sandboxes/*; do
		if [[ -d $f ]]; then sandboxes+=("${f##*/}"); fi
	done

	# The kubelet and containerd first, or they restart what is being killed.
	for name in kubelet containerd; do
		pid=$(cat "$dir/pids/$name.pid" 2>/dev/null) || continue
		if [[ $pid =~ ^[0-9]+$ ]] && pid_tagged "$pid"; then pids+=("$pid"); fi
	done
	kill_dead "${pids[@]}" || rc=1
	# Containers: whatever runs in the env's cgroups, killed while their
	# shims still live to reap them. Again if one forked meanwhile.
	for ((i = 0; i < 10; i++)); do
		mapfile -t pids < <(node_cgroup_pids)
		((${#pids[@]})) || break
		kill_dead "${pids[@]}" || rc=1
	done
	# Shims inherit containerd's environment, so they carry the env's tag.
	pids=()
	for pid in $(tagged_pids); do
		if [[ $(cat "/proc/$pid/comm" 2>/dev/null) == containerd-shim* ]]; then pids+=("$pid"); fi
	done
	kill_dead "${pids[@]}" || rc=1
	for m in "${socks[@]}"; do
		if [[ $m == /run/containerd/s/* ]]; then rm -f "$m"; fi
	done

	# Mounts: container root filesystems, sandbox /dev/shm, pod network
	# namespaces, the kubelet's volumes and its own bind-mounted root dir.
	for ((i = 0; i < 5; i++)); do
		mapfile -t mounts < <(mounts_under "$node_dir")
		((${#mounts[@]})) || break
		for m in "${mounts[@]}"; do
			umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
		done
	done
	if [[ -n $(mounts_under "$node_dir") ]]; then
		log "error: could not unmount: $(mounts_under "$node_dir" | tr '\n' ' ')"
		rc=1
	fi

	# cgroups, deepest first; a cgroup with a zombie in it stays busy until
	# init reaps it.
	local deadline=$((SECONDS + 10)) busy d
	while :; do
		busy=0
		while read -r d; do
			[[ -d $d ]] || continue
			find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || true
			if [[ -d $d ]]; then busy=1; fi
		done < <(node_cgroup_dirs)
		((busy)) || break
		if ((SECONDS >= deadline)); then
			log "error: could not remove cgroup $node_cgroup"
			rc=1
			break
		fi
		sleep 0.1
	done

	if ip link show "$node_bridge" >/dev/null 2>&1; then
		ip link del "$node_bridge" || rc=1
	fi
	# libcni's result cache: sandboxes killed without a CNI DEL leave entries.
	rm -f /var/lib/cni/results/"$node_net"-*
	for m in "${sandboxes[@]}"; do
		rm -f /var/lib/cni/results/*-"$m"-*
	done
	# The kubelet links each container's log into /var/log/containers.
	if [[ -d /var/log/containers ]]; then
		for f in /var/log/containers/*; do
			if [[ -L $f && $(readlink "$f") == "$node_dir"/* ]]; then rm -f "$f"; fi
		done
	fi
	if [[ -z $(mounts_under "$node_dir") ]]; then
		rm -rf --one-file-system "$node_dir"
	fi
	host_state_leave || rc=1
	return "$rc"
}
