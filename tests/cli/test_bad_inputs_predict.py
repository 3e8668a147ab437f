"""The bad-input sweep for `vggdeploy predict`'s inputs and outputs (see tests/badinput.py).

README "Accepted inputs" lists what is read; everything here is refused with exit 2 (the input)
or 4 (the model), a message naming the input, and no traceback.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from badinput import Case, run_case
from PIL import Image

from conftest import make_images


def _npy(ctx: dict, name: str, arr: np.ndarray) -> str:
    path = Path(ctx["tmp"]) / name
    np.save(path, arr)
    return str(path)


def _png(ctx: dict, name: str, arr: np.ndarray) -> str:
    path = Path(ctx["tmp"]) / name
    Image.fromarray(arr).save(path)
    return str(path)


def _bomb(ctx: dict) -> str:
    """A PNG whose header claims 40000 x 40000 pixels (a few hundred bytes on disk)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + body))
        return struct.pack(">I", len(body)) + kind + body + crc

    ihdr = struct.pack(">IIBBBBB", 40_000, 40_000, 1, 0, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
    data += chunk(b"IDAT", zlib.compress(b"\x00" * 16)) + chunk(b"IEND", b"")
    path = Path(ctx["tmp"]) / "bomb.png"
    path.write_bytes(data)
    return str(path)


def _gif(ctx: dict) -> str:
    frames = [Image.fromarray(im) for im in make_images(2, seed=3)[0]]
    path = Path(ctx["tmp"]) / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:])
    return str(path)


def _nan_model(ctx: dict) -> None:
    """A run folder whose (consistently re-saved) weights hold NaN: the model answers NaN."""
    import torch

    from vggdeploy.artifacts.checkpoint import load_checkpoint, save_checkpoint

    model, spec = load_checkpoint(ctx["tiny_run"])
    with torch.no_grad():
        next(model.parameters()).fill_(float("nan"))
    save_checkpoint(Path(ctx["tmp"]) / "nan_run", model, spec)


def _predict(ctx: dict, *inputs: str, model: str | None = None) -> list[str]:
    return ["predict", model or str(ctx["tiny_run"]), *inputs]


def _normalised(images: np.ndarray) -> np.ndarray:
    from vggdeploy.data import preprocess
    from vggdeploy.models import make_spec

    return preprocess(images, make_spec("vgg-mini"))  # the tiny run's preset


def _good(ctx: dict) -> str:
    return _npy(ctx, "good.npy", make_images(2, seed=4)[0])


CASES = [
    Case(
        "predict-directory",
        "predict on a directory instead of image files",
        lambda c: _predict(c, str(c["tmp"])),
        2,
        "is a directory.*hint: pass the image files in it",
    ),
    Case(
        "predict-blank-image",
        "predict on an image with no visible content (all pixels equal)",
        lambda c: _predict(c, _png(c, "blank.png", np.full((28, 28), 7, np.uint8))),
        2,
        "blank.png.*no visible content",
    ),
    Case(
        "predict-1x1-image",
        "predict on a 1x1 image",
        lambda c: _predict(c, _png(c, "dot.png", np.full((1, 1), 200, np.uint8))),
        2,
        "dot.png.*1x1 image is too small",
    ),
    Case(
        "predict-raw-floats",
        "predict on float 0..255 pixels (floats are intensities in 0..1)",
        lambda c: _predict(
            c, _npy(c, "raw.npy", np.pad(make_images(2, seed=5)[0], 2)[1:3, None] * 1.0)
        ),
        2,
        "raw.npy.*intensities in 0..1.*divide 0..255 values by 255",
    ),
    Case(
        "predict-decompression-bomb",
        "predict on a PNG claiming 40000x40000 pixels (decompression bomb)",
        lambda c: _predict(c, _bomb(c)),
        2,
        "bomb.png.*too large to decode safely",
    ),
    Case(
        "predict-animation",
        "predict on an animated GIF",
        lambda c: _predict(c, _gif(c)),
        2,
        "anim.gif.*2 frames",
    ),
    Case(
        "predict-stdin-twice",
        "predict with '-' (stdin) given twice",
        lambda c: _predict(c, "-", "-"),
        2,
        r"'-' \(stdin\) given more than once",
    ),
    Case(
        "predict-int-pixels",
        "predict on int32 pixels holding 16-bit values",
        lambda c: _predict(c, _npy(c, "int.npy", make_images(2, seed=6)[0].astype(np.int32) * 257)),
        2,
        "int.npy.*int32 pixels span.*astype\\(numpy.uint16\\)",
    ),
    Case(
        "predict-normalised-unstated",
        "predict on a normalised float tensor without --preprocessed (floats are never guessed)",
        lambda c: _predict(c, _npy(c, "norm.npy", _normalised(make_images(2, seed=7)[0]))),
        2,
        "norm.npy.*values below 0.*--preprocessed",
    ),
    Case(
        "predict-preprocessed-totensor",
        "predict --preprocessed on 0..1 ToTensor floats padded to the model's 32x32 input",
        lambda c: _predict(
            c,
            _npy(c, "tt.npy", np.pad(make_images(2, seed=8)[0], 2)[1:3, None] / np.float32(255)),
            "--preprocessed",
        ),
        2,
        "tt.npy.*not normalised black.*vggdeploy.data.preprocess",
    ),
    Case(
        "predict-preprocessed-pixels",
        "predict --preprocessed on uint8 pixels",
        lambda c: _predict(c, _good(c), "--preprocessed"),
        2,
        "good.npy.*preprocessed=True takes float",
    ),
    Case(
        "predict-chw-or-nhw",
        "predict on a 3 x 28 x 28 uint8 array (one RGB image channels-first, or 3 images?)",
        lambda c: _predict(c, _npy(c, "three.npy", make_images(3, seed=9)[0])),
        2,
        r"three.npy.*ambiguous.*x\[:, None\]",
    ),
    Case(
        "predict-uint16-8bit-values",
        "predict on a uint16 array holding 8-bit values (read as 16-bit: near black)",
        lambda c: _predict(c, _npy(c, "u16.npy", make_images(2, seed=10)[0].astype(np.uint16))),
        2,
        r"u16.npy.*brightest value is 1 of 255.*astype\(numpy.uint8\)",
    ),
    Case(
        "predict-onnxruntime-run-without-onnx",
        "predict --backend onnxruntime on a run folder with no model.onnx",
        lambda c: _predict(c, _good(c), "--backend", "onnxruntime"),
        4,
        "model.onnx is missing.*vggdeploy export",
    ),
    Case(
        "predict-nan-model",
        "predict --json with a model whose outputs are NaN",
        lambda c: _predict(c, _good(c), "--json", model=str(c["tmp"] / "nan_run")),
        4,
        "non-finite outputs",
        setup=_nan_model,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, ctx: dict, capsys) -> None:
    run_case(case, ctx, capsys)


def test_case_ids_are_unique() -> None:
    ids = [c.id for c in CASES]
    assert len(set(ids)) == len(ids)
    base = (Path(__file__).parent / "test_bad_inputs.py").read_text()
    assert not [i for i in ids if f'"{i}"' in base], "an id of the main sweep is reused"
