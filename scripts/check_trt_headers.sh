#!/usr/bin/env bash
# Compile-check cpp/trt_runner.cpp (+ the shared code it uses) against one set of TensorRT headers,
# without TensorRT libraries or a GPU: g++ -std=c++17 -fsyntax-only -Wall -Wextra.
#
# Usage: scripts/check_trt_headers.sh TRT_INCLUDE CUDA_INCLUDE
#   TRT_INCLUDE   a folder with NvInfer.h, e.g. NVIDIA/TensorRT's include/ at a release tag:
#                   git clone --depth 1 --branch v10.16 https://github.com/NVIDIA/TensorRT /tmp/trt10
#                   git clone --depth 1 --branch v11.1  https://github.com/NVIDIA/TensorRT /tmp/trt11
#                 (or git archive v11.1 include | tar -x -C /tmp/trt11 from an existing clone)
#   CUDA_INCLUDE  a folder with cuda_runtime_api.h, e.g. from NVIDIA's wheel on PyPI:
#                   pip download --no-deps -d /tmp/cuda nvidia-cuda-runtime-cu12
#                   unzip -q /tmp/cuda/nvidia_cuda_runtime_cu12-*.whl -d /tmp/cuda
#                   -> /tmp/cuda/nvidia/cuda_runtime/include
# Needs g++, nlohmann-json3-dev and libssl-dev (scripts/setup.sh). Prints the TensorRT version
# found and "ok"; exits non-zero with the compiler's messages otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -ne 2 ]; then
  sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
fi
trt_include=$1
cuda_include=$2
for f in "$trt_include/NvInfer.h" "$trt_include/NvInferVersion.h" "$cuda_include/cuda_runtime_api.h"; do
  [ -f "$f" ] || { echo "check_trt_headers: $f not found" >&2; exit 2; }
done
version=$(awk '/#define (NV_TENSORRT|TRT)_(MAJOR|MINOR|PATCH)(_ENTERPRISE)? +[0-9]/ {print $3}' \
  "$trt_include/NvInferVersion.h" | head -3 | paste -sd.)
CXX=${CXX:-g++}
for src in cpp/trt_runner.cpp cpp/common.cpp cpp/sidecar.cpp; do
  "$CXX" -std=c++17 -fsyntax-only -Wall -Wextra -Icpp -isystem "$trt_include" \
    -isystem "$cuda_include" "$src"
done
echo "trt_runner.cpp compiles against TensorRT ${version:-?} headers ($trt_include): ok"
