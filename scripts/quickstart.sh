#!/usr/bin/env bash
# The main job, end to end: set-up; train the default preset on Fashion-MNIST (prints its test
# accuracy); export ONNX FP32 + FP16 + INT8 (TensorRT Q/DQ and CPU forms), each verified and its
# accuracy printed; compile an AOTInductor CPU package; then benchmark every backend x precision
# available here and end with the table (also in RUN/bench/: results.json/.csv, report.md, PNGs).
# An interrupted training is resumed and a finished one is not repeated; exports and the package
# are rebuilt only when the checkpoint is newer. On a CPU with OpenVINO installed (set-up installs
# the extra) an NNCF INT8 OpenVINO IR is built too.
# With a CUDA GPU (torch.cuda.is_available()): training runs on the GPU, TensorRT FP16 and INT8
# engines are built when `import tensorrt` works (an AOTInductor CUDA package otherwise), and the
# bench measures the GPU rows (torch CUDA, ONNX Runtime CUDA EP when onnxruntime-gpu is installed,
# TensorRT, inductor CUDA). Without one, everything runs on the CPU.
# Usage: bash scripts/quickstart.sh [RUN_DIR]   (default runs/default)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
RUN=${1:-runs/default}
VGG=(.venv/bin/vggdeploy)
PY=.venv/bin/python
device=cpu
if "$PY" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
  device=cuda
fi
trt=0
if [ "$device" = cuda ] && "$PY" -c 'import tensorrt' >/dev/null 2>&1; then trt=1; fi
echo "device: $device$([ "$trt" = 1 ] && echo ' (TensorRT found)')"
data=()
[ -e /usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz ] || [ -n "${VGGDEPLOY_DATA:-}" ] \
  || data=(--download)

echo "== 1/4 train"
resume=()
[ -f "$RUN/train_state.json" ] && resume=(--resume)
"${VGG[@]}" train --out "$RUN" --device "$device" "${resume[@]}" "${data[@]}"

echo "== 2/4 export (ONNX fp32, fp16, int8)"
if [ "$RUN/model.int8-cpu.onnx" -nt "$RUN/model.safetensors" ] \
   && [ "$RUN/model.int8.onnx" -nt "$RUN/model.safetensors" ] \
   && [ "$RUN/model.fp16.onnx" -nt "$RUN/model.safetensors" ]; then
  echo "exports are newer than the checkpoint: kept (delete them to re-export)"
else
  "${VGG[@]}" export "$RUN" --precision all
fi

echo "== 3/4 build (TensorRT engines on a GPU with TensorRT; AOTInductor package otherwise)"
built() { [ "$1" -nt "$RUN/model.safetensors" ] && echo "$1 is newer than the checkpoint: kept"; }
if [ "$trt" = 1 ]; then
  for prec in fp16 int8; do
    engine="$RUN/engines/default.$prec.engine"
    built "$engine" || "${VGG[@]}" build-engine "$RUN/model.onnx" --"$prec" -o "$engine"
  done
else
  package="$RUN/model.$device.pt2"
  built "$package" \
    || "${VGG[@]}" build-engine "$RUN" --backend inductor --device "$device" -o "$package"
fi
if [ "$device" = cpu ] && "$PY" -c 'import openvino' >/dev/null 2>&1; then
  # the CPU's fastest INT8 engine here (benchmarks/CPU_PEERS.md): an NNCF INT8 OpenVINO IR
  ir="$RUN/openvino/model.int8.xml"
  built "$ir" || "${VGG[@]}" build-engine "$RUN" --backend openvino --int8
fi

echo "== 4/4 bench"
"${VGG[@]}" bench "$RUN" --device "$device" --batch-sizes 1,32 --iters 60 --warmup 10
