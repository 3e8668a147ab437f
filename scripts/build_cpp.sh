#!/usr/bin/env bash
# Build the C++ runners (cpp/) into cpp/build: vgg_aoti against the installed torch wheel's
# libtorch, vgg_trt where TensorRT is found. Idempotent: re-running only rebuilds what changed.
# Usage: scripts/build_cpp.sh [extra cmake -D options]   (PYTHON=... picks the interpreter; JOBS=N)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}"
TORCH_PREFIX="$("$PYTHON" -c 'import torch; print(torch.utils.cmake_prefix_path)')"
cmake -S cpp -B cpp/build -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$TORCH_PREFIX" "$@"
cmake --build cpp/build -j"${JOBS:-2}"
