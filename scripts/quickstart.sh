#!/usr/bin/env bash
# The main job, end to end: set-up; train the default preset on Fashion-MNIST (prints its test
# accuracy); export ONNX FP32 + FP16 + INT8 (TensorRT Q/DQ and CPU forms), each verified and its
# accuracy printed; compile an AOTInductor CPU package; then benchmark every backend x precision
# available here and end with the table (also in RUN/bench/: results.json/.csv, report.md, PNGs).
# An interrupted training is resumed and a finished one is not repeated; exports and the package
# are rebuilt only when the checkpoint is newer.
# Usage: bash scripts/quickstart.sh [RUN_DIR]   (default runs/default)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
RUN=${1:-runs/default}
VGG=(.venv/bin/vggdeploy)
data=()
[ -e /usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz ] || [ -n "${VGGDEPLOY_DATA:-}" ] \
  || data=(--download)

echo "== 1/4 train"
resume=()
[ -f "$RUN/train_state.json" ] && resume=(--resume)
"${VGG[@]}" train --out "$RUN" "${resume[@]}" "${data[@]}"

echo "== 2/4 export (ONNX fp32, fp16, int8)"
if [ "$RUN/model.int8-cpu.onnx" -nt "$RUN/model.safetensors" ] \
   && [ "$RUN/model.int8.onnx" -nt "$RUN/model.safetensors" ] \
   && [ "$RUN/model.fp16.onnx" -nt "$RUN/model.safetensors" ]; then
  echo "exports are newer than the checkpoint: kept (delete them to re-export)"
else
  "${VGG[@]}" export "$RUN" --precision all
fi

echo "== 3/4 build (AOTInductor CPU package; TensorRT needs an NVIDIA GPU)"
if [ "$RUN/model.cpu.pt2" -nt "$RUN/model.safetensors" ]; then
  echo "package is newer than the checkpoint: kept"
else
  "${VGG[@]}" build-engine "$RUN" --backend inductor --device cpu -o "$RUN/model.cpu.pt2"
fi

echo "== 4/4 bench"
"${VGG[@]}" bench "$RUN" --batch-sizes 1,32 --iters 60 --warmup 10
