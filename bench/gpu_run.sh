#!/usr/bin/env bash
# On the GPU machine, from the repository root, with .devrun/ and build/ carried over (nothing
# is built here): device list, correctness on the GPU, the benchmark with per-op profile, and
# the PyTorch comparison on the same card, all in one go. Results go to $OUT (default ./gpu-out).
set -uo pipefail
OUT=${OUT:-gpu-out}
mkdir -p "$OUT"
run() { bash .devrun/opencl-nvidia.sh "$@"; }
B=build/clipcl
export XDG_CACHE_HOME=${XDG_CACHE_HOME:-/tmp/clipcl-cache}
{
  date -u; nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null
  run .devrun/bin/clinfo -l
  run $B devices
} > "$OUT/device.txt" 2>&1
cat "$OUT/device.txt"
# exactness on the GPU
run $B verify -m tests/data/tiny-quickgelu tests/data/tiny-quickgelu/reference.safetensors -d gpu | tee "$OUT/verify.txt"
# throughput: ViT-B/32 fp32 at the batch sizes, per-op profile, cold start
run $B bench --arch ViT-B/32 -d gpu --batch-sizes 1,8,64,256 --runs 20 --max-seconds 20 --profile --cold-start \
  --json "$OUT/bench.json" --svg "$OUT/bench.svg" -q | tee "$OUT/bench.txt"
# PyTorch on the same card, same run (fp32 with TF32 off)
if python3 -c "import torch, transformers" 2>/dev/null; then
  run python3 bench/compare_pytorch.py --clipcl $B --clipcl-device gpu --device cuda --arch ViT-B/32 \
    --batch-sizes 1,8,64,256 --runs 20 --precision fp32 --json "$OUT/compare.json" | tee "$OUT/compare.txt"
fi
