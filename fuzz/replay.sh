#!/usr/bin/env bash
# Runs every fuzz harness once over its seed corpus and its regression inputs
# (fuzz/regressions/<harness>/: one file per past finding) — a quick check, for CI, that no
# finding has come back. Builds the harnesses first when missing. Exits non-zero on any crash,
# sanitizer report, leak, allocation above 64 MiB or input slower than 10 s.
# usage: fuzz/replay.sh [BUILD_DIR]   (default build-fuzz)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-$root/build-fuzz}"
bash "$root/fuzz/build.sh" "$out" >/dev/null
rm -rf "$out/seeds" && python3 "$root/fuzz/make_seeds.py" "$out/seeds"
status=0
for h in "$root"/fuzz/fuzz_*.c; do
  n="$(basename "${h%.c}")"
  dirs=()
  [ -d "$out/seeds/$n" ] && dirs+=("$out/seeds/$n")
  [ -d "$root/fuzz/regressions/$n" ] && dirs+=("$root/fuzz/regressions/$n")
  count=$(find "${dirs[@]}" -type f | wc -l)
  if ASAN_OPTIONS="detect_leaks=1" UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
    "$out/$n" -runs=0 -timeout=10 -malloc_limit_mb=64 -rss_limit_mb=2048 "${dirs[@]}" >"$out/replay-$n.log" 2>&1; then
    echo "$n: $count inputs ok"
  else
    echo "$n: FAILED (log: $out/replay-$n.log)"
    tail -30 "$out/replay-$n.log"
    status=1
  fi
done
exit $status
