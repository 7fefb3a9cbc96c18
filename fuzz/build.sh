#!/usr/bin/env bash
# Builds the libFuzzer harnesses (fuzz/fuzz_*.c) with clang, AddressSanitizer and
# UndefinedBehaviorSanitizer against the library's parsing sources (no OpenCL device is used).
# usage: fuzz/build.sh [OUT_DIR]   (default: build-fuzz beside fuzz/)
# Needs clang and its compiler-rt (Debian: clang libclang-rt-14-dev).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-$root/build-fuzz}"
mkdir -p "$out/obj"
CC="${CC:-clang}"
stb="$(for d in /usr/include/stb /usr/include /usr/local/include; do [ -f "$d/stb_image.h" ] && echo "$d" && break; done)"
[ -n "$stb" ] || { echo "build.sh: stb_image.h not found (Debian: libstb-dev)" >&2; exit 1; }
SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
CFLAGS="-std=c11 -O2 -g $SAN -D_GNU_SOURCE -DCL_TARGET_OPENCL_VERSION=120 \
  -I$root/include -I$root/host -I$root/host/cli -I$stb $(pkg-config --cflags libcjson libutf8proc zlib libjpeg OpenCL)"
# Images above 4096 per side or 2^20 pixels are refused in this build (the library's limits are
# 32768 and 2^28): the same checks, at sizes that decode in milliseconds.
IMGDEF="-DIMG_LIMIT_SIDE=4096 -DIMG_LIMIT_PIXELS=1048576u"
LIBS="$(pkg-config --libs libcjson libutf8proc zlib libjpeg OpenCL) -lm"

# The embedded BPE vocabulary (tok.c's default tokenizer), as CMake generates it.
"$CC" -O1 -o "$out/embedfile" "$root/cmake/embedfile.c"
"$out/embedfile" "$out/embedded.c" bpe_vocab_gz "$root/host/data/bpe_simple_vocab_16e6.txt.gz"

objs=()
for src in host/err.c host/st.c host/cfg.c host/arch.c host/tok.c host/img.c host/img_jpeg.c host/img_limits.c host/img_resample.c \
           host/kcache.c host/cli/npy.c host/cli/index_file.c; do
  o="$out/obj/$(basename "${src%.c}").o"
  # The tokenizer's Unicode tables are binary-searched on every character: tracing those
  # comparisons for the fuzzer costs more than it guides, so tok.c keeps edge coverage only.
  extra=""
  [ "$src" = host/tok.c ] && extra="-fno-sanitize-coverage=trace-cmp"
  "$CC" $CFLAGS $IMGDEF -fsanitize=fuzzer-no-link $extra -w -c "$root/$src" -o "$o"
  objs+=("$o")
done
"$CC" $CFLAGS -c "$out/embedded.c" -o "$out/obj/embedded.o"
objs+=("$out/obj/embedded.o")

for h in "$root"/fuzz/fuzz_*.c; do
  name="$(basename "${h%.c}")"
  "$CC" $CFLAGS -fsanitize=fuzzer -Wall -Wextra -Wno-unused-parameter "$h" "${objs[@]}" $LIBS -o "$out/$name"
  echo "built $out/$name"
done
