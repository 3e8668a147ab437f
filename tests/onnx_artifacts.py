"""Small ONNX artifacts shared by the tests, made by the library's own export
(:func:`vggdeploy.export.onnx.export_checkpoint`: torch.onnx dynamo export, checks,
onnxslim) without its PyTorch verification (test_export.py covers that). An export takes
seconds, so each checkpoint is exported once per test session and the bytes are reused;
``quantize_int8`` is ONNX Runtime's static quantizer with a tiny calibration set (bench tests)."""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

import numpy as np

_EXPORTED: dict[str, bytes] = {}  # sha256 of (model.json, model.safetensors) -> ONNX bytes


def export_fp32(run: Path, out: Path | None = None) -> Path:
    """``run``'s checkpoint as ONNX at ``out`` (default ``run/model.onnx``); only that file is
    written (no report)."""
    from vggdeploy.artifacts.checkpoint import read_checkpoint, resolve_checkpoint
    from vggdeploy.export.onnx import export_checkpoint

    out = Path(out) if out is not None else Path(run) / "model.onnx"
    digest = hashlib.sha256()
    for f in resolve_checkpoint(run):
        digest.update(f.read_bytes())
    key = digest.hexdigest()
    if key not in _EXPORTED:
        with tempfile.TemporaryDirectory(prefix="vggdeploy-test-export.") as work:
            _, blob = export_checkpoint(
                read_checkpoint(run), Path(work) / "model.onnx", test_images=None
            )
        _EXPORTED[key] = blob
    out.write_bytes(_EXPORTED[key])
    return out


def quantize_int8(fp32: Path, out: Path, calibration: np.ndarray) -> Path:
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, quantize_static

    from vggdeploy.artifacts.onnx_meta import read_onnx_spec

    spec = read_onnx_spec(fp32)

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._batches = iter([{spec.input.name: calibration[i : i + 8]} for i in (0, 8)])

        def get_next(self):
            return next(self._batches, None)

    quantize_static(str(fp32), str(out), Reader(), quant_format=QuantFormat.QDQ)
    return out


def calibration_batch(spec, n: int = 16, seed: int = 0) -> np.ndarray:
    from vggdeploy.data.preprocess import preprocess

    rng = np.random.default_rng(seed)
    return preprocess(rng.integers(0, 255, (n, 28, 28)).astype(np.uint8), spec)


def retrain(run: Path, seed: int = 1) -> str:
    """Replace ``run``'s checkpoint by another valid one, as a new training into the same folder
    would: every learned weight perturbed, model.json's recorded weights sha256 updated. Returns
    the new sha256. Artifacts exported before are now stale."""
    import json

    import torch

    from vggdeploy.artifacts.checkpoint import bytes_to_state_dict, state_dict_to_bytes

    weights, spec = Path(run) / "model.safetensors", Path(run) / "model.json"
    state = bytes_to_state_dict(weights.read_bytes(), source=str(weights))
    gen = torch.Generator().manual_seed(seed)
    for key, value in state.items():
        if value.is_floating_point() and "running_" not in key:  # keep BatchNorm variances > 0
            noise = torch.randn(value.shape, generator=gen, dtype=value.dtype)
            state[key] = value + noise * (value.std() if value.numel() > 1 else 0.1)
    blob = state_dict_to_bytes(state)
    weights.write_bytes(blob)
    meta = json.loads(spec.read_text())
    digest = hashlib.sha256(blob).hexdigest()
    meta["weights"]["sha256"] = digest
    spec.write_text(json.dumps(meta))
    return digest


def reexport(onnx_path: Path) -> None:
    """Write ``onnx_path`` again with other bytes from the same checkpoint (as an export with
    other settings would): its variants and engines are now stale, the file itself is not."""
    import onnx

    model = onnx.load(str(onnx_path))
    model.metadata_props.add(key="test.reexported", value="yes")
    onnx.save(model, str(onnx_path))


def make_variant(run: Path, tag: str = "fp16") -> Path:
    """``run/model.<tag>.onnx`` derived from ``run/model.onnx`` as the precision stage records it
    (same graph: only the provenance matters to the checks that read it)."""
    import onnx

    from vggdeploy.artifacts.onnx_meta import META_PRECISION, META_SOURCE_ONNX
    from vggdeploy.artifacts.variants import variant_path

    base = Path(run) / "model.onnx"
    model = onnx.load(str(base))
    for key, value in (
        (META_PRECISION, tag),
        (META_SOURCE_ONNX, hashlib.sha256(base.read_bytes()).hexdigest()),
    ):
        model.metadata_props.add(key=key, value=value)
    out = variant_path(base, tag)
    onnx.save(model, str(out))
    return out


def engine_from(onnx_path: Path, engine: Path) -> Path:
    """A stand-in engine (tests/engine_fakes.py) whose sidecar names ``onnx_path`` as its source
    (file name and current sha256) and carries that model's ModelSpec, as a build writes it."""
    import json

    from engine_fakes import stand_in_engine

    from vggdeploy.artifacts.onnx_meta import read_onnx_spec
    from vggdeploy.artifacts.variants import split_variant
    from vggdeploy.backends.tensorrt.sidecar import sidecar_path

    tag = (split_variant(onnx_path) or ("fp32", ""))[0]
    engine.parent.mkdir(parents=True, exist_ok=True)
    precision = "int8" if tag.startswith("int8") else tag
    stand_in_engine(engine, read_onnx_spec(onnx_path), precision=precision, max_batch=64)
    side = sidecar_path(engine)
    data = json.loads(side.read_text())
    data["source_onnx"] = {
        "file": onnx_path.name,
        "sha256": hashlib.sha256(onnx_path.read_bytes()).hexdigest(),
    }
    side.write_text(json.dumps(data))
    return engine
