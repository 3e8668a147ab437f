"""Precision you can see into: per-layer error of FP16/INT8 variants against FP32
(:mod:`.layers`), the layers that cost accuracy (:mod:`.sensitivity`), keeping chosen layers in
FP32 (:mod:`vggdeploy.export.keep`), and the reports (:mod:`.report`); :func:`debug_precision`
runs it all."""

from __future__ import annotations

from vggdeploy.debug.diagnose import DEFAULT_IMAGES, DEFAULT_THRESHOLD_DB, debug_precision

__all__ = ["DEFAULT_IMAGES", "DEFAULT_THRESHOLD_DB", "debug_precision"]
