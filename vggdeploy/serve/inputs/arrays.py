"""Arrays (numpy, torch, ``.npy``) -> 8-bit grayscale images, by the contract's rows.

:func:`read_values` applies the value rows (dtype x value range -> 8-bit pixels, or a refusal),
:func:`layout_of` the layout rows (shape -> N x H x W x C), :func:`array_images` both, then turns
colour into gray the way Pillow does for image files, so an array and the file holding the same
pixels give the same image.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vggdeploy.serve.inputs.contract import (
    CHANNELS_FIRST,
    CHANNELS_LAST,
    DIM_LIMIT,
    FLOAT_TOLERANCE,
    refuse,
)


def as_array(item: Any, source: str) -> np.ndarray:
    """A numpy view of an array-like: torch tensors (any device, grad, bfloat16) and objects
    with ``__array__``."""
    if isinstance(item, np.ndarray):
        return item
    if type(item).__module__.startswith("torch") and hasattr(item, "detach"):
        t = item.detach()
        if t.is_complex():
            raise refuse("other-dtype", f"{source}: complex tensor ({t.dtype}) is not an image")
        if str(t.dtype) == "torch.bfloat16":  # numpy has no bfloat16; float32 holds it exactly
            t = t.float()
        return t.cpu().numpy()
    return np.asarray(item)


def read_values(arr: np.ndarray, source: str) -> np.ndarray:
    """uint8 pixels of the same shape, read by the dtype's value row (contract VALUE_ROWS)."""
    kind = arr.dtype.kind
    if arr.dtype == np.uint8:
        return arr
    if kind == "b":
        return arr.astype(np.uint8) * np.uint8(255)
    if arr.dtype == np.uint16:
        return scale_16bit(arr)
    if kind in "iu":
        lo, hi = int(arr.min()), int(arr.max())
        if lo < 0 or hi > 255:
            raise refuse(
                "int-wide",
                f"{source}: {arr.dtype} pixels span {lo}..{hi}; integer pixels other than "
                "uint16 must lie in 0..255",
            )
        return arr.astype(np.uint8)
    if kind == "f":
        wide = arr.astype(np.float64)
        if not np.isfinite(wide).all():
            raise refuse("not-finite", non_finite_message(wide, source, arr.dtype))
        lo, hi = float(wide.min()), float(wide.max())
        if lo < -FLOAT_TOLERANCE:
            raise refuse(
                "float-negative",
                f"{source}: {arr.dtype} values span {lo:.4g}..{hi:.4g}; values below 0 are not "
                "pixel intensities (a normalised tensor is not read unless stated)",
            )
        if hi > 1 + FLOAT_TOLERANCE:
            raise refuse(
                "float-over-1",
                f"{source}: {arr.dtype} values span {lo:.4g}..{hi:.4g}; float images are read "
                "as intensities in 0..1",
            )
        return np.rint(np.clip(wide, 0.0, 1.0) * 255.0).astype(np.uint8)
    raise refuse("other-dtype", f"{source}: unsupported array dtype {arr.dtype}")


def non_finite_message(values: np.ndarray, source: str, dtype: Any) -> str:
    """Names the first image holding NaN/Inf (axis 0 of a batch) and how many do."""
    if values.ndim == 4 and len(values) > 1:
        bad = ~np.isfinite(values).reshape(len(values), -1).all(axis=1)
        first = int(np.flatnonzero(bad)[0])
        return (
            f"{source}[{first}]: NaN or Inf values in a {dtype} array ({int(bad.sum())} of "
            f"{len(values)} images hold some)"
        )
    return f"{source}: NaN or Inf values in a {dtype} array"


def scale_16bit(pixels: np.ndarray) -> np.ndarray:
    """uint16 0..65535 -> uint8 0..255 by ``round(v / 257)`` (65535 -> 255, 257 * k -> k)."""
    return ((pixels.astype(np.uint32) + 128) // 257).astype(np.uint8)


def layout_of(shape: tuple[int, ...], source: str, dtype: Any) -> tuple[str, tuple[int, ...]]:
    """(layout row key, axis order that makes the array N x H x W x C) for an array shape."""
    ndim = len(shape)
    if 0 in shape:
        raise refuse("other-shape", f"{source} holds no images (shape {shape})")
    if ndim == 2:
        return "HW", (0, 1)
    if ndim == 3 and shape[-1] in CHANNELS_LAST:
        return "HWC", (0, 1, 2)
    if ndim == 3 and shape[0] in (3, 4):
        raise refuse(
            "CHW-or-NHW",
            f"{source}: a {dtype} array of shape {shape} is ambiguous: one channels-first "
            f"{'RGB' if shape[0] == 3 else 'RGBA'} image or {shape[0]} grayscale images",
        )
    if ndim == 3:
        return "NHW", (0, 1, 2)
    if ndim == 4 and shape[-1] in CHANNELS_LAST:
        return "NHWC", (0, 1, 2, 3)
    if ndim == 4 and shape[1] in CHANNELS_FIRST:
        return "NCHW", (0, 2, 3, 1)
    where = f"; {shape[-1]} channels in its last axis" if ndim == 4 else ""
    raise refuse(
        "other-shape",
        f"{source}: {dtype} array of shape {shape} is not an image or a batch of images{where}",
    )


def to_nhwc(arr: np.ndarray, source: str) -> np.ndarray:
    """Any accepted layout -> N x H x W x C (a view where possible)."""
    key, order = layout_of(tuple(arr.shape), source, arr.dtype)
    if key == "HW":
        return arr[None, :, :, None]
    if key == "HWC":
        return arr[None]
    if key == "NHW":
        return arr[..., None]
    return arr.transpose(order)


def gray_of(image: np.ndarray) -> np.ndarray:
    """uint8 H x W x C (C = 1..4) -> uint8 H x W: alpha composited onto black, colour to luma,
    through Pillow as for image files."""
    channels = image.shape[-1]
    if channels == 1:
        return np.ascontiguousarray(image[..., 0])
    mode = {2: "LA", 3: "RGB", 4: "RGBA"}[channels]
    return pil_to_gray(pil_module().fromarray(np.ascontiguousarray(image), mode))


def pil_module() -> Any:
    from vggdeploy._optional import require

    return require("PIL.Image", extra="vision", purpose="reading image files")


def pil_to_gray(img: Any) -> np.ndarray:
    """An 8-bit-mode PIL image -> uint8 H x W: transparency onto black, then Pillow's luma."""
    image_mod = pil_module()
    if img.mode == "La":  # premultiplied; Pillow converts it only to LA
        img = img.convert("LA")
    if "A" in img.mode or "a" in img.mode or "transparency" in img.info:
        rgba = img.convert("RGBA")
        black = image_mod.new("RGBA", rgba.size, (0, 0, 0, 255))
        img = image_mod.alpha_composite(black, rgba)
    if img.mode not in ("L", "RGB", "RGBA"):
        img = img.convert("RGB")  # palette, CMYK, YCbCr, HSV, LAB, RGBX
    return np.asarray(img.convert("L"), dtype=np.uint8)


def array_images(arr: np.ndarray, source: str) -> list[np.ndarray]:
    """uint8 H x W grayscale images of an array of any accepted dtype and layout."""
    nhwc = to_nhwc(arr, source)
    pixels = read_values(nhwc, source)
    flat = pixels.reshape(len(pixels), -1)
    brightest = flat.max(axis=1)
    # judged on the values, before alpha can hide them; a blank image is refused as blank later
    dim = (brightest < DIM_LIMIT) & (flat.min(axis=1) < brightest)
    if dim.any():
        j = int(np.flatnonzero(dim)[0])
        at = source if len(pixels) == 1 else f"{source}[{j}]"
        raise refuse(
            "dim",
            f"{at}: the brightest value is {int(brightest[j])} of 255 once read as {arr.dtype} "
            f"(under {DIM_LIMIT}): the values look scaled for another range",
        )
    return [gray_of(im) for im in pixels]


__all__ = [
    "array_images",
    "non_finite_message",
    "as_array",
    "gray_of",
    "layout_of",
    "pil_module",
    "pil_to_gray",
    "read_values",
    "scale_16bit",
]
