#!/usr/bin/env bash
# The README's second command: install what is missing, then build and run every test twice — once in a plain
# build, once with AddressSanitizer + UndefinedBehaviorSanitizer — with warnings as errors. Exits non-zero if
# anything fails. Safe to run again.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/deploy/local/install-deps.sh" --test
venv="${ECSD_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/ecsd/venv}"
export PATH="$venv/bin:$PATH"   # the pinned aws CLI, for the e2e suite

run_suite() { # NAME EXTRA_CMAKE_ARGS...
  local name=$1; shift
  local dir="$root/build/$name"
  echo "=== $name: build"
  cmake -S "$root" -B "$dir" -G Ninja -DECSD_WERROR=ON -DECSD_PYTHON="$venv/bin/python" "$@" >/dev/null
  cmake --build "$dir"
  echo "=== $name: test"
  (cd "$dir" && ctest --output-on-failure --timeout 900)
}

run_suite plain -DCMAKE_BUILD_TYPE=RelWithDebInfo
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  run_suite asan -DCMAKE_BUILD_TYPE=Debug -DECSD_SANITIZE=address,undefined
echo "=== all suites passed"
