#!/usr/bin/env bash
# Idempotent set-up: virtual env, PyTorch (CPU build where there is no CUDA GPU), vggdeploy with
# its dev and serve extras, and the Fashion-MNIST data (Debian package where apt and root are
# available).
# Re-running is cheap: each step checks before it acts.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VGGDEPLOY_VENV:-.venv}
PYTHON=${PYTHON:-python3}
TORCH_VERSION=${TORCH_VERSION:-2.13.0}

if [ ! -x "$VENV/bin/python" ]; then
  echo "setup: creating virtual env $VENV"
  "$PYTHON" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip -q --disable-pip-version-check)

if ! "$VENV/bin/python" -c "import torch" >/dev/null 2>&1; then
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    echo "setup: CUDA GPU found, installing torch==$TORCH_VERSION (CUDA build)"
    "${PIP[@]}" install "torch==$TORCH_VERSION"
  else
    # No CUDA GPU: the CPU build. Here `torch==2.13.0` resolves to a local CPU wheel; elsewhere set
    # TORCH_INDEX_URL to PyTorch's CPU wheel index to avoid downloading the CUDA build.
    echo "setup: no CUDA GPU, installing torch==$TORCH_VERSION (CPU build)"
    if [ -n "${TORCH_INDEX_URL:-}" ]; then
      "${PIP[@]}" install "torch==$TORCH_VERSION" --index-url "$TORCH_INDEX_URL"
    else
      "${PIP[@]}" install "torch==$TORCH_VERSION"
    fi
  fi
fi

stamp="$VENV/.vggdeploy-installed"
want=$(cat pyproject.toml | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "setup: installing vggdeploy[dev,serve] (editable)"
  # serve: `vggdeploy serve` (pytriton's tritonserver) and its tests need it
  "${PIP[@]}" install -e ".[dev,serve]"
  echo "$want" > "$stamp"
fi

# The C++ runners (cpp/, built by the tests) need cmake, a C++ compiler, nlohmann/json (the
# sidecar reader) and OpenSSL's libcrypto (SHA-256 of the plan).
cpp_pkgs=()
command -v cmake >/dev/null 2>&1 || cpp_pkgs+=(cmake)
command -v c++ >/dev/null 2>&1 || cpp_pkgs+=(g++)
for pkg in nlohmann-json3-dev libssl-dev; do
  dpkg -s "$pkg" >/dev/null 2>&1 || cpp_pkgs+=("$pkg")
done
if [ ${#cpp_pkgs[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing ${cpp_pkgs[*]} for the C++ runners"
    apt-get install -y -qq "${cpp_pkgs[@]}" >/dev/null 2>&1 || {
      apt-get update -qq >/dev/null && apt-get install -y -qq "${cpp_pkgs[@]}" >/dev/null; }
  else
    echo "setup: ${cpp_pkgs[*]} missing (apt-get install them as root); the C++ runner tests will fail"
  fi
fi

# TensorRT's real Python bindings (small wheels, no TensorRT libraries) for the API check in
# tests/backends/tensorrt/test_real_bindings.py; cached (VGGDEPLOY_TRT_BINDINGS), skipped when
# present. If this fails the test skips locally and fails under CI=true, saying why.
if ! "$VENV/bin/python" scripts/fetch_trt_bindings.py --check >/dev/null 2>&1; then
  echo "setup: fetching TensorRT Python bindings for the API test (scripts/fetch_trt_bindings.py)"
  "$VENV/bin/python" scripts/fetch_trt_bindings.py ||
    echo "setup: could not fetch the TensorRT bindings; test_real_bindings.py will skip (fail on CI)"
fi

data_dir=/usr/share/datasets/fashion-mnist
if [ -z "${VGGDEPLOY_DATA:-}" ] && [ ! -e "$data_dir/t10k-labels-idx1-ubyte.gz" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing Fashion-MNIST (apt-get install dataset-fashion-mnist)"
    apt-get install -y -qq dataset-fashion-mnist >/dev/null 2>&1 || {
      apt-get update -qq >/dev/null && apt-get install -y -qq dataset-fashion-mnist >/dev/null; }
  else
    echo "setup: Fashion-MNIST not installed; training will need --download (or set VGGDEPLOY_DATA)"
  fi
fi
