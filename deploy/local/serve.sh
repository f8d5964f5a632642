#!/usr/bin/env bash
# The README's first command: install what is missing, build ecsd (Release), and run `ecsd serve` in the
# foreground with the embedded SQLite state. Extra arguments go to `ecsd serve` (e.g. --listen 0.0.0.0:4566).
# Safe to run again: installs and builds only what changed.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
"$root/deploy/local/install-deps.sh"
cmake -S "$root" -B "$root/build/release" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$root/build/release" --target ecsd
exec "$root/build/release/cmd/ecsd/ecsd" serve "$@"
