"""vggdeploy.load() / Predictor: artifact dispatch, input forms, chunking, locking, bad input.

Most tests run the Predictor on CheckpointDouble (a real torch-eager Runner registered in place of
the torch backend), so they do not depend on the backend modules. ``TestRealBackends`` runs the
same checks on the real runners and skips, with the reason, where a backend module is absent.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest
from onnx_artifacts import export_fp32 as export_onnx
from serve_doubles import (
    CheckpointDouble,
    OverlapDetector,
    reference_logits,
    register,
)

import vggdeploy
from vggdeploy.cli import main
from vggdeploy.data import preprocess
from vggdeploy.errors import ArtifactError, UsageError
from vggdeploy.serve.predictor import Predictor, artifact_backend, load, softmax
from vggdeploy.spec import FASHION_MNIST_CLASSES, Preprocess

from conftest import make_images


@pytest.fixture
def double(monkeypatch: pytest.MonkeyPatch) -> None:
    register(monkeypatch, "torch", CheckpointDouble)


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    return make_images(12, seed=5)[0]


# ---- artifact dispatch ---------------------------------------------------------------------------
def test_artifact_backend_by_type(tmp_path: Path) -> None:
    for name in ("model.json", "model.safetensors", "m.onnx", "m.engine", "m.engine.json", "m.pt2"):
        (tmp_path / name).write_bytes(b"x")
    assert artifact_backend(tmp_path) == ("torch", tmp_path)
    assert artifact_backend(tmp_path / "model.json")[0] == "torch"
    assert artifact_backend(tmp_path / "model.safetensors")[0] == "torch"
    assert artifact_backend(tmp_path / "m.onnx")[0] == "onnxruntime"
    assert artifact_backend(tmp_path / "m.engine") == ("tensorrt", tmp_path / "m.engine")
    assert artifact_backend(tmp_path / "m.engine.json") == ("tensorrt", tmp_path / "m.engine")
    assert artifact_backend(tmp_path / "m.pt2")[0] == "inductor"


def test_unknown_artifact_type_lists_supported_kinds(tmp_path: Path) -> None:
    odd = tmp_path / "model.tflite"
    odd.write_bytes(b"x")
    with pytest.raises(UsageError, match="cannot tell what kind") as info:
        vggdeploy.load(odd)
    assert ".onnx" in info.value.hint and ".engine" in info.value.hint and ".pt2" in info.value.hint
    with pytest.raises(ArtifactError, match="not found"):
        vggdeploy.load(tmp_path / "missing.onnx")
    with pytest.raises(UsageError, match="unknown backend 'tvm'"):
        vggdeploy.load(tmp_path / "model.json", backend="tvm")


# ---- predictions ---------------------------------------------------------------------------------
def test_predict_matches_the_model(double: None, tiny_run: Path, images: np.ndarray) -> None:
    with vggdeploy.load(tiny_run) as predictor:
        assert isinstance(predictor, Predictor) and predictor.backend == "torch"
        out = predictor.predict(images)
    ref = reference_logits(tiny_run, preprocess(images, predictor.spec))
    np.testing.assert_allclose(out.logits, ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(out.class_ids, ref.argmax(axis=1))
    np.testing.assert_allclose(out.probabilities.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(out.probabilities, softmax(ref), rtol=1e-5, atol=1e-6)
    assert out.class_names == tuple(FASHION_MNIST_CLASSES[i] for i in out.class_ids)
    assert len(out) == 12 and out.confidences.shape == (12,)
    records = out.to_records(top_k=3)
    assert records[0]["class_name"] == out.class_names[0] and len(records[0]["top"]) == 3
    json.dumps(records)  # JSON-ready


def test_input_forms_agree(double: None, tiny_run: Path, images: np.ndarray, tmp_path: Path):
    from PIL import Image

    predictor = load(tiny_run)
    base = predictor.predict(images).logits
    pre = preprocess(images, predictor.spec)
    np.testing.assert_allclose(predictor.predict(pre).logits, base, rtol=1e-6)  # float32 NCHW
    single = predictor.predict(images[3]).logits  # H x W
    np.testing.assert_allclose(single, base[3:4], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(predictor.predict(images[..., None]).logits, base, rtol=1e-6)
    np.testing.assert_allclose(  # list of arrays
        predictor.predict([images[0], images[1:4]]).logits, base[:4], rtol=1e-5, atol=1e-6
    )
    paths = []
    for i in range(3):
        paths.append(tmp_path / f"img{i}.png")
        Image.fromarray(images[i]).save(paths[-1])
    by_file = predictor.predict(paths)
    np.testing.assert_allclose(by_file.logits, base[:3], rtol=1e-5, atol=1e-6)
    assert by_file.sources == tuple(str(p) for p in paths)
    rgb = tmp_path / "rgb.png"  # an RGB file is converted to the model's 1 channel
    Image.fromarray(np.repeat(images[0][..., None], 3, axis=2)).save(rgb)
    np.testing.assert_allclose(predictor.predict(str(rgb)).logits, base[:1], atol=1e-6)
    np.save(tmp_path / "batch.npy", images[:5])
    np.testing.assert_allclose(
        predictor.predict(tmp_path / "batch.npy").logits, base[:5], rtol=1e-5, atol=1e-6
    )


def _resized(images: np.ndarray, size: tuple[int, int], resample: str) -> np.ndarray:
    from PIL import Image

    how = getattr(Image.Resampling, resample)
    return np.stack([np.asarray(Image.fromarray(im).resize(size[::-1], how)) for im in images])


class CentroidRunner(CheckpointDouble):
    """A classifier that needs no training and is sensitive to where the garment lies: the
    nearest class centroid of preprocessed synthetic Fashion-MNIST (make_images) wins."""

    def _activate(self):
        spec = super()._activate()
        images, labels = make_images(2000, seed=7)
        pre = preprocess(images, spec).reshape(len(images), -1).astype(np.float64)
        self.centroids = np.stack([pre[labels == c].mean(axis=0) for c in range(10)])
        return spec

    def _infer(self, batch: np.ndarray) -> np.ndarray:
        x = batch.reshape(batch.shape[0], -1).astype(np.float64)
        d2 = ((x[:, None, :] - self.centroids[None]) ** 2).sum(axis=2)
        return (-d2 / x.shape[1]).astype(np.float32)


@pytest.mark.parametrize(
    ("size", "resample", "accuracy"),
    [
        ((28, 28), "NEAREST", 1.0),
        ((56, 56), "NEAREST", 1.0),
        ((84, 84), "NEAREST", 1.0),
        ((56, 56), "BICUBIC", 0.99),
        ((60, 60), "LANCZOS", 0.99),
        ((20, 20), "BOX", 0.95),
    ],
)
def test_other_sizes_classify_like_the_native_size(monkeypatch, tiny_run, size, resample, accuracy):
    """The same garments at another size get the native size's answers: fitted to 28x28 with an
    area filter, then the ModelSpec's own padding. Before, a 56x56 image was squeezed into the
    padded 32x32 frame: 9 to 65 % of the answers changed."""
    register(monkeypatch, "torch", CentroidRunner)
    native, labels = make_images(256, seed=21)
    predictor = load(tiny_run)
    assert (predictor.predict(native).class_ids == labels).mean() == 1.0
    out = predictor.predict(_resized(native, size, resample))
    assert (out.class_ids == labels).mean() >= accuracy
    if resample == "NEAREST":  # whole-pixel copies come back exactly
        np.testing.assert_allclose(out.logits, predictor.predict(native).logits, atol=1e-6)


def test_smaller_and_non_square_images_are_fitted(double: None, tiny_run: Path) -> None:
    native = make_images(8, seed=22)[0]
    predictor = load(tiny_run)
    half = _resized(native, (14, 14), "BOX")  # enlarged to 28 x 28 with the same filter
    np.testing.assert_array_equal(
        predictor.predict(half).logits, predictor.predict(_resized(half, (28, 28), "BOX")).logits
    )
    tall = _resized(native, (56, 28), "BOX")  # letterboxed: 28 x 14 centred on black
    boxed = np.zeros((8, 28, 28), np.uint8)
    boxed[:, :, 7:21] = _resized(tall, (28, 14), "BOX")
    np.testing.assert_array_equal(predictor.predict(tall).logits, predictor.predict(boxed).logits)


def test_resize_not_allowed_is_a_clear_error(monkeypatch, tiny_run: Path) -> None:
    register(monkeypatch, "torch", CheckpointDouble)
    fixed = Preprocess(source_size=(32, 32), mode="none")
    predictor = load(tiny_run, spec_changes={"preprocess": fixed})
    at_32 = np.pad(make_images(1, seed=3)[0], ((0, 0), (2, 2), (2, 2)))
    assert predictor.predict(at_32).logits.shape == (1, 10)
    with pytest.raises(UsageError, match="does not resize"):
        predictor.predict(np.zeros((1, 28, 28), np.uint8))


def test_batches_are_split_to_the_runner_maximum(monkeypatch, tiny_run: Path, images) -> None:
    register(monkeypatch, "torch", CheckpointDouble)
    whole = load(tiny_run).predict(images).logits
    predictor = load(tiny_run, bounds=(1, 5))
    assert predictor.max_batch == 5
    out = predictor.predict(images)
    assert predictor.runner.calls == [5, 5, 2]  # the last chunk is not padded
    np.testing.assert_allclose(out.logits, whole, rtol=1e-5, atol=1e-6)
    capped = load(tiny_run, max_batch=4)
    capped.predict(images)
    assert capped.runner.calls == [4, 4, 4]
    with pytest.raises(UsageError, match="exceeds"):
        load(tiny_run, bounds=(1, 5), max_batch=6)


def test_minimum_batch_pads_only_to_the_minimum(monkeypatch, tiny_run: Path, images) -> None:
    register(monkeypatch, "torch", CheckpointDouble)
    whole = load(tiny_run).predict(images[:2]).logits
    predictor = load(tiny_run, bounds=(4, 8))
    out = predictor.predict(images[:2])
    assert predictor.runner.calls == [4]
    assert out.logits.shape == (2, 10)
    np.testing.assert_allclose(out.logits, whole, rtol=1e-5, atol=1e-6)


def test_non_thread_safe_backends_are_locked(monkeypatch, tiny_run: Path, images) -> None:
    register(monkeypatch, "tensorrt", OverlapDetector)

    def hammer(predictor: Predictor) -> None:
        threads = [
            threading.Thread(target=lambda: [predictor.predict(images[:1]) for _ in range(10)])
            for _ in range(6)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    locked = load(tiny_run, backend="tensorrt")
    assert not locked.thread_safe
    hammer(locked)
    assert locked.runner.max_inside == 1
    # The same runner without the lock does overlap: the detector can see it.
    unlocked = load(tiny_run, backend="tensorrt", thread_safe=True)
    hammer(unlocked)
    assert unlocked.runner.max_inside > 1


# ---- bad input -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("bad", "match"),
    [
        (np.zeros((0, 28, 28), np.uint8), "no images"),
        ([], "no images"),
        (np.zeros((0, 1, 32, 32), np.float32), "no images"),
        (np.full((2, 1, 32, 32), np.nan, np.float32), "NaN"),
        (np.zeros((2, 3, 32, 32), np.float32), "not a preprocessed batch"),
        (np.zeros((2, 32, 32), np.float32), "not a preprocessed batch"),
        (np.zeros((2, 28, 28, 2), np.uint8), "2 channels"),
        (np.zeros((2, 28, 28), np.int64), "dtype int64"),
        ({"not": "an image"}, "cannot predict on a dict"),
    ],
)
def test_bad_input_is_a_usage_error(double: None, tiny_run: Path, bad, match: str) -> None:
    predictor = load(tiny_run)
    with pytest.raises(UsageError, match=match):
        predictor.predict(bad)


class NaNDouble(CheckpointDouble):
    """A broken artifact: the second image of every call comes back as NaN/Inf."""

    def _infer(self, batch: np.ndarray) -> np.ndarray:
        out = super()._infer(batch)
        if len(out) > 1:
            out[1, 3] = np.nan
            out[-1, 0] = np.inf
        return out


def test_non_finite_outputs_are_an_artifact_error(monkeypatch, tiny_run: Path, images) -> None:
    register(monkeypatch, "torch", NaNDouble)
    predictor = load(tiny_run)
    assert predictor.predict(images[:1]).logits.shape == (1, 10)  # finite: fine
    with pytest.raises(ArtifactError, match=r"non-finite.*2 of 4 images \(first: images\[1\]\)"):
        predictor.predict(images[:4])


@pytest.mark.parametrize("device", ["gpu", "cuda:x", "cuda:", "cpu0", -1, 1.5, True])
def test_load_validates_the_device(tiny_run: Path, device) -> None:
    with pytest.raises(UsageError, match="unknown device"):
        load(tiny_run, device=device)


def test_unreadable_image_files(double: None, tiny_run: Path, tmp_path: Path) -> None:
    predictor = load(tiny_run)
    garbage = tmp_path / "broken.png"
    garbage.write_bytes(b"\x89PNG not really")
    with pytest.raises(UsageError, match="cannot read image .*broken.png"):
        predictor.predict(garbage)
    with pytest.raises(UsageError, match="not found"):
        predictor.predict(tmp_path / "missing.png")
    (tmp_path / "bad.npy").write_bytes(b"nope")
    with pytest.raises(UsageError, match="bad.npy"):
        predictor.predict(str(tmp_path / "bad.npy"))


# ---- CLI -----------------------------------------------------------------------------------------
def test_cli_predict(double: None, tiny_run: Path, images, tmp_path: Path, capsys) -> None:
    from PIL import Image

    Image.fromarray(images[0]).save(tmp_path / "a.png")
    np.save(tmp_path / "b.npy", images[1:3])
    assert main(["predict", str(tiny_run), str(tmp_path / "a.png"), str(tmp_path / "b.npy")]) == 0
    text = capsys.readouterr().out
    assert "a.png" in text and "b.npy[1]" in text
    assert main(["predict", str(tiny_run), str(tmp_path / "b.npy"), "--json", "--top-k", "2"]) == 0
    records = json.loads(capsys.readouterr().out)
    expected = load(tiny_run).predict(images[1:3])
    assert [r["class_id"] for r in records] == expected.class_ids.tolist()
    assert len(records[0]["top"]) == 2
    assert main(["predict", str(tiny_run), str(tmp_path / "missing.png")]) == 2
    assert "not found" in capsys.readouterr().err


# ---- real backends over every artifact available here ----------------------------------------
@pytest.fixture(scope="module")
def onnx_model(_trained_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return Path(export_onnx(_trained_run, tmp_path_factory.mktemp("onnx") / "model.onnx"))


def _artifact(kind: str, run: Path, request: pytest.FixtureRequest, tmp: Path) -> Path:
    if kind == "torch":
        return run
    if kind == "onnxruntime":
        return request.getfixturevalue("onnx_model")
    return request.getfixturevalue("tiny_pt2")


REAL = [
    pytest.param("torch", id="checkpoint-torch"),
    pytest.param("onnxruntime", id="onnx-onnxruntime"),
    pytest.param("inductor", id="pt2-inductor"),
]


@pytest.mark.parametrize("kind", REAL)
def test_real_backend(kind, _trained_run, request, tmp_path, images) -> None:
    path = _artifact(kind, _trained_run, request, tmp_path)
    with vggdeploy.load(path) as predictor:
        assert predictor.backend == kind
        out = predictor.predict(images)
        ref = reference_logits(_trained_run, preprocess(images, predictor.spec))
        np.testing.assert_allclose(out.logits, ref, rtol=1e-3, atol=1e-4)
        np.testing.assert_array_equal(out.class_ids, ref.argmax(axis=1))
        with pytest.raises(UsageError, match="NaN"):
            predictor.predict(np.full((1, 1, 32, 32), np.nan, np.float32))


@pytest.fixture(scope="module")
def variants(_trained_run: Path, fake_data: Path, tmp_path_factory: pytest.TempPathFactory):
    """The export stage's real FP16 and INT8 models (calibrated on the fake train split)."""
    import shutil

    from vggdeploy.export.pipeline import export_variants

    run = tmp_path_factory.mktemp("variants") / "run"
    shutil.copytree(_trained_run, run)
    return export_variants(run, precisions="all", data_dir=fake_data, max_batch=16)


@pytest.mark.parametrize("variant", ["fp16", "int8", "int8-cpu"])
def test_onnx_precision_variants(variant, variants, _trained_run, images) -> None:
    """FP16 / INT8 ONNX through the Predictor: close to the FP32 model, same class mostly."""
    with vggdeploy.load(variants[variant].path) as predictor:
        assert predictor.backend == "onnxruntime"
        out = predictor.predict(images)
    ref = reference_logits(_trained_run, preprocess(images, predictor.spec))
    np.testing.assert_allclose(out.probabilities.sum(axis=1), 1.0, rtol=1e-5)
    agreement = (out.class_ids == ref.argmax(axis=1)).mean()
    assert agreement >= 0.9, f"{variant}: top-1 agreement {agreement:.2f} with FP32"
    tol = 0.05 if variant == "fp16" else 1.0
    assert np.abs(out.logits - ref).max() < tol
