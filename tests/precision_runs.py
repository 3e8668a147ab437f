"""Run folders with real precision variants for the debug-precision tests: the tiny trained run
exported by the library's own ``export_variants`` (fast settings)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path


def exported_run(
    trained: Path, dst: Path, data: Path, *, precisions: str = "all", verify: bool = True
) -> Path:
    """A copy of ``trained`` at ``dst`` with model.onnx and the ``precisions`` variants."""
    from vggdeploy.export.pipeline import export_variants

    shutil.copytree(trained, dst)
    export_variants(
        dst,
        precisions=precisions,
        data_dir=data,
        calib_size=64,
        max_batch=16,
        simplify=False,
        verify=verify,
    )
    return dst


def scale_calibration_range(run: Path, tensor: str, factor: float, method: str) -> None:
    """Multiply the cached calibration range of ``tensor`` by ``factor`` (a damaged range: the
    quantization scale of that tensor becomes ``factor`` times larger)."""
    cache = run / f"calibration-{method}.json"
    stored = json.loads(cache.read_text())
    entry = stored["ranges"]["data"][tensor]
    for key in ("lowest", "highest"):
        if isinstance(entry[key], dict):  # numpy scalars are stored as {"data": ..., "CLS": ...}
            entry[key]["data"] *= factor
        else:
            entry[key] *= factor
    cache.write_text(json.dumps(stored))
