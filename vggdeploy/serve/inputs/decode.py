"""Files, stdin, encoded bytes and PIL images -> 8-bit grayscale images (Pillow decodes).

A PIL image is read by its mode's row of the contract: 8-bit modes through Pillow's own
conversions (palette expanded, transparency composited onto black, colour to ITU-R 601 luma),
modes 1 / I;16* / I / F as the bool / uint16 / int32 / float32 arrays they hold. The EXIF
orientation is applied first.
"""

from __future__ import annotations

import io
import os
import shlex
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from vggdeploy.errors import UsageError
from vggdeploy.serve.inputs.arrays import pil_module, pil_to_gray, read_values
from vggdeploy.serve.inputs.contract import EIGHT_BIT_MODES, SIXTEEN_BIT_MODES, refuse

STDIN = "-"
NPY_MAGIC = b"\x93NUMPY"


def is_pil_image(item: Any) -> bool:
    image_mod = sys.modules.get("PIL.Image")
    return image_mod is not None and isinstance(item, image_mod.Image)


def decode_image(data: bytes, *, source: str) -> np.ndarray:
    """uint8 H x W grayscale of an encoded image (PNG, JPEG, TIFF, ...)."""
    image_mod = pil_module()
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
    """uint8 H x W grayscale of a PIL image, by its mode's row of the contract."""
    from PIL import ImageOps

    img = ImageOps.exif_transpose(img) or img
    mode = img.mode
    if mode == "1":
        return read_values(np.asarray(img, dtype=bool), source)
    if mode in SIXTEEN_BIT_MODES:
        return read_values(np.asarray(img).astype(np.uint16), source)
    if mode == "I":
        return read_values(np.asarray(img, dtype=np.int32), source)
    if mode == "F":
        return read_values(np.asarray(img, dtype=np.float32), source)
    if mode in EIGHT_BIT_MODES:
        return pil_to_gray(img)
    raise refuse("other-dtype", f"{source}: Pillow image mode {mode!r} is not read")


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


def load_npy(data: bytes, *, source: str) -> np.ndarray:
    try:
        return np.load(io.BytesIO(data), allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise UsageError(
            f"cannot read {source} as a .npy array ({exc})",
            hint="save arrays with numpy.save (uint8 images, or floats in 0..1)",
        ) from exc


def is_npy(data: bytes, path: str | os.PathLike[str] | None = None) -> bool:
    return data.startswith(NPY_MAGIC) or (path is not None and Path(path).suffix.lower() == ".npy")


def label(path: str | os.PathLike[str]) -> str:
    """How messages name a path argument."""
    return "stdin ('-')" if str(path) == STDIN else f"'{Path(path)}'"


__all__ = [
    "STDIN",
    "decode_image",
    "is_npy",
    "is_pil_image",
    "label",
    "load_npy",
    "pil_gray",
    "read_bytes",
]
