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
        "predict on float 0..255 pixels passed as a preprocessed batch",
        lambda c: _predict(
            c, _npy(c, "raw.npy", np.pad(make_images(2, seed=5)[0], 2)[1:3, None] * 1.0)
        ),
        2,
        "raw.npy.*look like raw pixels.*uint8",
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
        "predict on int64 pixels",
        lambda c: _predict(c, _npy(c, "int.npy", make_images(2, seed=6)[0].astype(np.int64))),
        2,
        "int.npy.*dtype int64.*astype",
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
