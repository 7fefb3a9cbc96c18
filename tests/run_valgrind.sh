#!/usr/bin/env bash
# Runs test executables under valgrind memcheck (not in CI: PoCL's kernels run ~50× slower
# under valgrind). Each test runs in-process (CK_FORK=no); an invalid read or write, a use of
# uninitialised memory or a definite / indirect / possible leak fails it (exit 99). PoCL and
# LLVM internals are suppressed by tests/valgrind.supp (third-party code only).
# usage: tests/run_valgrind.sh BUILD_DIR [TEST...]   (default: the fast tests listed below)
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dir="${1:?usage: run_valgrind.sh BUILD_DIR [TEST...]}"
shift
tests=("$@")
[ ${#tests[@]} -eq 0 ] && tests=(test_st test_img test_tok test_labelsets test_hardening test_faults test_model test_kernels)
export CK_FORK=no CK_DEFAULT_TIMEOUT=0
export POCL_CACHE_DIR="$dir/cache/pocl" CLIPCL_CACHE_DIR="$dir/cache/clipcl"
status=0
mkdir -p "$dir/valgrind"
printf '%-18s %8s %s\n' test seconds result
for t in "${tests[@]}"; do
  log="$dir/valgrind/$t.log"
  start=$(date +%s)
  valgrind --tool=memcheck --leak-check=full --show-leak-kinds=definite,indirect,possible \
    --errors-for-leak-kinds=definite,indirect,possible --error-exitcode=99 --track-origins=no \
    --suppressions="$root/tests/valgrind.supp" --gen-suppressions=all --num-callers=30 \
    "$dir/$t" >"$log" 2>&1
  rc=$?
  el=$(( $(date +%s) - start ))
  summary=$(grep -E "ERROR SUMMARY" "$log" | tail -1 | sed 's/^==[0-9]*== //')
  if [ $rc -eq 0 ]; then r="ok ($summary)"; else r="FAILED rc=$rc ($summary) — $log"; status=1; fi
  printf '%-18s %8d %s\n' "$t" "$el" "$r"
done
exit $status
