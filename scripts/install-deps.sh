#!/usr/bin/env bash
# Installs every Debian package clipcl's build and tests need (Debian 12).
# PoCL gives a CPU OpenCL device, so the tests run on machines without a GPU.
set -euo pipefail
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
  build-essential cmake pkg-config ca-certificates \
  ocl-icd-opencl-dev opencl-c-headers ocl-icd-libopencl1 pocl-opencl-icd clinfo \
  libclblast-dev \
  libstb-dev libjpeg-dev libcjson-dev libutf8proc-dev zlib1g-dev libcurl4-openssl-dev \
  check python3 \
  clang libclang-rt-14-dev >/dev/null
# clang + compiler-rt: libFuzzer harnesses (fuzz/) with ASan/UBSan; CI replays their inputs.
