#!/usr/bin/env bash
# The README's second command: install what is missing, then build and run the tests three times, with warnings as
# errors: every test in a plain build and under AddressSanitizer + UndefinedBehaviorSanitizer, then the unit tests,
# the e2e suites on the docker backend and the k8s API and scenario suites under ThreadSanitizer. Every build runs
# even when an earlier one failed; the closing lines say, per build, how many tests passed and which were skipped or
# failed (a skipped suite is never silent). Exits non-zero if anything failed. Safe to run again.
#
#   tests/run-all.sh [BUILD...]    BUILD: plain, asan, tsan (default: all three, in that order)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
builds=" ${*:-plain asan tsan} "
for b in $builds; do
  case $b in plain | asan | tsan) ;; *) echo "usage: $0 [plain|asan|tsan]..." >&2; exit 2 ;; esac
done
"$root/deploy/local/install-deps.sh" --test
venv="${ECSD_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/ecsd/venv}"
export PATH="$venv/bin:$PATH"   # the pinned aws CLI, for the e2e suite

summary=()  # one line per build
counts=""
failed=0
skipped=0

join() { local out; out=$(printf '%s, ' "$@"); echo "${out%, }"; }

# Count ctest's JUnit report into $counts ("P passed, S skipped: name (why), ..., F failed: names") and add the
# skipped ones to $skipped. Skipped: a SKIP_RETURN_CODE exit or a disabled test; a test that did not run for another
# reason (its fixture failed, no executable) counts as failed.
count_results() { # JUNIT_XML
  local xml=$1 name status msg last passed=0
  local -a skip=() fail=()
  if [ ! -s "$xml" ]; then counts="no results: ctest wrote no $xml"; return; fi
  while IFS=$'\t' read -r name status msg last; do
    case $status:$msg in
      run:*) passed=$((passed + 1)) ;;
      fail:*) fail+=("$name") ;;
      notrun:SKIP_*) skip+=("$name (${last:-$msg})") ;;  # the last line a skipped test printed says why
      disabled:*) skip+=("$name (disabled)") ;;
      *) fail+=("$name (did not run: $msg)") ;;         # a failed fixture, a missing executable
    esac
  done < <(awk '
    function unxml(t) { gsub(/&lt;/, "<", t); gsub(/&gt;/, ">", t); gsub(/&quot;/, "\"", t); gsub(/&apos;/, "\047", t)
                        gsub(/&amp;/, "\\&", t); gsub(/\t/, " ", t); return t }
    /<testcase / { name = $0; sub(/.*<testcase name="/, "", name); sub(/".*/, "", name)
                   st = $0; sub(/.* status="/, "", st); sub(/".*/, "", st); msg = ""; last = ""; out = 0 }
    /<skipped message="/ { msg = $0; sub(/.*<skipped message="/, "", msg); sub(/"\/>.*/, "", msg) }
    /<system-out>/ { out = 1 }
    out { t = $0; sub(/.*<system-out>/, "", t); if (sub(/<\/system-out>.*/, "", t)) out = 0; if (t ~ /[^ ]/) last = t }
    /<\/testcase>/ { printf "%s\t%s\t%s\t%s\n", unxml(name), st, unxml(msg), unxml(last) }' "$xml")
  local line="$passed passed"
  if [ ${#skip[@]} -gt 0 ]; then
    line+=", ${#skip[@]} skipped: $(join "${skip[@]}")"
    skipped=$((skipped + ${#skip[@]}))
  fi
  line+=", ${#fail[@]} failed"
  [ ${#fail[@]} -eq 0 ] || line+=": $(join "${fail[@]}")"
  counts=$line
}

run_suite() { # NAME "CTEST_SELECTION" EXTRA_CMAKE_ARGS...
  local name=$1 selection=$2; shift 2
  local dir="$root/build/$name" start=$SECONDS rc=0
  echo "=== $name: build"
  if ! cmake -S "$root" -B "$dir" -G Ninja -DECSD_WERROR=ON -DECSD_PYTHON="$venv/bin/python" "$@" >/dev/null ||
     ! cmake --build "$dir"; then
    summary+=("$name: the build failed, no test ran")
    failed=1
    return 0
  fi
  echo "=== $name: test${selection:+ ($selection)}"
  rm -f "$dir/ctest-junit.xml"
  # shellcheck disable=SC2086 # the selection is ctest flags
  (cd "$dir" && ctest --output-on-failure --timeout 900 --output-junit ctest-junit.xml $selection) || rc=$?
  [ "$rc" = 0 ] || failed=1
  local took=$((SECONDS - start))
  count_results "$dir/ctest-junit.xml"
  [ "$rc" = 0 ] || counts+=", ctest exited $rc"
  summary+=("$name ($((took / 60)) min $((took % 60)) s): $counts")
}

wanted() { [[ " $builds " == *" $1 "* ]]; }

# build/release-fresh and the deploy tests (the image, the chart, the chart on the kubelet node) build and run the
# Release ecsd whatever the build's flags: once, in the plain build.
if wanted plain; then run_suite plain "" -DCMAKE_BUILD_TYPE=RelWithDebInfo; fi
if wanted asan; then
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    run_suite asan "-LE ^(build|deploy)$" -DCMAKE_BUILD_TYPE=Debug -DECSD_SANITIZE=address,undefined
fi
# ThreadSanitizer: the unit tests, the e2e suites on the docker backend (ecsd's threads together: the HTTP pool, the
# lifecycle's task threads, the docker events monitor) and pkg/k8s against its API server (the Pod watch thread).
# tests/tsan.supp holds only races inside uninstrumented system libraries, each with its reason. A report stops the
# process (exit 66), and goes to a file, so one that a harness would not notice (say, while a test stops ecsd) still
# fails the build.
if wanted tsan; then
  tsan_reports="$root/build/tsan/tsan-reports"
  rm -rf "$tsan_reports" && mkdir -p "$tsan_reports"
  TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$root/tests/tsan.supp:log_path=$tsan_reports/report" \
    run_suite tsan "-R ^(unit|e2e)/|^k8s/(api|scenarios)$" -DCMAKE_BUILD_TYPE=Debug -DECSD_SANITIZE=thread
  reports=("$tsan_reports"/report.*)
  if [ -e "${reports[0]}" ]; then
    cat "${reports[@]}"
    summary+=("tsan: ${#reports[@]} ThreadSanitizer report(s), printed above (files in $tsan_reports)")
    failed=1
  fi
fi

for line in "${summary[@]}"; do echo "=== $line"; done
if [ "$failed" != 0 ]; then
  echo "=== FAILED (see the builds above)"
  exit 1
elif [ "$skipped" != 0 ]; then
  echo "=== every test that ran passed; $skipped skipped (listed above): not all suites passed"
else
  echo "=== all suites passed"
fi
