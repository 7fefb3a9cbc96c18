#!/usr/bin/env bash
# Builds the library, CLI and tests with AddressSanitizer + UndefinedBehaviorSanitizer
# (-DCLIPCL_SANITIZE=ON) and runs the whole test suite on PoCL. Any sanitizer report fails the
# test that produced it: UBSan halts on the first error, LeakSanitizer makes a process (test
# or CLI) exit non-zero. Leaks inside PoCL / LLVM / CLBlast are suppressed by tests/lsan.supp
# (third-party libraries only; each line says why).
# usage: tests/run_sanitized.sh [BUILD_DIR] [ctest arguments...]   (default build-asan)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dir="${1:-$root/build-asan}"
shift || true
cmake -S "$root" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCLIPCL_SANITIZE=ON >/dev/null
cmake --build "$dir" -j"$(nproc)"
# detect_leaks: on (the default on x86-64 Linux, stated for clarity).
# abort_on_error=0 / exitcode: a report ends the process with status 23 rather than a signal.
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:exitcode=23"
# use_tls=0: LeakSanitizer does not treat thread-local storage as roots. GCC 12's LSan walks
# every thread's dynamic-TLS vector and crashed there ("Tracer caught signal 11", exit 23) at
# exit of a CLI run whose PoCL threads had loaded and dropped kernel modules (PoCL dlopens one
# per program). Without TLS roots LSan can only report more, not less: a block reachable only
# from TLS would show up as a leak. clipcl keeps no heap pointers in TLS.
export LSAN_OPTIONS="suppressions=$root/tests/lsan.supp:print_suppressions=0:use_tls=0"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:exitcode=23"
ctest --test-dir "$dir" --output-on-failure "$@"
