"""ONNX files for build tests, all from the library: ``export_fp32`` (tests/onnx_artifacts.py) makes
the fp32 model; ``make_fp16_variant`` / ``make_int8_variant`` run the export stage's own FP16
conversion and INT8 quantization (TensorRT Q/DQ form) on it, calibrated on a few synthetic images:
real variants without the stage's test-set judging (tests/export/test_variants.py covers that)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from onnx_artifacts import calibration_batch, export_fp32  # noqa: F401 - re-exported for build tests

from vggdeploy.artifacts.variants import variant_path


def _save_variant(proto, fp32_proto, fp32: Path, tag: str) -> Path:
    from vggdeploy.artifacts.onnx_meta import spec_from_model
    from vggdeploy.export.onnx import annotate

    spec = spec_from_model(fp32_proto, source=str(fp32))
    props = {p.key: p.value for p in fp32_proto.metadata_props if p.key != "vggdeploy.modelspec"}
    annotate(proto, spec, **{**props, "vggdeploy.precision": tag})
    out = variant_path(fp32, tag)
    out.write_bytes(proto.SerializeToString())
    return out


def make_fp16_variant(fp32: Path) -> Path:
    import onnx

    from vggdeploy.export.fp16 import convert_fp16

    proto = onnx.load(str(fp32))
    return _save_variant(convert_fp16(proto), proto, fp32, "fp16")


def make_int8_variant(fp32: Path) -> Path:
    import onnx

    from vggdeploy.artifacts.onnx_meta import spec_from_model
    from vggdeploy.export.quantize import calibrate, quantize_int8

    blob = fp32.read_bytes()
    proto = onnx.load_from_string(blob)
    spec = spec_from_model(proto, source=str(fp32))
    with tempfile.TemporaryDirectory(prefix="vggdeploy-test-int8.") as work:
        ranges, _ = calibrate(
            blob,
            calibration_batch(spec),
            method="minmax",
            cache_dir=Path(work),
            input_name=spec.input.name,
            log=lambda _m: None,
        )
        q = quantize_int8(blob, ranges, target="tensorrt", method="minmax")
    return _save_variant(q, proto, fp32, "int8")
