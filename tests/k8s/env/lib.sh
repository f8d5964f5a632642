# shellcheck shell=bash disable=SC2034  # variables are used by the sourcing scripts
# Shared definitions for the k8s test environment scripts (up, down, build,
# mint-kubeconfig, smoke-test). Sourced, never run: it sets no shell options of
# its own and starts nothing.
#
# Versions are pinned here and only here. The binaries built from them are
# cached per component and version under $ECSD_K8S_CACHE, so bumping one
# version rebuilds only that component.

# Kubernetes release; the staging modules (k8s.io/api, ...) carry the same
# minor and patch as v0.MINOR.PATCH.
K8S_VERSION=v1.32.13
K8S_STAGING_VERSION=v0.32.13
# etcd 3.5, not Debian's 3.4: kube-apiserver 1.32 asks etcd for watch progress
# notifications, which 3.4 lacks (kwok then falls back and runs ~4x slower).
ETCD_VERSION=v3.5.35
KWOK_VERSION=v0.7.0

# Bump when the way a component is built changes (flags, main.go), so caches
# made by an older recipe are not taken.
BUILD_RECIPE=1

ENV_SRC_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# Where one running environment keeps its state: pids, certificates, logs,
# kubeconfigs, env.sh. Throwaway; `down` removes it.
ECSD_K8S_ENV_DIR=${ECSD_K8S_ENV_DIR:-/tmp/ecsd-k8s-env}
# Where built binaries are cached, outside the repository.
ECSD_K8S_CACHE=${ECSD_K8S_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ecsd/k8s}

ETCD_BIN=$ECSD_K8S_CACHE/etcd-$ETCD_VERSION-r$BUILD_RECIPE/etcd
APISERVER_BIN=$ECSD_K8S_CACHE/kube-apiserver-$K8S_VERSION-r$BUILD_RECIPE/kube-apiserver
KWOK_BIN=$ECSD_K8S_CACHE/kwok-$KWOK_VERSION-r$BUILD_RECIPE/kwok
KUBECTL_BIN=$ECSD_K8S_CACHE/kubectl-$K8S_VERSION-r$BUILD_RECIPE/kubectl
# Only kubelet mode (`up --kubelet`) builds and runs it.
KUBELET_BIN=$ECSD_K8S_CACHE/kubelet-$K8S_VERSION-r$BUILD_RECIPE/kubelet
# Only tests that start workload controllers themselves build it (build --controller-manager).
KCM_BIN=$ECSD_K8S_CACHE/kube-controller-manager-$K8S_VERSION-r$BUILD_RECIPE/kube-controller-manager

# Kubelet mode's images. No registry is reachable, so `build --kubelet` makes
# OCI image tarballs (a static pause program compiled here; Debian's static
# busybox) and `up --kubelet` imports them into the node's containerd. Pods
# use busybox:local (containerd reads it as docker.io/library/busybox:local)
# with imagePullPolicy Never or IfNotPresent. Bump IMAGE_RECIPE when the way
# an image is put together changes; the tarballs are also keyed by what goes
# into them (pause.c, the busybox binary), so a new busybox makes a new one.
IMAGE_RECIPE=1
PAUSE_IMAGE=ecsd.test/pause:local
BUSYBOX_IMAGE=docker.io/library/busybox:local
BUSYBOX_SRC=${ECSD_K8S_BUSYBOX:-/bin/busybox}
KUBELET_NODE=kubelet-node-0

# Print the cache path of image tarball NAME (pause or busybox), named by a
# hash of everything that goes into it.
image_tar() { # NAME
	local key
	case $1 in
	pause) key=$({ echo "$IMAGE_RECIPE $PAUSE_IMAGE"; cat "$ENV_SRC_DIR/src/pause/pause.c"; } | sha256sum) ;;
	busybox) key=$({ echo "$IMAGE_RECIPE $BUSYBOX_IMAGE"; cat "$BUSYBOX_SRC"; } | sha256sum) ;;
	*) die "image_tar: unknown image $1" ;;
	esac
	printf '%s/images/%s-%s.tar\n' "$ECSD_K8S_CACHE" "$1" "${key:0:16}"
}

# The name of the fake node kwok manages, and the annotation that tells kwok
# to manage it.
FAKE_NODE=kwok-node-0
FAKE_NODE_SELECTOR=kwok.x-k8s.io/node=fake

# Every daemon the env starts carries this variable, set to the env's state
# directory, in its environment. `down` and the smoke test find leftovers by
# it, even when a pid file was never written.
DAEMON_TAG_VAR=ECSD_K8S_ENV_DAEMON

log() { printf 'k8s-env: %s\n' "$*" >&2; }
die() { printf 'k8s-env: error: %s\n' "$*" >&2; exit 1; }

# Resolve the state directory to an absolute path without requiring it to
# exist, so the daemon tag is the same whichever way the caller spelled it.
env_dir_abs() {
	local d=$ECSD_K8S_ENV_DIR
	case $d in /*) ;; *) d=$PWD/$d ;; esac
	printf '%s\n' "${d%/}"
}

# The etcd data directory lives on /dev/shm (no fsync cost); its name is
# derived from the state directory so two environments never share it.
etcd_data_dir() {
	local base=/dev/shm
	[[ -d $base && -w $base ]] || base=$(env_dir_abs)
	printf '%s/ecsd-k8s-etcd-%s\n' "$base" "$(env_dir_abs | cksum | cut -d' ' -f1)"
}

# True if PID is alive and carries this env's daemon tag: a recycled pid
# that now belongs to someone else is never signalled. A zombie keeps its
# /proc entry but has no environ; it counts as dead.
pid_tagged() { # PID
	tr '\0' '\n' 2>/dev/null <"/proc/$1/environ" | grep -qxF -- "$DAEMON_TAG_VAR=$(env_dir_abs)"
}

# Print the pids of live processes whose environment carries this env's
# daemon tag. Reads /proc directly: no dependency on procps.
tagged_pids() {
	local want p
	want="$DAEMON_TAG_VAR=$(env_dir_abs)"
	for p in /proc/[0-9]*; do
		# A process can vanish between the glob and the read; ignore it.
		if tr '\0' '\n' 2>/dev/null <"$p/environ" | grep -qxF -- "$want"; then
			printf '%s\n' "${p#/proc/}"
		fi
	done
}

# True if something accepts TCP connections on 127.0.0.1:$1.
port_in_use() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Print a candidate port for a daemon, below Linux's default ephemeral range
# (32768-60999) so that outgoing connections rarely hold it. Nothing checks
# that it is free: a check and a later bind race with every other process.
# The daemon binds it itself, and `up` starts it again on another candidate
# when its log says the address is in use (up: start_on_ports).
candidate_port() {
	printf '%s\n' $((20000 + RANDOM % 12000))
}

# True if NAME's log says that a bind found its address in use (Go's
# net.Listen error, as etcd, kube-apiserver and the kubelet print it).
log_says_addr_in_use() { # NAME
	grep -q 'address already in use' "$dir/logs/$1.log" 2>/dev/null
}
