"""Turn what users pass to ``Predictor.predict`` into one preprocessed float32 N x C x H x W batch.

README "Accepted inputs" is the table of every accepted form; :func:`to_batch` follows it row by
row. In short: every image (file, stdin bytes, PIL image, uint8/uint16 array) takes ONE path to
what the model was trained on, a grayscale uint8 image of the ModelSpec's ``source_size``
(Fashion-MNIST: 28 x 28, light garment on a black background):

1. decode (Pillow), apply the EXIF orientation; palette images are expanded;
2. 16-bit pixels are scaled to 8 bits (``round(v / 257)``), never clipped;
3. transparent pixels are composited onto the black background; colour becomes luma with
   ITU-R 601-2 weights (Pillow's ``"L"`` conversion);
4. an image of another size is fitted into ``source_size``: its longer side is resized to the
   source size with Pillow's area-averaging BOX filter, keeping the aspect ratio, and the shorter
   side is centred and padded with the background value (how Fashion-MNIST itself was made);
5. the ModelSpec's own preprocessing (:func:`vggdeploy.data.preprocess`: pad or resize to the
   input size, scale, normalise).

Float arrays are taken as already preprocessed N x C x H x W batches. Inputs that cannot give a
meaningful answer are refused with a :class:`~vggdeploy.errors.UsageError`: images smaller than
:data:`MIN_SIDE` pixels, images with no visible content (every pixel equal), float batches whose
values lie far outside what the preprocessing can produce (raw 0..255 pixels), NaN/Inf.
"""

from __future__ import annotations

import io
import os
import shlex
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vggdeploy.data.preprocess import preprocess
from vggdeploy.errors import UsageError
from vggdeploy.spec import ModelSpec

PathLike = str | os.PathLike
STDIN = "-"
MIN_SIDE = 8  # smaller images would be enlarged more than 3.5x: too little to classify
NPY_MAGIC = b"\x93NUMPY"
CHANNEL_COUNTS = (1, 3, 4)  # gray, RGB, RGBA (last axis, or axis 1 of a 4-D batch)
# Preprocessed values may exceed the range the preprocessing produces from 0..255 pixels by this
# share of the range (interpolation overshoot, other normalisations) before they look like raw
# pixels instead.
FLOAT_RANGE_SLACK = 1.0


# ---- decoding: bytes / files / PIL images -> grayscale uint8 H x W -------------------------------
def decode_image(data: bytes, *, source: str) -> np.ndarray:
    """uint8 H x W grayscale of an encoded image (PNG, JPEG, ...), see the module docstring."""
    image_mod = _pil()
    with warnings.catch_warnings():
        warnings.simplefilter("error", image_mod.DecompressionBombWarning)
        try:
            with image_mod.open(io.BytesIO(data)) as img:
                if getattr(img, "n_frames", 1) > 1:
                    raise UsageError(
                        f"{source} is an animation or multi-page image ({img.n_frames} frames)",
                        hint="pass one still image per file",
                    )
                img.load()
                return pil_gray(img, source=source)
        except (image_mod.DecompressionBombError, image_mod.DecompressionBombWarning) as exc:
            raise UsageError(
                f"{source} is too large to decode safely ({exc})",
                hint="images are fitted to the model's 28x28 input anyway: shrink it first",
            ) from exc
        except UsageError:
            raise
        except (OSError, ValueError, SyntaxError, EOFError) as exc:  # UnidentifiedImageError
            raise UsageError(
                f"cannot read image {source} ({type(exc).__name__}: {exc})",
                hint="pass a PNG or JPEG file, or a .npy array of uint8 pixels",
            ) from exc


def pil_gray(img: Any, *, source: str) -> np.ndarray:
    """uint8 H x W grayscale of a PIL image: EXIF orientation, 16-bit scaled, alpha on black."""
    image_mod = _pil()
    from PIL import ImageOps

    img = ImageOps.exif_transpose(img) or img
    if img.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        wide = np.asarray(img)
        if wide.size and (wide.min() < 0 or wide.max() > 65535):
            raise UsageError(
                f"{source}: 32-bit integer image with values outside 0..65535",
                hint="save 8-bit or 16-bit grayscale images",
            )
        return scale_16bit(wide.astype(np.uint16))
    if img.mode == "F":
        raise UsageError(
            f"{source}: floating-point image files have no defined pixel range",
            hint="save 8-bit or 16-bit images, or pass a preprocessed float32 N x C x H x W array",
        )
    has_alpha = "A" in img.mode or "a" in img.mode or "transparency" in img.info
    if has_alpha:
        rgba = img.convert("RGBA")
        black = image_mod.new("RGBA", rgba.size, (0, 0, 0, 255))
        img = image_mod.alpha_composite(black, rgba)
    if img.mode not in ("L", "RGB", "RGBA"):
        img = img.convert("RGB")  # palette, CMYK, YCbCr, 1-bit, ...
    return np.asarray(img.convert("L"), dtype=np.uint8)


def scale_16bit(pixels: np.ndarray) -> np.ndarray:
    """uint16 0..65535 -> uint8 0..255 by ``round(v / 257)`` (65535 -> 255, 257 * k -> k)."""
    return ((pixels.astype(np.uint32) + 128) // 257).astype(np.uint8)


def read_bytes(path: str | os.PathLike[str]) -> bytes:
    """The bytes of an input file, a pipe, or stdin for ``-``; a clear error for the rest."""
    if str(path) == STDIN:
        return sys.stdin.buffer.read()
    p = Path(path)
    if p.is_dir():
        raise UsageError(
            f"'{p}' is a directory, not an image",
            hint=f"pass the image files in it, e.g. {shlex.quote(str(p))}/*.png",
        )
    try:
        with open(p, "rb") as fh:  # a regular file, a FIFO or /dev/stdin alike
            return fh.read()
    except FileNotFoundError as exc:
        raise UsageError(f"image file not found: '{p}'") from exc
    except OSError as exc:
        raise UsageError(f"cannot read '{p}' ({exc.strerror or exc})") from exc


def _load_npy(data: bytes, *, source: str) -> np.ndarray:
    try:
        return np.load(io.BytesIO(data), allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise UsageError(
            f"cannot read {source} as a .npy array ({exc})",
            hint="save arrays with numpy.save (uint8 images or float32 N x C x H x W)",
        ) from exc


# ---- arrays --------------------------------------------------------------------------------------
def array_batch(arr: np.ndarray, spec: ModelSpec, *, source: str = "input") -> np.ndarray:
    """One array (uint8/uint16 pixels or preprocessed floats) -> float32 N x C x H x W."""
    if arr.dtype in (np.uint8, np.uint16):
        return pixel_batch(_images_of(arr, source), spec, source=source)
    if np.issubdtype(arr.dtype, np.floating):
        return _float_batch(arr, spec, source=source)
    raise UsageError(
        f"{source}: unsupported array dtype {arr.dtype}",
        hint="pass uint8 (or uint16) pixels, or float32 N x C x H x W preprocessed tensors; "
        "convert 0..255 integer arrays with .astype(numpy.uint8)",
    )


def _images_of(arr: np.ndarray, source: str) -> list[np.ndarray]:
    """uint8/uint16 array -> list of uint8 H x W grayscale images (the README table's rows)."""
    if arr.size == 0:
        raise UsageError(f"{source} holds no images (shape {arr.shape})")
    shape = arr.shape
    if arr.ndim == 2:  # H x W
        nhwc = arr[None, :, :, None]
    elif arr.ndim == 3 and shape[-1] in CHANNEL_COUNTS:  # H x W x C
        nhwc = arr[None]
    elif arr.ndim == 3:  # N x H x W
        nhwc = arr[..., None]
    elif arr.ndim == 4 and shape[-1] in CHANNEL_COUNTS:  # N x H x W x C
        nhwc = arr
    elif arr.ndim == 4 and shape[1] in CHANNEL_COUNTS:  # N x C x H x W
        nhwc = arr.transpose(0, 2, 3, 1)
    else:
        channels = f"; {shape[-1]} channels in its last axis" if arr.ndim == 4 else ""
        raise UsageError(
            f"{source}: {arr.dtype} array of shape {shape} is not an image or a batch of "
            f"images{channels}",
            hint="pass H x W, H x W x C, N x H x W, N x H x W x C or N x C x H x W pixels with "
            "C = 1 (gray), 3 (RGB) or 4 (RGBA)",
        )
    if nhwc.dtype == np.uint16:
        nhwc = scale_16bit(nhwc)
    channels = nhwc.shape[-1]
    if channels == 1:
        return list(nhwc[..., 0])
    image_mod = _pil()  # H x W x 3 -> RGB, H x W x 4 -> RGBA
    return [pil_gray(image_mod.fromarray(np.ascontiguousarray(im)), source=source) for im in nhwc]


def fit_to(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """uint8 H x W -> uint8 ``size``: longer side resized (BOX filter, aspect kept), centred,
    the rest padded with 0 (the background). Identity when the size already matches."""
    h, w = image.shape
    th, tw = size
    if (h, w) == (th, tw):
        return image
    s = min(th / h, tw / w)
    nh, nw = max(1, min(th, round(h * s))), max(1, min(tw, round(w * s)))
    image_mod = _pil()
    small = image_mod.fromarray(np.ascontiguousarray(image)).resize(
        (nw, nh), image_mod.Resampling.BOX
    )
    out = np.zeros((th, tw), dtype=np.uint8)
    top, left = (th - nh) // 2, (tw - nw) // 2
    out[top : top + nh, left : left + nw] = np.asarray(small, dtype=np.uint8)
    return out


def pixel_batch(images: list[np.ndarray], spec: ModelSpec, *, source: str) -> np.ndarray:
    """Grayscale uint8 images (any sizes) -> float32 N x C x H x W: checks, fit, preprocess."""
    target = tuple(spec.preprocess.source_size)
    fitted = []
    for i, im in enumerate(images):
        where = source if len(images) == 1 else f"{source}[{i}]"
        h, w = im.shape
        if min(h, w) < MIN_SIDE:
            raise UsageError(
                f"{where}: a {h}x{w} image is too small to classify (under {MIN_SIDE} pixels "
                "on a side)",
                hint=f"pass images of at least {MIN_SIDE}x{MIN_SIDE} pixels; the model's native "
                f"size is {target[0]}x{target[1]}",
            )
        if spec.preprocess.mode == "none" and (h, w) != target:
            raise UsageError(
                f"{where}: image size {h}x{w} differs from the model input {target[0]}x"
                f"{target[1]} and the model's preprocessing does not resize",
                hint=f"pass {target[0]}x{target[1]} images",
            )
        if im.min() == im.max():
            raise UsageError(
                f"{where}: the image has no visible content (every pixel is {int(im.min())})",
                hint="check that the right file/array was passed; a blank image has no class",
            )
        fitted.append(fit_to(im, target))
    try:
        return preprocess(np.stack(fitted), spec)
    except UsageError as exc:
        raise UsageError(f"{source}: {exc.message}", hint=exc.hint) from exc


def _float_batch(arr: np.ndarray, spec: ModelSpec, *, source: str) -> np.ndarray:
    c, h, w = spec.input.channels, spec.input.height, spec.input.width
    if arr.ndim != 4 or tuple(arr.shape[1:]) != (c, h, w):
        raise UsageError(
            f"{source}: float array of shape {arr.shape} is not a preprocessed batch "
            f"(N, {c}, {h}, {w}) for this model",
            hint="pass raw uint8 pixels to have them preprocessed (fitted, padded/resized, "
            "normalised), or preprocess with vggdeploy.data.preprocess",
        )
    if arr.shape[0] == 0:
        raise UsageError(f"{source} holds no images (empty batch)")
    out = np.ascontiguousarray(arr, dtype=np.float32)
    finite = np.isfinite(out)
    if not finite.all():
        return out  # to_batch names the rows holding NaN/Inf
    lo, hi = preprocessed_range(spec)
    slack = FLOAT_RANGE_SLACK * (hi - lo)
    vmin, vmax = float(out.min()), float(out.max())
    if vmin < lo - slack or vmax > hi + slack:
        raise UsageError(
            f"{source}: float values span {vmin:.4g}..{vmax:.4g}, but preprocessed inputs of "
            f"this model lie in {lo:.3f}..{hi:.3f}: these look like raw pixels",
            hint="pass raw pixels as uint8 (numpy .astype(numpy.uint8)) to have them "
            "preprocessed, or preprocess with vggdeploy.data.preprocess",
        )
    flat = out.reshape(out.shape[0], -1)
    blank = flat.min(axis=1) == flat.max(axis=1)
    if blank.any():
        first = int(np.flatnonzero(blank)[0])
        raise UsageError(
            f"{source}[{first}]: the image has no visible content (every value is "
            f"{float(flat[first, 0]):.4g}; {int(blank.sum())} such images)",
            hint="check that the right array was passed; a blank image has no class",
        )
    return out


def preprocessed_range(spec: ModelSpec) -> tuple[float, float]:
    """(lowest, highest) value the ModelSpec's preprocessing produces from 0..255 pixels."""
    p = spec.preprocess
    mean = np.asarray(p.mean, dtype=np.float64)
    std = np.asarray(p.std, dtype=np.float64)
    ends = np.stack([(0.0 - mean) / std, (255.0 * p.scale - mean) / std])
    return float(ends.min()), float(ends.max())


# ---- dispatch ------------------------------------------------------------------------------------
def to_batch(images: Any, spec: ModelSpec) -> tuple[np.ndarray, list[str]]:
    """(float32 N x C x H x W, one source label per row) for anything ``predict`` accepts."""
    items = list(images) if _is_sequence_of_items(images) else [images]
    if not items:
        raise UsageError("no images given (empty batch)")
    if sum(1 for it in items if isinstance(it, str) and it == STDIN) > 1:
        raise UsageError("'-' (stdin) given more than once", hint="stdin holds one image")
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
    label = f"images[{index}]" if many else "images"
    if isinstance(item, (str, os.PathLike)):
        name = "<stdin>" if str(item) == STDIN else str(Path(item))
        data = read_bytes(item)
        source = _label(item)
        if data.startswith(NPY_MAGIC) or Path(item).suffix.lower() == ".npy":
            return array_batch(_load_npy(data, source=source), spec, source=source), name
        gray = decode_image(data, source=source)
        return pixel_batch([gray], spec, source=source), name
    if isinstance(item, (bytes, bytearray, memoryview)):
        data = bytes(item)
        if data.startswith(NPY_MAGIC):
            return array_batch(_load_npy(data, source=label), spec, source=label), label
        return pixel_batch([decode_image(data, source=label)], spec, source=label), label
    if _is_pil_image(item):
        return pixel_batch([pil_gray(item, source=label)], spec, source=label), label
    if hasattr(item, "__array__") and not isinstance(item, np.ndarray):
        item = np.asarray(item)  # torch tensors (CPU), ...
    if isinstance(item, np.ndarray):
        return array_batch(item, spec, source=label), label
    raise UsageError(
        f"cannot predict on a {type(item).__name__}",
        hint="pass numpy arrays (uint8 pixels or float32 N x C x H x W), PIL images, encoded "
        "image bytes, or image / .npy file paths",
    )


def _label(path: str | os.PathLike[str]) -> str:
    return "stdin ('-')" if str(path) == STDIN else f"'{Path(path)}'"


def _is_pil_image(item: Any) -> bool:
    image_mod = sys.modules.get("PIL.Image")
    return image_mod is not None and isinstance(item, image_mod.Image)


def _is_sequence_of_items(images: Any) -> bool:
    """A list/tuple of items (paths or arrays), as opposed to one array or one path."""
    return isinstance(images, Sequence) and not isinstance(images, (str, bytes, bytearray))


def _pil() -> Any:
    from vggdeploy._optional import require

    return require("PIL.Image", extra="vision", purpose="reading image files")


__all__ = [
    "MIN_SIDE",
    "array_batch",
    "decode_image",
    "fit_to",
    "pil_gray",
    "preprocessed_range",
    "scale_16bit",
    "to_batch",
]
