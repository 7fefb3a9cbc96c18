#!/usr/bin/env bash
# Builds with ThreadSanitizer (-DCLIPCL_TSAN=ON) and runs the tests that use threads: several
# contexts encoding at once, one context shared under the documented rule, the tokenizer and
# images shared read-only, and the fault hook's counter (test_threads, test_faults). Any data
# race report fails the test (exitcode 66). PoCL, LLVM and CLBlast are not instrumented, and
# their locks (pthread, intercepted) are all TSan needs to order our accesses around the
# queue; the one suppression (tests/tsan.supp) ignores calls made from inside LLVM, whose
# own synchronisation TSan cannot see. CI runs it (about 3 minutes with the build);
# docs/HARDENING.md.
# usage: tests/run_tsan.sh [BUILD_DIR] [ctest arguments...]   (default build-tsan)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dir="${1:-$root/build-tsan}"
shift || true
cmake -S "$root" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCLIPCL_TSAN=ON >/dev/null
cmake --build "$dir" -j"$(nproc)" --target test_threads test_faults clipcl_cli
export TSAN_OPTIONS="exitcode=66:halt_on_error=0:second_deadlock_stack=1:suppressions=$root/tests/tsan.supp"
if [ $# -eq 0 ]; then set -- -R '^(test_threads|test_faults)$'; fi
ctest --test-dir "$dir" --output-on-failure "$@"
