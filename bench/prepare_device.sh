#!/usr/bin/env bash
# Run on the build machine before a GPU run, after building (default folder: build):
#   bash bench/prepare_device.sh [BUILD_DIR]
# Makes .devrun/ (ignored by git), the one folder to carry to the GPU machine:
#   lib/       CLBlast (from shared/device/prepare.sh), cJSON, utf8proc, libjpeg-turbo: Debian's
#              shared libraries that a CUDA container image lacks
#   bins.tar.xz  clipcl, the GPU-relevant test programs, cltrace.so and bench_gemm, stripped
#              (the working tree plus carried files must stay under the device tool's 64 MiB)
#   fallback.tar.xz  every other non-glibc library those programs link (libcurl and its
#              dependencies, the OpenCL ICD loader, libsubunit, ...); gpu_run.sh unpacks only
#              the ones the GPU machine turns out to lack
#   gpu_run.sh, opencl-nvidia.sh, bin/clinfo
# There: bash .devrun/gpu_run.sh (nothing is built on the GPU machine).
set -euo pipefail
root=$(git rev-parse --show-toplevel)
build=$(cd "${1:-$root/build}" && pwd)
bash "$root/../shared/device/prepare.sh"
dev="$root/.devrun"
mkdir -p /tmp/devrun-debs && cd /tmp/devrun-debs
pkgs="libcjson1 libutf8proc2 libjpeg62-turbo"
apt-get download $pkgs >/dev/null 2>&1 || { apt-get update >/dev/null 2>&1; apt-get download $pkgs >/dev/null; }
for f in libcjson1_*.deb libutf8proc2_*.deb libjpeg62-turbo_*.deb; do dpkg -x "$f" x; done
cp -L x/usr/lib/x86_64-linux-gnu/libcjson.so.1 x/usr/lib/x86_64-linux-gnu/libutf8proc.so.2 \
  x/usr/lib/x86_64-linux-gnu/libjpeg.so.62 "$dev/lib/"

progs="clipcl test_kernels test_refclip test_synth test_tune test_conv test_shapes test_model test_threads cltrace.so bench_gemm"
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/bin" "$stage/fb"
for p in $progs; do
  [ -x "$build/$p" ] || { echo "prepare_device: $build/$p is missing: build first" >&2; exit 1; }
  strip -o "$stage/bin/$p" "$build/$p"
  # glibc and the loader come with every Linux; everything else may be missing there
  ldd "$build/$p" | awk '$2 == "=>" && $3 ~ /^\// {print $3}' |
    grep -Ev '/(libc|libm|libdl|librt|libpthread|ld-linux[^/]*)\.so' | while read -r l; do
      cp -Ln "$l" "$stage/fb/" 2>/dev/null || true
    done
done
tar -C "$stage/bin" -cJf "$dev/bins.tar.xz" .
tar -C "$stage/fb" -cJf "$dev/fallback.tar.xz" .
cp "$root/bench/gpu_run.sh" "$dev/"
du -sh "$dev"
echo "ready: $dev (carry it: run with carry [\".devrun\"], command: bash .devrun/gpu_run.sh)"
