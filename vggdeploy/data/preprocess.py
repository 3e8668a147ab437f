"""The one preprocessing definition (see :class:`vggdeploy.spec.Preprocess`), in NumPy.

Used by training, export verification, calibration, bench and the Predictor, so every backend sees
identical inputs. The C++ runners document the same steps.
"""

from __future__ import annotations

import numpy as np

from vggdeploy.errors import UsageError
from vggdeploy.spec import ModelSpec


def _resize_matrix(src: int, dst: int) -> np.ndarray:
    """dst x src bilinear interpolation weights, half-pixel centres (align_corners=False)."""
    scale = src / dst
    x = (np.arange(dst, dtype=np.float64) + 0.5) * scale - 0.5
    x = np.clip(x, 0, src - 1)
    lo = np.floor(x).astype(np.int64)
    hi = np.minimum(lo + 1, src - 1)
    frac = x - lo
    m = np.zeros((dst, src), dtype=np.float64)
    m[np.arange(dst), lo] += 1 - frac
    m[np.arange(dst), hi] += frac
    return m.astype(np.float32)


def preprocess(images: np.ndarray, spec: ModelSpec) -> np.ndarray:
    """uint8 N x H x W (or H x W, or N x H x W x C) -> float32 N x C x H' x W' for ``spec``."""
    arr = np.asarray(images)
    if arr.dtype != np.uint8:
        raise UsageError(
            f"preprocess expects uint8 images, got {arr.dtype}",
            hint="pass raw 0..255 pixels; float tensors must already be preprocessed",
        )
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim == 4 and arr.shape[-1] in (1, 3):
        arr = arr.transpose(0, 3, 1, 2)  # NHWC -> NCHW
    elif arr.ndim == 3:
        arr = arr[:, None]
    else:
        raise UsageError(f"images must be H x W, N x H x W or N x H x W x C; got shape {arr.shape}")
    p = spec.preprocess
    n, c, h, w = arr.shape
    out_h, out_w = spec.input.height, spec.input.width
    x = arr.astype(np.float32) * np.float32(p.scale)
    if (h, w) != (out_h, out_w):
        if p.mode == "pad" and h <= out_h and w <= out_w:
            top, left = (out_h - h) // 2, (out_w - w) // 2
            padded = np.zeros((n, c, out_h, out_w), dtype=np.float32)
            padded[:, :, top : top + h, left : left + w] = x
            x = padded
        elif p.mode in ("resize", "pad"):
            ry, rx = _resize_matrix(h, out_h), _resize_matrix(w, out_w)
            x = np.einsum("yh,nchw,xw->ncyx", ry, x, rx, optimize=True).astype(np.float32)
        else:
            raise UsageError(
                f"image size {h}x{w} differs from the model input {out_h}x{out_w} and the "
                f"model's preprocessing does not resize",
                hint=f"pass {out_h}x{out_w} images",
            )
    if c != spec.input.channels:
        if c == 1:
            x = np.repeat(x, spec.input.channels, axis=1)
        elif c == 3 and spec.input.channels == 1:
            x = x.mean(axis=1, keepdims=True, dtype=np.float32)
        else:
            raise UsageError(f"images have {c} channels, the model takes {spec.input.channels}")
    mean = np.asarray(p.mean, dtype=np.float32).reshape(1, -1, 1, 1)
    std = np.asarray(p.std, dtype=np.float32).reshape(1, -1, 1, 1)
    return np.ascontiguousarray((x - mean) / std, dtype=np.float32)
