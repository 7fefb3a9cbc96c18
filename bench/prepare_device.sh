#!/usr/bin/env bash
# Run on the build machine before a GPU run: makes .devrun/ (CLBlast, clinfo and the NVIDIA
# OpenCL runner, from shared/device/prepare.sh) and adds the other shared libraries clipcl
# links that a CUDA container image may lack (cJSON, utf8proc, libjpeg-turbo's libjpeg.so.62). Then build as usual and carry
# .devrun and the build folder to the GPU machine; there run bench/gpu_run.sh.
set -euo pipefail
root=$(git rev-parse --show-toplevel)
bash "$root/../shared/device/prepare.sh"
mkdir -p /tmp/devrun-debs && cd /tmp/devrun-debs
pkgs="libcjson1 libutf8proc2 libjpeg62-turbo"
apt-get download $pkgs >/dev/null 2>&1 || { apt-get update >/dev/null 2>&1; apt-get download $pkgs >/dev/null; }
for f in libcjson1_*.deb libutf8proc2_*.deb libjpeg62-turbo_*.deb; do dpkg -x "$f" x; done
cp -L x/usr/lib/x86_64-linux-gnu/libcjson.so.1 x/usr/lib/x86_64-linux-gnu/libutf8proc.so.2 \
  x/usr/lib/x86_64-linux-gnu/libjpeg.so.62 "$root/.devrun/lib/"
cp "$root/bench/gpu_run.sh" "$root/.devrun/"
echo "ready: $root/.devrun"
