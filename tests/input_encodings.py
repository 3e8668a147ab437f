"""Encodings of real uint8 images for the inputs property test (tests/serve/test_inputs_property).

Each builder writes the same picture another way (a dtype and its scaling, an array layout, a
Pillow mode, a file format) and says, from how it built it and nothing else, which rows of README's
contract apply (``value_key``, ``layout_key``) and what the canonical uint8 reading of what it
wrote is (``canonical``: uint8 H x W images, one per expected answer). Lossless encodings give the
picture itself back; 1-bit, bfloat16, LAB and JPEG give what they hold, computed here.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image

# dtype -> scalings it is drawn with; "native" is the dtype's documented full-scale encoding
ARRAY_SCALINGS = {
    "uint8": ("native",),
    "bool": ("native",),
    "uint16": ("native", "unscaled"),
    "int8": ("unscaled",),
    "int16": ("native", "scaled16"),
    "int32": ("native", "scaled16"),
    "int64": ("native", "scaled16"),
    "uint32": ("native", "scaled16"),
    "uint64": ("native", "scaled16"),
    "float16": ("native", "unscaled", "normalised"),
    "float32": ("native", "unscaled", "normalised"),
    "float64": ("native", "unscaled", "normalised"),
}
TORCH_DTYPES = (
    "uint8",
    "bool",
    "int16",
    "int32",
    "int64",
    "float16",
    "float32",
    "float64",
    "bfloat16",
)
# (layout name, channels): how a batch of n images is laid out
LAYOUTS = (
    ("HW", 1), ("HWC", 1), ("HWC", 2), ("HWC", 3), ("HWC", 4), ("HWC", "4-mask"),
    ("CHW", 1), ("CHW", 3), ("CHW", 4), ("NHW", 1), ("NHWC", 1), ("NHWC", 3), ("NHWC", 4),
    ("NCHW", 1), ("NCHW", 3), ("NCHW", 4),
)  # fmt: skip
PIL_MODES = (
    "1", "L", "LA", "La", "P", "PA", "RGB", "RGBA", "RGBa", "RGBX", "CMYK", "YCbCr", "HSV",
    "LAB", "I", "I-scaled16", "I;16", "I;16-unscaled", "I;16B", "F", "F-unscaled",
)  # fmt: skip
# file format -> Pillow modes it stores losslessly as themselves (JPEG: lossy, canonical decoded)
FILE_MODES = {
    "PNG": ("1", "L", "LA", "P", "RGB", "RGBA", "I;16", "I;16-unscaled"),
    "TIFF": ("1", "L", "P", "RGB", "RGBA", "CMYK", "I;16", "I", "I-scaled16", "F", "F-unscaled"),
    "BMP": ("1", "L", "P", "RGB"),
    "GIF": ("L", "P"),
    "WEBP": ("RGB", "RGBA"),
    "JPEG": ("L", "RGB", "CMYK"),
}
SIZES = ("x1", "x2", "x3", "pad2")


@dataclass
class Encoding:
    value: Any
    canonical: list[np.ndarray]  # uint8 H x W per expected answer
    value_key: str
    layout_key: str | None = None
    preprocessed: bool = False
    light: bool = False  # a light background: every answer must carry a warning
    what: list[str] = field(default_factory=list)


def resized(g: np.ndarray, size: str) -> tuple[np.ndarray, bool]:
    """(the image at ``size``, whether the 28x28 picture is still its canonical reading)."""
    if size == "pad2":  # e.g. ToTensor after padding to the model's 32x32 input
        return np.pad(g, 2), False
    k = {"x1": 1, "x2": 2, "x3": 3}[size]
    return np.kron(g, np.ones((k, k), np.uint8)), True  # BOX-fitted back exactly


def scale_values(u8: np.ndarray, dtype: str, scaling: str) -> tuple[np.ndarray, np.ndarray, str]:
    """(encoded array, its canonical uint8 reading, value row) for uint8 pixels ``u8``."""
    if dtype == "uint8":
        return u8, u8, "uint8"
    if dtype == "bool":
        bits = u8 >= 128
        return bits, bits.astype(np.uint8) * 255, "bool"
    if dtype == "uint16":
        if scaling == "native":
            return u8.astype(np.uint16) * 257, u8, "uint16"
        return u8.astype(np.uint16), ((u8.astype(np.uint32) + 128) // 257).astype(np.uint8), "dim"
    if dtype.startswith(("int", "uint")):
        if scaling == "native":
            return u8.astype(dtype), u8, "int"
        if scaling == "unscaled":  # int8: 128..255 wrap to negative values
            return u8.astype(np.int16).astype(dtype), u8, "int-wide"
        return u8.astype(dtype) * 257, u8, "int-wide"
    if scaling == "native":
        v = (u8.astype(np.float32) / 255).astype(dtype)
        return v, float_reading(v), "float"
    return u8.astype(dtype), u8, "float-over-1"


def float_reading(v: np.ndarray) -> np.ndarray:
    """README's float row, written out: round(v x 255)."""
    return np.rint(np.asarray(v, np.float64) * 255).astype(np.uint8)


def lay_out(u8s: list[np.ndarray], layout: str, channels: Any) -> tuple[np.ndarray, str]:
    """Stack images (n of them, same size) in ``layout``; -> (array, layout row)."""
    x = np.stack(u8s)  # N x H x W
    n = len(u8s)
    if channels == "4-mask":  # white garment, visible through its alpha: composited = the image
        c = np.stack([np.full_like(x, 255)] * 3 + [x], axis=-1)
    else:
        c = np.stack([x] * channels, axis=-1)  # gray replicated: luma is the image
        if channels in (2, 4):
            c[..., -1] = 255  # opaque
    if layout == "HW":
        return x[0], "HW"
    if layout == "HWC":
        return c[0], "HWC"
    if layout == "CHW":
        return c[0].transpose(2, 0, 1), ("NHW" if channels == 1 else "CHW-or-NHW")
    if layout == "NHW":
        return x, ("CHW-or-NHW" if n in (3, 4) else "NHW")
    if layout == "NHWC":
        return c, "NHWC"
    return c.transpose(0, 3, 1, 2), "NCHW"


def layout_images(layout: str, n: int) -> int:
    return 1 if layout in ("HW", "HWC", "CHW") else n


# ---- Pillow images and files --------------------------------------------------------------------
def pil_image(u8: np.ndarray, mode: str, perm: np.ndarray) -> tuple[Any, np.ndarray, str]:
    """(PIL image of ``u8`` in ``mode``, canonical uint8 reading, value row)."""
    gray = Image.fromarray(u8)
    rgb = gray.convert("RGB")
    opaque = np.full_like(u8, 255)
    if mode == "1":
        bits = u8 >= 128
        return Image.fromarray(bits), bits.astype(np.uint8) * 255, "bool"
    if mode == "P":  # a shuffled gray palette: the reading must look colours up
        img = Image.fromarray(np.argsort(perm).astype(np.uint8)[u8], "P")
        img.putpalette(np.repeat(perm.astype(np.uint8), 3).tolist())
        return img, u8, "uint8"
    if mode in ("LA", "La", "PA"):
        la = Image.fromarray(np.stack([u8, opaque], -1), "LA")
        return (la if mode == "LA" else la.convert(mode)), u8, "uint8"
    if mode in ("RGBA", "RGBa"):
        rgba = Image.fromarray(np.stack([u8, u8, u8, opaque], -1), "RGBA")
        return (rgba if mode == "RGBA" else rgba.convert("RGBa")), u8, "uint8"
    if mode in ("RGB", "RGBX", "CMYK", "LAB"):
        img = rgb if mode == "RGB" else rgb.convert(mode)
        canonical = np.asarray(img.convert("RGB").convert("L")) if mode == "LAB" else u8
        return img, canonical, "uint8"
    if mode == "YCbCr":
        return (
            Image.fromarray(np.stack([u8, np.full_like(u8, 128), np.full_like(u8, 128)], -1), mode),
            u8,
            "uint8",
        )
    if mode == "HSV":
        zero = np.zeros_like(u8)
        return Image.fromarray(np.stack([zero, zero, u8], -1), "HSV"), u8, "uint8"
    if mode == "L":
        return gray, u8, "uint8"
    if mode in ("I", "I-scaled16"):
        wide = u8.astype(np.int32) * (257 if mode == "I-scaled16" else 1)
        return Image.fromarray(wide, "I"), u8, ("int-wide" if mode == "I-scaled16" else "int")
    if mode in ("I;16", "I;16-unscaled"):
        wide = u8.astype(np.uint16) * (257 if mode == "I;16" else 1)
        key = "uint16" if mode == "I;16" else "dim"
        return Image.fromarray(wide), ((wide.astype(np.uint32) + 128) // 257).astype(np.uint8), key
    if mode == "I;16B":
        big = (u8.astype(">u2") * 257).tobytes()
        return Image.frombytes("I;16B", u8.shape[::-1], big), u8, "uint16"
    if mode == "F":
        v = u8.astype(np.float32) / 255
        return Image.fromarray(v, "F"), float_reading(v), "float"
    if mode == "F-unscaled":
        return Image.fromarray(u8.astype(np.float32), "F"), u8, "float-over-1"
    raise AssertionError(mode)


def encoded(img: Any, fmt: str, canonical: np.ndarray) -> tuple[bytes, np.ndarray]:
    """(file bytes, canonical reading of the file): lossless formats keep the canonical reading;
    JPEG's is what it decodes to (the file holds those pixels, not the original's)."""
    buf = io.BytesIO()
    options = {"lossless": True} if fmt == "WEBP" else {"quality": 95} if fmt == "JPEG" else {}
    img.save(buf, fmt, **options)
    data = buf.getvalue()
    if fmt == "JPEG":
        with Image.open(io.BytesIO(data)) as back:
            canonical = np.asarray(back.convert("RGB").convert("L"))
    return data, canonical
