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
eval "$("$root/deploy/local/docker-engine-up")"
ecsd=$("$root/deploy/local/build-release")
exec "$ecsd" serve "$@"
