"""Every bad request gets its own error (HTTP 400 / gRPC INVALID_ARGUMENT naming the problem) and
the server keeps serving: each case is followed by a correct request that must be answered.

The cases are generated from tables (Triton's datatypes, every axis of the model's input shape,
non-finite values x positions, every input x an empty batch, hypothesis' byte strings), sent over
both protocols; bad and good requests mixed in one dynamic batch must not fail each other.
"""

from __future__ import annotations

import base64
import threading
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytest.importorskip("pytriton", reason="the serve extra: pip install 'vggdeploy[serve]'")
pytest.importorskip("tritonclient.http")
pytest.importorskip("tritonclient.grpc")
from server_helpers import (  # noqa: E402
    assert_still_serving,
    copy_model,
    expect_refused,
    fashion_test_images,
    infer,
    png_bytes,
    running_server,
)

from vggdeploy.serve.inputs import to_batch  # noqa: E402

PROTOCOLS = ("http", "grpc")
MAX_BATCH = 8
# every Triton datatype the clients can send, except the tensor input's own FP32
WRONG_DTYPES = {
    "FP64": np.float64,
    "FP16": np.float16,
    "INT8": np.int8,
    "UINT8": np.uint8,
    "INT16": np.int16,
    "INT32": np.int32,
    "INT64": np.int64,
    "BOOL": np.bool_,
}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_model(tmp_path_factory.mktemp("faults") / "fmnist-default")


@pytest.fixture(scope="module")
def server(model_dir: Path):
    # a long queue delay so that concurrent bad and good requests share executions
    args = ["--max-batch", str(MAX_BATCH), "--max-queue-delay-us", "20000"]
    with running_server(model_dir, args) as proc:
        yield proc


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    return fashion_test_images(8)


@pytest.fixture(scope="module")
def good_tensor(predictor, images) -> np.ndarray:
    return to_batch(images[:2], predictor.spec)[0]


# ---- generated cases -----------------------------------------------------------------------------
@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("dtype", sorted(WRONG_DTYPES))
def test_wrong_dtype(server, predictor, images, good_tensor, protocol, dtype) -> None:
    bad = good_tensor.astype(WRONG_DTYPES[dtype])
    expect_refused(server, protocol, {"tensor": bad}, f"data-type is '{dtype}'")
    assert_still_serving(server, protocol, predictor, images)


def _wrong_shapes(chw: tuple[int, int, int]) -> list[tuple[int, ...]]:
    """Each of C, H, W one smaller and one larger; one axis too few and one too many."""
    shapes = []
    for axis in range(3):
        for delta in (-1, 1):
            s = list(chw)
            s[axis] += delta
            shapes.append((2, *s))
    shapes += [(2, *chw[1:]), (2, *chw, 1)]
    return [s for s in shapes if all(d > 0 for d in s)]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_wrong_shapes(server, predictor, images, protocol) -> None:
    chw = tuple(predictor.spec.input.shape(1)[1:])
    for shape in _wrong_shapes(chw):
        bad = np.zeros(shape, dtype=np.float32)
        expect_refused(server, protocol, {"tensor": bad}, "shape")
        assert_still_serving(server, protocol, predictor, images)


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("row", [0, 1])
def test_non_finite_tensor(server, predictor, images, good_tensor, protocol, value, row) -> None:
    bad = good_tensor.copy()
    bad[row, 0, row * 5, 3] = value
    message = expect_refused(server, protocol, {"tensor": bad}, "NaN or Inf")
    assert f"images[{row}]" in message
    assert_still_serving(server, protocol, predictor, images)


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("name", ["image", "image_base64", "tensor"])
def test_empty_batch(server, predictor, images, protocol, name) -> None:
    if name == "tensor":
        chw = tuple(predictor.spec.input.shape(1)[1:])
        request = {"tensor": np.zeros((0, *chw), dtype=np.float32)}
    else:
        request = {name: []}
    expect_refused(server, protocol, request, "")  # Triton's own wording; 400 is what counts
    assert_still_serving(server, protocol, predictor, images)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_more_images_than_max_batch(server, predictor, images, protocol) -> None:
    pngs = [png_bytes(images[i % len(images)]) for i in range(MAX_BATCH + 1)]
    expect_refused(server, protocol, {"image": pngs}, f"must be <= {MAX_BATCH}")
    assert_still_serving(server, protocol, predictor, images)


def _named_faults(images: np.ndarray, good: np.ndarray) -> dict[str, tuple[dict, str]]:
    png = png_bytes(images[0])
    blank = png_bytes(np.full((28, 28), 7, dtype=np.uint8))
    tiny = png_bytes(images[0][::7, ::7])
    return {
        "garbage bytes": ({"image": [b"\x00garbage\xff" * 3]}, "cannot read image"),
        "truncated png": ({"image": [png[: len(png) // 2]]}, "image"),
        "one bad of three": ({"image": [png, b"not an image", png]}, "images[1]"),
        "blank image": ({"image": [blank]}, "no visible content"),
        "tiny image": ({"image": [tiny]}, "too small"),
        "not base64": ({"image_base64": [b"%%% not base64 %%%"]}, "not valid base64"),
        "base64 of garbage": ({"image_base64": [base64.b64encode(b"junk")]}, "cannot read"),
        "raw pixels as floats": ({"tensor": good * 0 + 200.0}, "raw pixels"),
        "two inputs": ({"image": [png], "tensor": good[:1]}, "exactly one of the inputs"),
    }


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_named_faults(server, predictor, images, good_tensor, protocol) -> None:
    for case, (request, needle) in _named_faults(images, good_tensor).items():
        try:
            expect_refused(server, protocol, request, needle)
        except AssertionError as exc:
            raise AssertionError(f"{case}: {exc}") from exc
        assert_still_serving(server, protocol, predictor, images)


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.binary(min_size=0, max_size=256))
def test_arbitrary_bytes_never_crash_the_server(server, predictor, images, data) -> None:
    for protocol in PROTOCOLS:
        try:
            got = infer(server, protocol, image=[data])
        except Exception as exc:  # refused: must be a client error, never INTERNAL
            assert str(getattr(exc, "status", lambda: "")()) in (
                "400",
                "StatusCode.INVALID_ARGUMENT",
            ), exc
        else:  # bytes that happen to decode get the Predictor's answer
            want = predictor.predict(data)
            np.testing.assert_array_equal(got["class_id"][:, 0], want.class_ids)
        assert_still_serving(server, protocol, predictor, images)


# ---- bad and good requests in the same dynamic batch ---------------------------------------------
def test_bad_requests_do_not_fail_their_batch_mates(server, predictor, images) -> None:
    want = predictor.predict([png_bytes(im) for im in images]).class_ids
    results: dict[tuple[int, int], str] = {}
    barrier = threading.Barrier(8)

    def client(c: int) -> None:
        protocol = PROTOCOLS[c % 2]
        barrier.wait(timeout=30)
        for r in range(6):
            key = (c, r)
            try:
                if c < 4:
                    got = infer(server, protocol, image=[png_bytes(images[c])])
                    ok = int(got["class_id"][0, 0]) == int(want[c])
                    results[key] = "ok" if ok else "wrong"
                else:
                    infer(server, protocol, image=[b"garbage"])
                    results[key] = "bad answered"
            except Exception as exc:
                status = str(getattr(exc, "status", lambda: "")())
                refused = status in ("400", "StatusCode.INVALID_ARGUMENT")
                results[key] = ("refused" if refused else f"error {status}") if c >= 4 else "lost"

    threads = [threading.Thread(target=client, args=(c,)) for c in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    good = [v for (c, _), v in results.items() if c < 4]
    bad = [v for (c, _), v in results.items() if c >= 4]
    assert good == ["ok"] * 24, good
    assert bad == ["refused"] * 24, bad
