"""The names a run folder gives to what the stages derive from its weights, one home for each:
the export stage's per-model report, the calibration caches, the default bench and debug output
folders. Which artifacts each backend keeps in a run folder is the backend registry's fact
(``backends/registry.py:run_artifacts``); ``train --force`` removes both."""

from __future__ import annotations

from pathlib import Path

BENCH_DIR = "bench"  # `vggdeploy bench RUN`'s default output folder
DEBUG_DIR = "debug"  # `vggdeploy debug-precision RUN`'s reports
ENGINES_DIR = "engines"  # where build-engine puts engines / packages of a run by convention
CALIBRATION_PATTERN = "calibration-*.json"  # INT8 calibration caches (export/quantize.py)
DERIVED_DIRS = (BENCH_DIR, DEBUG_DIR)


def report_path_for(model: Path) -> Path:
    """The export stage's verification report of ``model`` (``NAME.report.json``)."""
    return model.with_name(f"{model.stem}.report.json")


def calibration_cache(folder: Path, method: str) -> Path:
    """The calibration cache of ``method`` in ``folder``."""
    return folder / CALIBRATION_PATTERN.replace("*", method)
