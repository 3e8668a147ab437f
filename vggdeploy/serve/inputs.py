"""Turn what users pass to ``Predictor.predict`` into one preprocessed float32 N x C x H x W batch.

Accepted, per item: uint8 arrays (H x W, N x H x W, N x H x W x C: raw pixels, preprocessed with
:func:`vggdeploy.data.preprocess`), float arrays of shape N x C x H x W (already preprocessed), and
paths to PNG/JPEG images (read with Pillow) or ``.npy`` files holding either kind of array.
A list may mix them; each item is preprocessed on its own, so images of different sizes are fine
where the ModelSpec's preprocessing pads or resizes.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..data.preprocess import preprocess
from ..errors import UsageError
from ..spec import ModelSpec

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
PathLike = str | os.PathLike


def read_image(path: str | os.PathLike[str], channels: int) -> np.ndarray:
    """uint8 1 x H x W (x C) pixels of an image file, converted to the model's channel count."""
    image_mod = _pil()
    p = Path(path)
    try:
        with image_mod.open(p) as img:
            img.load()
            mode = "L" if channels == 1 else "RGB" if channels == 3 else None
            if mode is None:
                raise UsageError(
                    f"cannot read '{p}' for a {channels}-channel model: image files give 1 (L) or "
                    "3 (RGB) channels",
                    hint="pass preprocessed float32 N x C x H x W arrays instead",
                )
            arr = np.asarray(img.convert(mode), dtype=np.uint8)
    except FileNotFoundError as exc:
        raise UsageError(f"image file not found: '{p}'") from exc
    except UsageError:
        raise
    except (OSError, ValueError, SyntaxError) as exc:  # PIL: UnidentifiedImageError is an OSError
        raise UsageError(
            f"cannot read image '{p}' ({type(exc).__name__}: {exc})",
            hint="pass a PNG or JPEG file, or a .npy array of uint8 pixels",
        ) from exc
    return arr[None]  # 1 x H x W or 1 x H x W x 3


def read_npy(path: str | os.PathLike[str]) -> np.ndarray:
    p = Path(path)
    try:
        return np.load(p, allow_pickle=False)
    except FileNotFoundError as exc:
        raise UsageError(f"file not found: '{p}'") from exc
    except (OSError, ValueError) as exc:
        raise UsageError(
            f"cannot read '{p}' as a .npy array ({exc})",
            hint="save arrays with numpy.save (uint8 images or float32 N x C x H x W)",
        ) from exc


def array_batch(arr: np.ndarray, spec: ModelSpec, *, source: str = "input") -> np.ndarray:
    """One array (uint8 pixels or preprocessed floats) -> float32 N x C x H x W for ``spec``."""
    c, h, w = spec.input.channels, spec.input.height, spec.input.width
    if arr.dtype == np.uint8:
        if arr.size == 0:
            raise UsageError(f"{source} holds no images (shape {arr.shape})")
        if arr.ndim == 4 and arr.shape[-1] not in (1, 3):
            raise UsageError(
                f"{source}: uint8 array of shape {arr.shape} has {arr.shape[-1]} channels in its "
                "last axis; images must have 1 (grayscale) or 3 (RGB) channels",
                hint="pass H x W, N x H x W or N x H x W x C (C = 1 or 3) uint8 pixels",
            )
        try:
            return preprocess(arr, spec)
        except UsageError as exc:
            raise UsageError(f"{source}: {exc.message}", hint=exc.hint) from exc
    if np.issubdtype(arr.dtype, np.floating):
        if arr.ndim != 4 or tuple(arr.shape[1:]) != (c, h, w):
            raise UsageError(
                f"{source}: float array of shape {arr.shape} is not a preprocessed batch "
                f"(N, {c}, {h}, {w}) for this model",
                hint="pass raw uint8 pixels to have them preprocessed (padded/resized, "
                "normalised), or preprocess with vggdeploy.data.preprocess",
            )
        if arr.shape[0] == 0:
            raise UsageError(f"{source} holds no images (empty batch)")
        return np.ascontiguousarray(arr, dtype=np.float32)
    raise UsageError(
        f"{source}: unsupported array dtype {arr.dtype}",
        hint="pass uint8 pixels (0..255) or float32 N x C x H x W preprocessed tensors",
    )


def to_batch(images: Any, spec: ModelSpec) -> tuple[np.ndarray, list[str]]:
    """(float32 N x C x H x W, one source label per row) for anything ``predict`` accepts."""
    items = list(images) if _is_sequence_of_items(images) else [images]
    if not items:
        raise UsageError("no images given (empty batch)")
    parts: list[np.ndarray] = []
    sources: list[str] = []
    for i, item in enumerate(items):
        batch, label = _one(item, spec, index=i, many=len(items) > 1)
        parts.append(batch)
        if batch.shape[0] == 1:
            sources.append(label)
        else:
            sources.extend(f"{label}[{j}]" for j in range(batch.shape[0]))
    out = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=0)
    bad = ~np.isfinite(out).reshape(out.shape[0], -1).all(axis=1)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise UsageError(
            f"input contains NaN or Inf values ({int(bad.sum())} of {out.shape[0]} images, "
            f"first: {sources[first]})",
            hint="check the preprocessing that produced these tensors",
        )
    return out, sources


def _one(item: Any, spec: ModelSpec, *, index: int, many: bool) -> tuple[np.ndarray, str]:
    if isinstance(item, (str, os.PathLike)):
        p = Path(item)
        if p.suffix.lower() == ".npy":
            return array_batch(read_npy(p), spec, source=f"'{p}'"), str(p)
        if p.suffix.lower() not in IMAGE_SUFFIXES and not p.is_file():
            raise UsageError(f"image file not found: '{p}'")
        pixels = read_image(p, spec.input.channels)
        return array_batch(pixels, spec, source=f"'{p}'"), str(p)
    if hasattr(item, "__array__") and not isinstance(item, np.ndarray):
        item = np.asarray(item)  # torch tensors (CPU), PIL images, ...
    if isinstance(item, np.ndarray):
        label = f"images[{index}]" if many else "images"
        return array_batch(item, spec, source=label), label
    raise UsageError(
        f"cannot predict on a {type(item).__name__}",
        hint="pass numpy arrays (uint8 pixels or float32 N x C x H x W), or image file paths",
    )


def _is_sequence_of_items(images: Any) -> bool:
    """A list/tuple of items (paths or arrays), as opposed to one array or one path."""
    return isinstance(images, Sequence) and not isinstance(images, (str, bytes))


def _pil() -> Any:
    from .._optional import require

    return require("PIL.Image", extra="vision", purpose="reading image files")


__all__ = ["IMAGE_SUFFIXES", "array_batch", "read_image", "read_npy", "to_batch"]
