"""vggdeploy.serve.inputs: every accepted form of README "Accepted inputs" takes one path to the
model's native image (grayscale, 28x28), and inputs that cannot give an answer are refused."""

from __future__ import annotations

import io
import os
import struct
import sys
import threading
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vggdeploy.data import preprocess
from vggdeploy.errors import UsageError
from vggdeploy.models.presets import make_spec
from vggdeploy.serve.inputs import MIN_SIDE, fit_to, preprocessed_range, scale_16bit, to_batch

from conftest import make_images

SPEC = make_spec("vgg-mini")  # 1 x 32 x 32, 28x28 padded


@pytest.fixture(scope="module")
def gray() -> np.ndarray:
    return make_images(6, seed=11)[0]


def batch(x) -> np.ndarray:
    return to_batch(x, SPEC).tensor


def png_bytes(img: Image.Image, **save) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG", **save)
    return buf.getvalue()


# ---- colour and channels -------------------------------------------------------------------------
def test_rgb_array_is_one_grayscale_image(gray: np.ndarray) -> None:
    rgb = np.repeat(gray[0][..., None], 3, axis=2)  # 28 x 28 x 3: ONE image, not 28
    read = to_batch(rgb, SPEC)
    out = read.tensor
    assert out.shape == (1, 1, 32, 32) and read.sources == ("images",)
    np.testing.assert_array_equal(out, batch(gray[0]))
    # colours become ITU-R 601 luma, exactly as Pillow's "L" conversion
    rng = np.random.default_rng(0)
    colour = rng.integers(0, 256, (28, 28, 3), dtype=np.uint8)
    luma = np.asarray(Image.fromarray(colour).convert("L"))
    np.testing.assert_array_equal(batch(colour), batch(luma))
    np.testing.assert_array_equal(batch(colour[None]), batch(luma))  # N x H x W x 3


def test_rgba_is_composited_on_the_black_background(gray: np.ndarray) -> None:
    rgba = np.zeros((28, 28, 4), np.uint8)
    rgba[..., :3] = 255  # white everywhere ...
    rgba[..., 3] = gray[0]  # ... visible where the garment is
    np.testing.assert_array_equal(batch(rgba), batch(gray[0]))
    opaque = np.concatenate([np.repeat(gray[1][..., None], 3, 2), np.full((28, 28, 1), 255)], 2)
    np.testing.assert_array_equal(batch(opaque.astype(np.uint8)), batch(gray[1]))


def test_channel_first_and_pil_images(gray: np.ndarray) -> None:
    np.testing.assert_array_equal(batch(gray[:, None]), batch(gray))  # N x 1 x H x W uint8
    rgb_first = np.repeat(gray[:, None], 3, axis=1)  # N x 3 x H x W uint8
    np.testing.assert_array_equal(batch(rgb_first), batch(gray))
    pil = Image.fromarray(gray[2])
    np.testing.assert_array_equal(batch(pil), batch(gray[2]))
    np.testing.assert_array_equal(batch(pil.convert("RGB")), batch(gray[2]))
    both = to_batch([pil, gray[3]], SPEC)
    assert both.tensor.shape[0] == 2 and both.sources == ("images[0]", "images[1]")


def test_palette_and_transparent_palette_files(gray: np.ndarray, tmp_path: Path) -> None:
    levels = (gray[0] // 64) * 64  # 4 gray levels fit a palette exactly
    pal = Image.fromarray(levels).convert("P")
    pal.save(tmp_path / "p.png")
    np.testing.assert_array_equal(batch(tmp_path / "p.png"), batch(levels))
    # palette entry of the background made transparent: it lands on black either way
    bright = Image.fromarray(np.where(levels == 0, 255, levels).astype(np.uint8)).convert("P")
    assert levels[0, 0] == 0
    bright.save(tmp_path / "t.png", transparency=bright.getpixel((0, 0)))
    assert Image.open(tmp_path / "t.png").mode == "P"
    np.testing.assert_array_equal(batch(tmp_path / "t.png"), batch(levels))


# ---- bit depth, orientation, size ----------------------------------------------------------------
def test_16bit_pngs_are_scaled_not_clipped(gray: np.ndarray, tmp_path: Path) -> None:
    wide = gray[0].astype(np.uint16) * 257  # the same picture in 16 bits
    Image.fromarray(wide).save(tmp_path / "16.png")
    assert Image.open(tmp_path / "16.png").mode.startswith("I")
    np.testing.assert_array_equal(batch(tmp_path / "16.png"), batch(gray[0]))
    np.testing.assert_array_equal(batch(wide), batch(gray[0]))  # uint16 arrays alike
    assert scale_16bit(np.array([0, 128, 129, 257, 65535], np.uint16)).tolist() == [0, 0, 1, 1, 255]


def test_exif_orientation_is_applied(gray: np.ndarray, tmp_path: Path) -> None:
    stored = Image.fromarray(np.rot90(gray[0], 2).copy())  # the camera's sensor order
    exif = Image.Exif()
    exif[0x0112] = 3  # Orientation: rotate 180 to display
    stored.save(tmp_path / "rot.png", exif=exif.tobytes())
    np.testing.assert_array_equal(batch(tmp_path / "rot.png"), batch(gray[0]))


def test_fit_to_keeps_aspect_and_centres() -> None:
    img = np.arange(28 * 28, dtype=np.uint8).reshape(28, 28) | 1
    big = np.kron(img, np.ones((2, 2), np.uint8))  # 56 x 56, each pixel doubled
    np.testing.assert_array_equal(fit_to(big, (28, 28)), img)
    wide = np.full((14, 56), 200, np.uint8)  # 1:4 -> 7 x 28 band in the middle, black around
    out = fit_to(wide, (28, 28))
    rows = np.flatnonzero(out.max(axis=1))
    assert rows.tolist() == list(range(10, 17)) and (out[rows] == 200).all()
    assert fit_to(img, (28, 28)) is img  # the native size is left untouched


def test_other_sizes_take_the_native_image_path(gray: np.ndarray) -> None:
    """A 56x56 copy of an image is the 28x28 image (fit, then the ModelSpec's own padding)."""
    big = np.stack([np.kron(g, np.ones((2, 2), np.uint8)) for g in gray])
    np.testing.assert_array_equal(batch(big), batch(gray))
    small = gray[:, ::2, ::2]  # 14 x 14 is enlarged to 28 x 28, then padded to 32
    out = batch(small)
    assert out.shape == (6, 1, 32, 32)
    lo = preprocessed_range(SPEC)[0]
    inner = out[:, 0, 2:30, 2:30]
    assert (inner > lo + 1e-6).any(axis=(1, 2)).all()  # the content fills the 28 x 28 area


# ---- refused -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("bad", "match"),
    [
        (np.full((28, 28), 128, np.uint8), "no visible content"),
        (np.zeros((2, 28, 28), np.uint8), r"images\[0\]: the image has no visible content"),
        (np.zeros((1, 1, 32, 32), np.float32), "no visible content"),
        (np.full((1, 1), 200, np.uint8), "1x1 image is too small"),
        (np.zeros((2, MIN_SIDE - 1, 20), np.uint8), "too small"),
        (np.full((1, 1, 32, 32), 255.0, np.float32), "read as intensities in 0..1"),
        (np.zeros((2, 28, 28, 5), np.uint8), "5 channels"),
        (np.full((2, 28, 28), 300, np.int64), "int64 pixels span 300..300"),
        (np.zeros((2, 28, 28), np.complex64), "dtype complex64"),
        (b"not an image", "cannot read image"),
    ],
)
def test_refused(bad, match: str) -> None:
    with pytest.raises(UsageError, match=match):
        to_batch(bad, SPEC)


def test_stated_preprocessed_input_is_taken_as_is(gray: np.ndarray) -> None:
    pre = preprocess(gray, SPEC)
    out = to_batch(pre, SPEC, preprocessed=True).tensor
    np.testing.assert_array_equal(out, pre)
    lo, hi = preprocessed_range(SPEC)
    assert pre.min() >= lo - 1e-6 and pre.max() <= hi + 1e-6
    with pytest.raises(UsageError, match="preprocessed=True") as info:  # never guessed
        batch(pre)
    assert "normalised tensor" in info.value.hint
    raw = gray[:, None].astype(np.float32)  # 0..255 floats of the right shape
    with pytest.raises(UsageError, match="intensities in 0..1"):
        batch(np.pad(raw, ((0, 0), (0, 0), (2, 2), (2, 2))))
    with pytest.raises(UsageError, match="preprocessing gives"):
        to_batch(np.pad(raw, ((0, 0), (0, 0), (2, 2), (2, 2))), SPEC, preprocessed=True)


# ---- files, pipes, stdin, bytes ------------------------------------------------------------------
def test_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="is a directory") as info:
        to_batch(tmp_path, SPEC)
    assert "*.png" in info.value.hint


def test_stdin_and_bytes(gray: np.ndarray, monkeypatch: pytest.MonkeyPatch) -> None:
    data = png_bytes(Image.fromarray(gray[0]))
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    read = to_batch("-", SPEC)
    np.testing.assert_array_equal(read.tensor, batch(gray[0]))
    assert read.sources == ("<stdin>",)
    np.testing.assert_array_equal(batch(data), batch(gray[0]))  # encoded bytes
    npy = io.BytesIO()
    np.save(npy, gray[:2])
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(npy.getvalue())))
    np.testing.assert_array_equal(batch("-"), batch(gray[:2]))  # .npy on stdin
    with pytest.raises(UsageError, match="more than once"):
        to_batch(["-", "-"], SPEC)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_named_pipe_is_read(gray: np.ndarray, tmp_path: Path) -> None:
    fifo = tmp_path / "img.png"
    os.mkfifo(fifo)
    data = png_bytes(Image.fromarray(gray[1]))

    def writer() -> None:
        with open(fifo, "wb") as fh:
            fh.write(data)

    t = threading.Thread(target=writer)
    t.start()
    try:
        out = batch(fifo)
    finally:
        t.join(timeout=10)
    np.testing.assert_array_equal(out, batch(gray[1]))


def bomb_png(width: int, height: int) -> bytes:
    """A PNG header claiming width x height 1-bit pixels (Pillow checks the size on open)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + body))
        return struct.pack(">I", len(body)) + kind + body + crc

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 16)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_decompression_bomb_is_refused(tmp_path: Path) -> None:
    for side in (12_000, 40_000):  # over Pillow's warning limit; over its error limit
        (tmp_path / "bomb.png").write_bytes(bomb_png(side, side))
        with pytest.raises(UsageError, match="too large to decode safely"):
            to_batch(tmp_path / "bomb.png", SPEC)


def test_animations_are_refused(gray: np.ndarray, tmp_path: Path) -> None:
    frames = [Image.fromarray(g) for g in gray[:2]]
    frames[0].save(tmp_path / "a.gif", save_all=True, append_images=frames[1:])
    with pytest.raises(UsageError, match="2 frames"):
        to_batch(tmp_path / "a.gif", SPEC)


def test_totensor_output_stated_preprocessed_is_caught_without_padding(gray: np.ndarray) -> None:
    """A 28x28-input model has no padding ring to check: 0..1 ToTensor floats stated
    preprocessed=True are refused because they never reach the normalised black."""
    spec28 = make_spec("vgg-mini28")
    assert (spec28.input.height, spec28.input.width) == (28, 28)
    tensor = gray[:, None].astype(np.float32) / 255
    with pytest.raises(UsageError, match="no black at all"):
        to_batch(tensor, spec28, preprocessed=True)
    np.testing.assert_array_equal(
        to_batch(preprocess(gray, spec28), spec28, preprocessed=True).tensor,
        preprocess(gray, spec28),
    )
    np.testing.assert_array_equal(to_batch(tensor, spec28).tensor, preprocess(gray, spec28))
