#!/usr/bin/env bash
# Runs each fuzz harness for SECONDS (default 60), one after the other, and prints a table of
# executions and findings. usage: fuzz/run.sh [SECONDS] [HARNESS...]
#   HARNESS: names such as fuzz_npy (default: every fuzz/fuzz_*.c)
#   FUZZ_RUNS=N  also stop a harness after N executions
#   FUZZ_OUT=DIR build folder (default build-fuzz): harnesses, corpora (kept between runs),
#                logs, and findings (crash-*, leak-*, timeout-*, oom-* inputs)
# Harnesses run at the lowest CPU priority (nice 19), one process at a time. Built first when
# missing (fuzz/build.sh). Exits 1 when any harness reported a finding.
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="${FUZZ_OUT:-$root/build-fuzz}"
secs="${1:-60}"
shift || true
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
  for h in "$root"/fuzz/fuzz_*.c; do names+=("$(basename "${h%.c}")"); done
fi
for n in "${names[@]}"; do
  [ -x "$out/$n" ] || { nice -n 19 bash "$root/fuzz/build.sh" "$out" >/dev/null || exit 2; break; }
done
if [ ! -d "$out/seeds" ]; then
  python3 "$root/fuzz/make_seeds.py" "$out/seeds" || exit 2
fi

# Per harness: the largest input tried (bytes), and a dictionary of the format's tokens.
max_len() {
  case "$1" in
    fuzz_tokenizer) echo 4096 ;;
    fuzz_config | fuzz_openclip | fuzz_npy | fuzz_kcache) echo 8192 ;;
    fuzz_index) echo 16384 ;;
    fuzz_safetensors) echo 32768 ;;
    fuzz_image) echo 65536 ;;
    fuzz_bpe) echo 600000 ;;
    *) echo 16384 ;;
  esac
}

printf '%-18s %8s %14s %10s %8s %9s\n' harness seconds executions exec/s corpus findings
status=0
for n in "${names[@]}"; do
  corpus="$out/corpus/$n" finds="$out/findings/$n"
  mkdir -p "$corpus" "$finds" "$out/logs"
  [ -d "$out/seeds/$n" ] && cp -n "$out/seeds/$n"/* "$corpus"/ 2>/dev/null
  dict=()
  [ -f "$root/fuzz/$n.dict" ] && dict=(-dict="$root/fuzz/$n.dict")
  runs=()
  [ -n "${FUZZ_RUNS:-}" ] && runs=(-runs="$FUZZ_RUNS")
  before=$(ls "$finds" | wc -l)
  start=$(date +%s)
  # detect_leaks: every input is checked for leaks; timeout: seconds per input
  ASAN_OPTIONS="detect_leaks=1:allocator_may_return_null=1" UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
    nice -n 19 "$out/$n" "$corpus" "${dict[@]}" "${runs[@]}" -max_total_time="$secs" -timeout=10 \
    -rss_limit_mb=2048 -malloc_limit_mb=64 -max_len="$(max_len "$n")" -print_final_stats=1 \
    -artifact_prefix="$finds/" >"$out/logs/$n.log" 2>&1
  rc=$?
  el=$(( $(date +%s) - start ))
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$out/logs/$n.log" | tail -1 | grep -o '[0-9]*$')
  nfiles=$(ls "$corpus" | wc -l)
  after=$(ls "$finds" | wc -l)
  found=$((after - before))
  [ "$rc" -ne 0 ] && [ "$found" -eq 0 ] && found="rc=$rc"
  [ "$found" != 0 ] && status=1
  printf '%-18s %8d %14s %10s %8d %9s\n' "$n" "$el" "${execs:-?}" "$(( ${execs:-0} / (el > 0 ? el : 1) ))" "$nfiles" "$found"
done
[ "$status" -ne 0 ] && echo "findings (inputs) are in $out/findings/<harness>/, logs in $out/logs/"
exit $status
