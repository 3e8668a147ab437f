"""Anything ``Predictor.predict`` accepts -> one float32 N x C x H x W batch, with warnings.

Every image takes ONE path to what the model was trained on, a grayscale uint8 image of the
ModelSpec's ``source_size`` (Fashion-MNIST: 28 x 28, light garment on a black background):

1. read by the contract (contract.py): dtype/mode x value range -> 8-bit pixels, shape -> images;
2. checked: big enough, not blank, not too dark (mis-scaled); a light background is warned about;
3. fitted into ``source_size``: the longer side is resized with Pillow's area-averaging BOX filter,
   keeping the aspect ratio, the shorter side centred and padded with black (how Fashion-MNIST
   itself was made);
4. the ModelSpec's own preprocessing (:func:`vggdeploy.data.preprocess`).

Tensors stated ``preprocessed=True`` skip 1-4 and are checked against the ModelSpec instead.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vggdeploy.data.preprocess import preprocess
from vggdeploy.errors import UsageError
from vggdeploy.serve.inputs.arrays import array_images, as_array, non_finite_message, pil_module
from vggdeploy.serve.inputs.contract import (
    DIM_LIMIT,
    LIGHT_BORDER,
    MIN_SIDE,
    PREPROCESSED_SLACK,
    refuse,
)
from vggdeploy.serve.inputs.decode import (
    STDIN,
    decode_image,
    is_npy,
    is_pil_image,
    label,
    load_npy,
    pil_gray,
    read_bytes,
)
from vggdeploy.spec import ModelSpec


@dataclass(frozen=True)
class InputWarning:
    """Something about input row ``row`` (named ``source``) that makes its answer doubtful."""

    row: int
    source: str
    message: str

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class Batch:
    tensor: np.ndarray  # float32 N x C x H x W, the model's input
    sources: tuple[str, ...]  # where each row came from (file name, array index)
    warnings: tuple[InputWarning, ...] = ()

    # ``tensor, sources = to_batch(...)`` and ``to_batch(...)[0]``, as before warnings existed
    def __iter__(self):
        return iter((self.tensor, self.sources))

    def __getitem__(self, index: int):
        return (self.tensor, self.sources)[index]


def to_batch(images: Any, spec: ModelSpec, *, preprocessed: bool = False) -> Batch:
    """The model's input for anything ``predict`` accepts (README "Accepted inputs")."""
    items = list(images) if _is_sequence_of_items(images) else [images]
    if not items:
        raise UsageError("no images given (empty batch)")
    if sum(1 for it in items if isinstance(it, str) and it == STDIN) > 1:
        raise UsageError("'-' (stdin) given more than once", hint="stdin holds one image")
    parts: list[np.ndarray] = []
    sources: list[str] = []
    found: list[InputWarning] = []
    for i, item in enumerate(items):
        name, where, value = _read(item, index=i, many=len(items) > 1)
        if preprocessed:
            tensor, names, notes = _stated(value, spec, where=where, name=name)
        else:
            tensor, names, notes = _images(value, spec, where=where, name=name)
        found += [InputWarning(len(sources) + j, names[j], msg) for j, msg in notes]
        parts.append(tensor)
        sources += names
    out = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=0)
    return Batch(out, tuple(sources), tuple(found))


def _read(item: Any, *, index: int, many: bool) -> tuple[str, str, Any]:
    """(result name, message label, decoded value: ndarray, or a list of gray images)."""
    where = f"images[{index}]" if many else "images"
    if isinstance(item, (str, os.PathLike)):
        name = "<stdin>" if str(item) == STDIN else str(Path(item))
        data, source = read_bytes(item), label(item)
        if is_npy(data, item):
            return name, source, load_npy(data, source=source)
        return name, source, [decode_image(data, source=source)]
    if isinstance(item, (bytes, bytearray, memoryview)):
        data = bytes(item)
        if is_npy(data):
            return where, where, load_npy(data, source=where)
        return where, where, [decode_image(data, source=where)]
    if is_pil_image(item):
        return where, where, [pil_gray(item, source=where)]
    if isinstance(item, np.ndarray) or hasattr(item, "__array__"):
        return where, where, as_array(item, where)
    raise UsageError(
        f"cannot predict on a {type(item).__name__}",
        hint="pass numpy arrays or torch tensors, PIL images, encoded image bytes, or image / "
        ".npy file paths (README 'Accepted inputs')",
    )


def _row_names(name: str, n: int) -> list[str]:
    return [name] if n == 1 else [f"{name}[{j}]" for j in range(n)]


# ---- images: read, check, fit, preprocess ------------------------------------------------------
def _images(value: Any, spec: ModelSpec, *, where: str, name: str):
    images = array_images(value, where) if isinstance(value, np.ndarray) else value
    target = tuple(spec.preprocess.source_size)
    fitted, notes = [], []
    for j, im in enumerate(images):
        at = where if len(images) == 1 else f"{where}[{j}]"
        _check(im, spec, at)
        light = light_background(im)
        if light is not None:
            notes.append((j, light_warning(at, light)))
        fitted.append(fit_to(im, target))
    try:
        tensor = preprocess(np.stack(fitted), spec)
    except UsageError as exc:
        raise UsageError(f"{where}: {exc.message}", hint=exc.hint) from exc
    return tensor, _row_names(name, len(images)), notes


def _check(im: np.ndarray, spec: ModelSpec, at: str) -> None:
    h, w = im.shape
    target = tuple(spec.preprocess.source_size)
    if min(h, w) < MIN_SIDE:
        raise refuse(
            "small",
            f"{at}: a {h}x{w} image is too small to classify (under {MIN_SIDE} pixels on a "
            f"side; the model's native size is {target[0]}x{target[1]})",
        )
    if spec.preprocess.mode == "none" and (h, w) != target:
        raise UsageError(
            f"{at}: image size {h}x{w} differs from the model input {target[0]}x{target[1]} "
            "and the model's preprocessing does not resize",
            hint=f"pass {target[0]}x{target[1]} images",
        )
    lo, hi = int(im.min()), int(im.max())
    if lo == hi:
        raise refuse("blank", f"{at}: the image has no visible content (every pixel is {lo})")
    if hi < DIM_LIMIT:
        raise refuse(
            "dim",
            f"{at}: the brightest pixel is {hi} of 255 once read (under {DIM_LIMIT}): the "
            "values look scaled for another range",
        )


def light_background(image: np.ndarray) -> float | None:
    """The median of the outermost pixel ring when it is light (>= LIGHT_BORDER), else None."""
    ring = np.concatenate([image[0], image[-1], image[1:-1, 0], image[1:-1, -1]])
    median = float(np.median(ring))
    return median if median >= LIGHT_BORDER else None


def light_warning(at: str, median: float) -> str:
    return (
        f"{at}: light background (border median {median:.0f} of 255): the model knows light "
        "garments on black, so this answer is unreliable; a dark garment on white can be "
        "inverted (255 - pixels) before predicting"
    )


def fit_to(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """uint8 H x W -> uint8 ``size``: longer side resized (BOX filter, aspect kept), centred,
    the rest padded with 0 (the background). Identity when the size already matches."""
    h, w = image.shape
    th, tw = size
    if (h, w) == (th, tw):
        return image
    s = min(th / h, tw / w)
    nh, nw = max(1, min(th, round(h * s))), max(1, min(tw, round(w * s)))
    image_mod = pil_module()
    small = image_mod.fromarray(np.ascontiguousarray(image)).resize(
        (nw, nh), image_mod.Resampling.BOX
    )
    out = np.zeros((th, tw), dtype=np.uint8)
    top, left = (th - nh) // 2, (tw - nw) // 2
    out[top : top + nh, left : left + nw] = np.asarray(small, dtype=np.uint8)
    return out


# ---- tensors stated preprocessed=True ----------------------------------------------------------
def _stated(value: Any, spec: ModelSpec, *, where: str, name: str):
    c, h, w = spec.input.channels, spec.input.height, spec.input.width
    if not isinstance(value, np.ndarray) or value.dtype.kind != "f":
        what = f"a {value.dtype} array" if isinstance(value, np.ndarray) else "an image"
        raise refuse(
            "preprocessed-mismatch",
            f"{where}: preprocessed=True takes float N x {c} x {h} x {w} tensors; got {what}",
        )
    if value.ndim != 4 or tuple(value.shape[1:]) != (c, h, w) or value.shape[0] == 0:
        raise refuse(
            "preprocessed-mismatch",
            f"{where}: a preprocessed batch of this model is (N, {c}, {h}, {w}); got shape "
            f"{value.shape}",
        )
    if not np.isfinite(value).all():
        raise refuse("not-finite", non_finite_message(value, where, value.dtype))
    tensor = np.ascontiguousarray(value, dtype=np.float32)
    pixels = _unnormalised(tensor, spec, where)
    notes = []
    for j, im in enumerate(pixels):
        at = where if len(pixels) == 1 else f"{where}[{j}]"
        lo, hi = float(im.min()), float(im.max())
        if hi - lo < 0.5:
            raise refuse("blank", f"{at}: the image has no visible content (all values equal)")
        if lo > DIM_LIMIT:
            raise refuse(
                "preprocessed-mismatch",
                f"{at}: its darkest value is pixel {lo:.0f} of 255 once un-normalised: no black "
                "at all, unlike every image this model's preprocessing gives (0..1 ToTensor "
                "output is not this model's normalisation)",
            )
        if hi < DIM_LIMIT:
            raise refuse("dim", f"{at}: the brightest value is pixel {hi:.0f} of 255")
        light = light_background(im)
        if light is not None:
            notes.append((j, light_warning(at, light)))
    return tensor, _row_names(name, len(tensor)), notes


def _unnormalised(tensor: np.ndarray, spec: ModelSpec, where: str) -> np.ndarray:
    """N x H x W pixel values (0..255 scale, channel mean) of a stated preprocessed batch, inside
    the source area; refuses values the normalisation cannot give and foreign padding."""
    p = spec.preprocess
    mean = np.asarray(p.mean, np.float64).reshape(1, -1, 1, 1)
    std = np.asarray(p.std, np.float64).reshape(1, -1, 1, 1)
    lo, hi = preprocessed_range(spec)
    slack = PREPROCESSED_SLACK * (hi - lo)
    vmin, vmax = float(tensor.min()), float(tensor.max())
    if vmin < lo - slack or vmax > hi + slack:
        raw = "; these look like raw pixels" if vmax > hi + slack else ""
        raise refuse(
            "preprocessed-mismatch",
            f"{where}: values span {vmin:.4g}..{vmax:.4g}, but this model's preprocessing gives "
            f"{lo:.3f}..{hi:.3f}{raw}",
        )
    pixels = ((tensor.astype(np.float64) * std + mean) / p.scale).mean(axis=1)
    sh, sw = p.source_size
    ih, iw = spec.input.height, spec.input.width
    if p.mode == "pad" and sh <= ih and sw <= iw and (sh, sw) != (ih, iw):
        top, left = (ih - sh) // 2, (iw - sw) // 2
        border = pixels.copy()
        border[:, top : top + sh, left : left + sw] = 0.0
        worst = float(np.abs(border).max())
        if worst > slack * float(np.max(std)) / p.scale:
            raise refuse(
                "preprocessed-mismatch",
                f"{where}: this model pads {sh}x{sw} images to {ih}x{iw} with black, but the "
                f"border of this batch is not normalised black (up to pixel {worst:.0f})",
            )
        pixels = pixels[:, top : top + sh, left : left + sw]
    return pixels


def preprocessed_range(spec: ModelSpec) -> tuple[float, float]:
    """(lowest, highest) value the ModelSpec's preprocessing produces from 0..255 pixels."""
    p = spec.preprocess
    mean = np.asarray(p.mean, dtype=np.float64)
    std = np.asarray(p.std, dtype=np.float64)
    ends = np.stack([(0.0 - mean) / std, (255.0 * p.scale - mean) / std])
    return float(ends.min()), float(ends.max())


def _is_sequence_of_items(images: Any) -> bool:
    """A list/tuple of items (paths or arrays), as opposed to one array or one path."""
    return isinstance(images, Sequence) and not isinstance(images, (str, bytes, bytearray))


__all__ = ["Batch", "InputWarning", "fit_to", "light_background", "preprocessed_range", "to_batch"]
