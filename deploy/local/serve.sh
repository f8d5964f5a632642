#!/usr/bin/env bash
# The README's first command: install what is missing, make a Docker engine reachable (the one in $DOCKER_HOST or
# on the default socket, else Debian's docker.io started as a private dockerd, see docker-engine-up), build ecsd
# alone in Release (deploy/local/build-release: the tests are off, so no test dependency is looked for), and run
# `ecsd serve` in the foreground on the docker backend with the embedded SQLite state. Extra arguments go to
# `ecsd serve` (e.g. --listen 0.0.0.0:4566). Safe to run again: installs and builds only what changed, and reuses
# a running engine.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
"$root/deploy/local/install-deps.sh"
# Assigned first, so that set -e stops here when no engine can be made reachable (an eval of a failed command
# substitution would go on without one).
engine_env=$("$root/deploy/local/docker-engine-up")
eval "$engine_env"
ecsd=$("$root/deploy/local/build-release")

# Task credentials: ecsd serves them at 169.254.170.2, the address ECS uses, and containers reach it through their
# default route once the host has that address. ecsd never changes the host's network itself; this step adds the
# address (once: it is left in place) as root or through sudo. Without it ecsd warns and tasks with a task role get
# no credentials.
creds_addr=169.254.170.2
if ! command -v ip >/dev/null; then
	echo "serve.sh: no 'ip' command (Debian: iproute2): not adding $creds_addr; tasks with a task role get no credentials"
elif ip -4 -o addr show dev lo | grep -qF " $creds_addr/"; then
	echo "serve.sh: $creds_addr is already on lo (task credentials)"
elif (($(id -u) == 0)); then
	ip addr add "$creds_addr/32" dev lo
	echo "serve.sh: added $creds_addr/32 to lo, where containers get task credentials as on ECS"
elif command -v sudo >/dev/null; then
	echo "serve.sh: adding $creds_addr/32 to lo with sudo (where containers get task credentials, as on ECS)"
	if sudo ip addr add "$creds_addr/32" dev lo; then
		echo "serve.sh: added $creds_addr/32 to lo"
	else
		echo "serve.sh: could not add $creds_addr; tasks with a task role get no credentials"
	fi
else
	echo "serve.sh: not root and no sudo: tasks with a task role get no credentials (as root: ip addr add $creds_addr/32 dev lo)"
fi
exec "$ecsd" serve "$@"
