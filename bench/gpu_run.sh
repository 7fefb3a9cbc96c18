#!/usr/bin/env bash
# On the GPU machine, from the repository root, with .devrun/ carried over (made by
# bench/prepare_device.sh; nothing is built here), in one go:
#   1. the device, and the libraries the machine lacks (taken from .devrun/fallback.tar.xz)
#   2. correctness on the GPU: the kernel, model and GEMM-parameter tests, and `clipcl verify`
#      of the tiny models against Hugging Face's outputs
#   3. with DEFAULT=1 only (the fifth session has these numbers): `clipcl bench` of ViT-B/32 fp32
#      with CLBlast's own GEMM parameters (per-op profile, cold start)
#   4. `clipcl tune` at the model's shapes (batch 1 and 256; in-process when the workers cannot
#      open the device), then the bench and PyTorch on the same card (fp32, TF32 off),
#      clipcl's tiled GEMM for many tokens off and on, its GEMM for few tokens off and on, batch 1 alone, device time per kernel name
#      (cltrace.so) at batch 1 and the largest batch, fp16 weight storage, images handed over
#      as bytes (--rgb8), and last CLBlast's SGEMM in three operand layouts (bench_gemm)
# Results and logs go to $OUT (default ./gpu-out); a short table is printed last.
# Knobs for a dry run on another device: RUNNER (default: the NVIDIA OpenCL wrapper),
# DEV (gpu), SIZES (1,8,64,256), TUNE_BUDGET (seconds, 100), TESTS (program names), TORCH_DEV (cuda),
# DEFAULT (0; 1: also measure CLBlast's own parameters first), TORCH_BOTH (0: PyTorch after tuning only),
# TUNE_FLAGS (extra `clipcl tune` options, e.g. --in-process), TOTAL (seconds, 540: the device
# tool's 600 s per command, less the packing at the end; a step gets at most what is left of
# it and is skipped when nothing is, and the tuner's budget shrinks to fit).
set -uo pipefail
OUT=${OUT:-gpu-out}
mkdir -p "$OUT"
RUNNER=${RUNNER-bash .devrun/opencl-nvidia.sh}
DEV=${DEV:-gpu}
SIZES=${SIZES:-1,8,64,256}
MAXB=${SIZES##*,}
TUNE_BUDGET=${TUNE_BUDGET:-100}
TOTAL=${TOTAL:-540}
TESTS=${TESTS-test_kernels test_refclip test_synth test_tune test_conv test_shapes test_model test_threads}
TORCH_DEV=${TORCH_DEV:-cuda}
export XDG_CACHE_HOME=${XDG_CACHE_HOME:-/tmp/clipcl-cache}
export PYTHONUNBUFFERED=1
B=.devrun/bin/clipcl
LOG="$OUT/log.txt"
SUM="$OUT/summary.txt"
: >"$SUM"
t0=$(date +%s)
say() { echo "[$(($(date +%s) - t0))s] $*" | tee -a "$LOG" "$SUM"; }
run() { $RUNNER "$@"; }
# step NAME SECONDS CMD...: runs CMD under a time limit, output into $OUT/NAME.txt and the log
left() { echo $((TOTAL - ($(date +%s) - t0))); }
step() {
  local name=$1 secs=$2
  shift 2
  local l
  l=$(left)
  if [ "$l" -lt 15 ]; then
    say "$name: skipped (the run's $TOTAL s are spent)"
    return 1
  fi
  [ "$secs" -gt "$l" ] && secs=$l
  echo "=== $name: $*" >>"$LOG"
  timeout -k 5 "$secs" "$@" >"$OUT/$name.txt" 2>&1
  local rc=$?
  cat "$OUT/$name.txt" >>"$LOG"
  say "$name: exit $rc"
  return $rc
}

# ---------------------------------------------------------------- 1. programs and libraries
mkdir -p .devrun/bin
untar() { tar -C "$2" -xJf "$1" 2>/dev/null || python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' "$1" "$2"; }
untar .devrun/bins.tar.xz .devrun/bin
for pass in 1 2 3 4 5; do
  missing=$(for p in .devrun/bin/*; do LD_LIBRARY_PATH=.devrun/lib ldd "$p" 2>/dev/null; done |
    awk '/not found/ {print $1}' | sort -u)
  [ -z "$missing" ] && break
  say "missing here: $(echo $missing)"
  [ -d .devrun/fb ] || { mkdir -p .devrun/fb && untar .devrun/fallback.tar.xz .devrun/fb; }
  for l in $missing; do cp .devrun/fb/"$l" .devrun/lib/ 2>/dev/null || say "no fallback for $l"; done
done
# the test programs find their data at the build machine's path
src=$(grep -aoE -m1 '/[[:alnum:]_./-]*/tests/data' .devrun/bin/test_refclip | head -n 1)
if [ -n "$src" ] && [ ! -e "$src" ]; then
  mkdir -p "$(dirname "${src%/tests/data}")" && ln -s "$PWD" "${src%/tests/data}"
fi
# ... and the CLI at the build folder's path
exe=$(grep -aoE -m1 '/[[:alnum:]_./-]*/clipcl' .devrun/bin/test_synth | grep -v '/tests/' | head -n 1)
if [ -n "$exe" ] && [ ! -e "$exe" ]; then mkdir -p "$(dirname "$exe")" && ln -s "$PWD/$B" "$exe"; fi
{
  date -u
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm,compute_mode --format=csv,noheader 2>/dev/null
  run .devrun/bin/clinfo -l
  run $B devices
  run $B tune --show -d "$DEV"
} >"$OUT/device.txt" 2>&1
cat "$OUT/device.txt" | tee -a "$LOG"
head -3 "$OUT/device.txt" >>"$SUM"
# why a child of clipcl may not see the device (tune's workers, bench's cold start): the ICD
# loader's own account, in a process started here and in a tune worker
{
  ldconfig -p | grep -i opencl
  ls -l /etc/OpenCL/vendors/ 2>&1
  echo "--- clipcl devices"
  OCL_ICD_DEBUG=15 $RUNNER $B devices 2>&1 | head -n 60
  echo "--- tune worker"
  OCL_ICD_DEBUG=15 $RUNNER $B tune --arch ViT-B/32 -d "$DEV" --tower image --batch 1 --budget 1 --no-save 2>&1 | head -n 80
} >"$OUT/diag-children.txt" 2>&1

# ---------------------------------------------------------------- 2. correctness on the device
export CK_DEFAULT_TIMEOUT=120
for t in $TESTS; do
  step "$t" 120 $RUNNER .devrun/bin/"$t"
  grep -E '^[0-9]+%: Checks|:[FE]:' "$OUT/$t.txt" | head -n 8 | tee -a "$SUM"
done
for m in tiny-quickgelu tiny-gelu; do
  step "verify-$m" 120 $RUNNER $B verify -m tests/data/$m tests/data/$m/reference.safetensors -d "$DEV"
  tail -n 1 "$OUT/verify-$m.txt" >>"$SUM"
done

# ---------------------------------------------------------------- 3. CLBlast's parameters
bench() { # NAME ARGS...: ViT-B/32 bench on the device
  local name=$1
  shift
  step "$name" 240 $RUNNER $B bench --arch ViT-B/32 -d "$DEV" --runs 20 --max-seconds 5 -q \
    --json "$OUT/$name.json" "$@"
}
torch() { # NAME CLIPCL_JSON
  command -v python3 >/dev/null && python3 -c "import torch, transformers" 2>/dev/null || {
    say "$1: no torch/transformers here"
    return 1
  }
  step "$1" 240 python3 bench/compare_pytorch.py --clipcl-json "$2" --device "$TORCH_DEV" --arch ViT-B/32 \
    --batch-sizes "$SIZES" --runs 20 --max-seconds 5 --precision fp32 --json "$OUT/$1.json"
  tail -n 9 "$OUT/$1.txt" >>"$SUM"
}
if [ "${DEFAULT:-0}" = 1 ]; then
  CLIPCL_TUNING=0 bench bench-default --batch-sizes "$SIZES" --profile --cold-start --svg "$OUT/bench-default.svg"
  CLIPCL_TUNING=0 bench bench-default-b1 --batch-sizes 1 --runs 50 --profile
  [ "${TORCH_BOTH:-0}" = 1 ] && torch torch-default "$OUT/bench-default.json"
fi

# ---------------------------------------------------------------- 4. tuned
l=$(left)
[ "$TUNE_BUDGET" -gt $((l - 370)) ] && TUNE_BUDGET=$((l - 370)) # leave room for the measurements after it
[ "$TUNE_BUDGET" -lt 30 ] && TUNE_BUDGET=30
step tune $((TUNE_BUDGET + 150)) $RUNNER $B tune --arch ViT-B/32 -d "$DEV" --batch "$MAXB" --budget "$TUNE_BUDGET" \
  ${TUNE_FLAGS:-}
if grep -q "try --in-process" "$OUT/tune.txt"; then # workers could not open the device
  step tune-in-process $((TUNE_BUDGET + 150)) $RUNNER $B tune --arch ViT-B/32 -d "$DEV" --batch "$MAXB" \
    --budget "$TUNE_BUDGET" --in-process ${TUNE_FLAGS:-}
  cat "$OUT/tune-in-process.txt" >>"$OUT/tune.txt"
fi
sed -n "/clipcl's own kernel for few/,/final check/p" "$OUT/tune.txt" >>"$SUM" # clipcl's kernels per product
tail -n 30 "$OUT/tune.txt" >>"$SUM"
cat "$XDG_CACHE_HOME"/clipcl/tuning/*.txt >"$OUT/tuning.txt" 2>/dev/null
bench bench-tuned --batch-sizes "$SIZES" --profile --cold-start --svg "$OUT/bench-tuned.svg"
torch torch-tuned "$OUT/bench-tuned.json"
# clipcl's tiled kernel for many tokens (gemm_fm_tile, its default sizes unless the tuner
# stored others) against CLBlast's, whatever the tuner chose: off, then on every product
# over more tokens than the few-token kernel takes
for s in 0 1; do
  CLIPCL_GEMM_TILE=$s bench "bench-tile-$s" --batch-sizes "64,$MAXB" --profile
done
# clipcl's own kernel for products over few tokens (cl/gemm.cl) against CLBlast's, whatever
# the tuner chose: off, then on up to 512 tokens (batch 1 and 8), fp32 and fp16 weights
for s in 0 512; do
  CLIPCL_GEMM_SMALL=$s bench "bench-small-$s" --batch-sizes 1,8 --profile
done
CLIPCL_GEMM_SMALL=512 bench bench-small-fp16 --batch-sizes 1 --precision fp16
bench bench-tuned-b1 --batch-sizes 1 --runs 50 --profile
# device time per kernel name, CLBlast's copy kernels included (bench/cltrace.c)
for b in 1 "$MAXB"; do
  step "trace-$b" 240 $RUNNER env LD_PRELOAD="$PWD/.devrun/bin/cltrace.so" $B bench --arch ViT-B/32 -d "$DEV" \
    --tower image --batch-sizes "$b" --runs 10 --max-seconds 5 -q
  { echo "--- kernels, image batch $b"; grep '^cltrace:' "$OUT/trace-$b.txt"; } >>"$SUM"
done
bench bench-fp16 --batch-sizes "1,$MAXB" --precision fp16
bench bench-rgb8 --batch-sizes "1,$MAXB" --tower image --rgb8 --profile
# CLBlast's own SGEMM at batch 256's block products in three operand layouts (bench_gemm,
# without the library): cm = the old row-major activations' call, fm = ops_gemm_fm's form for
# GEMMK=1 kernels, fm0 = its form for GEMMK=0 (weights [in, out]; NVIDIA's default kernel)
step gemm-layouts 120 $RUNNER sh -c 'for l in cm fm fm0; do .devrun/bin/bench_gemm -d 0 -l $l -c 200x96x64 &&
  .devrun/bin/bench_gemm -d 0 -l $l -r 5 12800x2304x768 12800x768x768 12800x3072x768 12800x768x3072; done'
{ echo "--- GEMM layouts, CLBlast's parameters"; grep -E '^[0-9]+x' "$OUT/gemm-layouts.txt"; } >>"$SUM"

# ---------------------------------------------------------------- table
say "done"
for f in bench-default bench-default-b1 bench-tuned bench-tuned-b1 bench-tile-0 bench-tile-1 bench-small-0 \
  bench-small-512 bench-small-fp16 bench-fp16 bench-rgb8; do
  [ -f "$OUT/$f.txt" ] && { echo "--- $f"; grep -v '^$' "$OUT/$f.txt"; } >>"$SUM"
done
# the device tool brings back 8 files: the logs travel as one archive
tar -C "$OUT" -czf /tmp/gpu-logs.tgz . 2>/dev/null && mv /tmp/gpu-logs.tgz "$OUT/logs.tgz"
keep=" summary.txt logs.tgz tuning.txt bench-tuned.json bench-tuned.svg torch-default.json torch-tuned.json "
for f in "$OUT"/*; do case $keep in *" $(basename "$f") "*) ;; *) rm -rf "$f" ;; esac; done
cat "$SUM"
