#!/usr/bin/env bash
# Installs what ecsd needs on a Debian (bookworm or later) machine. Safe to run again: it installs only what is
# missing, and runs `apt-get update` only when it has something to install.
#
#   deploy/local/install-deps.sh          build and run dependencies: what deploy/local/serve.sh and
#                                         deploy/local/docker-engine-up need (busybox-static for its busybox:local
#                                         image, util-linux for setsid; docker.io itself only when no engine
#                                         answers: engine-up installs it then)
#   deploy/local/install-deps.sh --test   also what the test suite needs (cmocka, clang for the fuzzer, a Python
#                                         virtualenv with pinned pytest, boto3 and the AWS CLI, and for the k8s
#                                         env's kubelet mode containerd, runc and the CNI plugins)
set -euo pipefail

want_test=0
[ "${1:-}" = "--test" ] && want_test=1
root=$(cd "$(dirname "$0")/../.." && pwd)

packages=(build-essential cmake ninja-build pkg-config git ca-certificates
          libjansson-dev libmicrohttpd-dev libsqlite3-dev libcurl4-openssl-dev libssl-dev libyaml-dev
          busybox-static util-linux iproute2)
if [ "$want_test" = 1 ]; then
  packages+=(libcmocka-dev clang libclang-rt-14-dev python3 python3-venv curl procps openssl)
  # tests/k8s/env kubelet mode (`up --kubelet`): a containerd + kubelet node. containerd and runc are also what
  # Debian's docker.io brings; busybox-static (installed above) goes into its busybox image, iproute2 makes the pod
  # bridge.
  packages+=(containerd runc containernetworking-plugins iproute2)
  # tests/deploy/kind-files-test checks deploy/kind/up with it.
  packages+=(shellcheck)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  echo "install-deps: installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ "$want_test" = 1 ]; then
  # The test clients live in their own virtualenv, pinned, so the suite does not depend on what the machine's
  # Python happens to have.
  venv="${ECSD_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/ecsd/venv}"
  req="$root/tests/e2e/requirements.txt"
  stamp="$venv/.requirements"
  if [ ! -x "$venv/bin/python" ] || ! cmp -s "$req" "$stamp"; then
    echo "install-deps: preparing the test virtualenv in $venv"
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$req"
    cp "$req" "$stamp"
  fi
fi
