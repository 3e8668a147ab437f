"""Issue 19 class 1's examples, reproduced on the trained default model and real test images.

On the main of 2026-12-02 each failed: a float array in 0..1 (torchvision ToTensor's output) of
the model's input shape was taken as "already normalised" (200 test images: 93 % -> 22 %, exit 0,
through the Python API and `vggdeploy predict x.npy`); an inverted image (dark garment on white)
was answered with no word. Now floats are intensities in 0..1 unless stated preprocessed=True, and
a light background is warned about in the result and on stderr.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from vggdeploy.cli import main
from vggdeploy.data import preprocess
from vggdeploy.errors import UsageError
from vggdeploy.serve.inputs import to_batch

N = 200


@pytest.fixture(scope="module")
def sample(real_test_split) -> tuple[np.ndarray, np.ndarray]:
    images, labels = real_test_split
    return images[:N], labels[:N]


def to_tensor(images: np.ndarray) -> np.ndarray:
    """What torchvision's ToTensor gives for uint8 grayscale images: float32 N x 1 x H x W / 255."""
    return (images[:, None].astype(np.float32) / 255.0).astype(np.float32)


def test_totensor_floats_get_the_uint8_answers(real_predictor, sample) -> None:
    images, labels = sample
    padded = np.pad(images, ((0, 0), (2, 2), (2, 2)))  # the model's own 32 x 32 input shape
    want = real_predictor.predict(padded)
    assert (want.class_ids == labels).mean() > 0.85  # the model is good on these images
    got = real_predictor.predict(to_tensor(padded))  # main read these as normalised: 22 %
    np.testing.assert_array_equal(got.class_ids, want.class_ids)
    native = real_predictor.predict(images)
    assert (native.class_ids == labels).mean() > 0.88
    got = real_predictor.predict(to_tensor(images))  # N x 1 x 28 x 28 in 0..1 (main: refused)
    np.testing.assert_array_equal(got.class_ids, native.class_ids)


def test_totensor_npy_through_the_cli(real_run: Path, sample, tmp_path: Path, capsys) -> None:
    images, _ = sample
    padded = np.pad(images[:64], ((0, 0), (2, 2), (2, 2)))
    np.save(tmp_path / "x.npy", to_tensor(padded))
    np.save(tmp_path / "u8.npy", padded)
    answers = {}
    for name in ("x.npy", "u8.npy"):
        assert main(["predict", str(real_run), str(tmp_path / name), "--json"]) == 0
        answers[name] = [r["class_id"] for r in json.loads(capsys.readouterr().out)]
    assert answers["x.npy"] == answers["u8.npy"]


def test_normalised_tensors_must_be_stated(real_predictor, real_run, sample, tmp_path, capsys):
    images, _ = sample
    pre = preprocess(images, real_predictor.spec)
    with pytest.raises(UsageError, match="values below 0") as info:
        real_predictor.predict(pre)
    assert "preprocessed=True" in info.value.hint and "--preprocessed" in info.value.hint
    stated = real_predictor.predict(pre, preprocessed=True)
    np.testing.assert_array_equal(stated.class_ids, real_predictor.predict(images).class_ids)
    np.save(tmp_path / "pre.npy", pre[:8])
    assert main(["predict", str(real_run), str(tmp_path / "pre.npy")]) == 2
    assert "--preprocessed" in capsys.readouterr().err
    assert main(["predict", str(real_run), str(tmp_path / "pre.npy"), "--preprocessed"]) == 0
    # ToTensor output stated as preprocessed is caught by the model's padding ring
    with pytest.raises(UsageError, match="not normalised black"):
        real_predictor.predict(
            to_tensor(np.pad(images, ((0, 0), (2, 2), (2, 2)))), preprocessed=True
        )


def test_light_background_flags_inverted_images_only(real_test_split, real_predictor) -> None:
    """The rule flags none of the 10,000 real test images and all of them inverted."""
    images, _ = real_test_split
    spec = real_predictor.spec
    assert to_batch(images, spec).warnings == ()
    flagged = to_batch(255 - images, spec).warnings
    assert [w.row for w in flagged] == list(range(len(images)))
    assert flagged[7].source == "images[7]" and "light background" in flagged[7].message


def test_light_background_is_warned_in_the_result(real_predictor, sample) -> None:
    images, _ = sample
    with pytest.warns(UserWarning, match="light background"):
        out = real_predictor.predict([images[0], 255 - images[1]])
    assert [w.row for w in out.warnings] == [1]
    assert out.warnings[0].message.startswith("images[1]: light background")
    records = out.to_records()
    assert records[0]["warnings"] == [] and "invert" in records[1]["warnings"][0]


def test_light_background_is_warned_on_stderr(real_run: Path, sample, tmp_path, capsys) -> None:
    from PIL import Image

    images, _ = sample
    Image.fromarray(255 - images[3]).save(tmp_path / "white.png")
    Image.fromarray(images[3]).save(tmp_path / "black.png")
    argv = ["predict", str(real_run), str(tmp_path / "white.png"), str(tmp_path / "black.png")]
    assert main([*argv, "--json"]) == 0
    captured = capsys.readouterr()
    assert captured.err.count("warning:") == 1
    assert "white.png': light background" in captured.err and "black.png" not in captured.err
    records = json.loads(captured.out)
    assert len(records[0]["warnings"]) == 1 and records[1]["warnings"] == []
