#!/usr/bin/env bash
# The main job, end to end: set-up, then train the default preset on Fashion-MNIST and print its
# test accuracy. An interrupted run is resumed; a finished one is not trained again.
# Usage: bash scripts/quickstart.sh [RUN_DIR]   (default runs/default)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
RUN=${1:-runs/default}
VGG=(.venv/bin/vggdeploy)
download=()
[ -e /usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz ] || [ -n "${VGGDEPLOY_DATA:-}" ] \
  || download=(--download)

resume=()
[ -f "$RUN/train_state.json" ] && resume=(--resume)
"${VGG[@]}" train --out "$RUN" "${resume[@]}" "${download[@]}"
