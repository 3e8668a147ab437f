"""`vggdeploy serve` against a real Triton server (pytriton's tritonserver), loopback only.

One server per module (the committed trained model, copied to tmp) answers real Fashion-MNIST
test images sent as PNG bytes, base64 JSON and preprocessed tensors over HTTP and gRPC; results
are compared with the in-process Predictor. Then 16 concurrent clients with mixed batch sizes, the
fault sweep (each fault followed by a correct request) and the model's metadata.
"""

from __future__ import annotations

import base64
import json
import threading
import urllib.request
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pytriton", reason="the serve extra: pip install 'vggdeploy[serve]'")
http = pytest.importorskip("tritonclient.http")
grpc = pytest.importorskip("tritonclient.grpc")
from server_helpers import (  # noqa: E402
    assert_still_serving,
    copy_model,
    expect_refused,
    fashion_test_images,
    infer,
    png_bytes,
    running_server,
)

from vggdeploy._io import sha256_file  # noqa: E402

MAX_BATCH = 16
READY_TIMEOUT_S = 90


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_model(tmp_path_factory.mktemp("served") / "fmnist-default")


@pytest.fixture(scope="module")
def server(model_dir: Path):
    with running_server(model_dir, ["--max-batch", str(MAX_BATCH)], READY_TIMEOUT_S) as proc:
        yield proc


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    return fashion_test_images(64)


# ---- parity with the in-process Predictor --------------------------------------------------------
@pytest.mark.parametrize("protocol", ["http", "grpc"])
@pytest.mark.parametrize("form", ["png", "tensor"])
def test_real_images_match_predictor(server, predictor, images, protocol, form) -> None:
    from vggdeploy.serve.inputs import to_batch

    want = predictor.predict(list(images))
    for start in range(0, len(images), MAX_BATCH):
        part = images[start : start + MAX_BATCH]
        if form == "png":
            got = infer(server, protocol, image=[png_bytes(im) for im in part])
        else:
            got = infer(server, protocol, tensor=to_batch(part[:, None], predictor.spec)[0])
        rows = slice(start, start + len(part))
        np.testing.assert_array_equal(got["class_id"][:, 0], want.class_ids[rows])
        np.testing.assert_allclose(got["logits"], want.logits[rows], rtol=0, atol=1e-5)
        np.testing.assert_allclose(got["probabilities"], want.probabilities[rows], atol=1e-6)
        names = [n.decode() for n in got["class_name"][:, 0]]
        assert names == list(want.class_names[rows])


def test_base64_json_like_the_readme_curl(server, predictor, images) -> None:
    """The README's curl body, sent with urllib: base64 PNG in a KServe v2 JSON request."""
    png = png_bytes(images[0])
    body = {
        "inputs": [
            {
                "name": "image_base64",
                "shape": [1, 1],
                "datatype": "BYTES",
                "data": [base64.b64encode(png).decode()],
            }
        ],
        "outputs": [{"name": "class_name"}, {"name": "class_id"}],
    }
    reply = post_json(server, "fmnist-default", body)
    outputs = {o["name"]: o["data"] for o in reply["outputs"]}
    want = predictor.predict(png)
    assert outputs["class_id"] == [int(want.class_ids[0])]
    assert outputs["class_name"] == [want.class_names[0]]


def test_served_model_is_named_after_the_run_folder(server) -> None:
    client = http.InferenceServerClient(server.http_url)
    assert client.is_model_ready("fmnist-default")


def test_metadata_carries_spec_sha256_and_version(server, model_dir, predictor) -> None:
    import vggdeploy

    config = http.InferenceServerClient(server.http_url).get_model_config("fmnist-default")
    params = {k: v["string_value"] for k, v in config["parameters"].items()}
    assert params["artifact_sha256"] == sha256_file(model_dir / "model.safetensors")
    assert params["vggdeploy_version"] == vggdeploy.__version__
    assert json.loads(params["model_spec"]) == json.loads(predictor.spec.to_json())
    assert config["max_batch_size"] == MAX_BATCH
    assert config["dynamic_batching"]["max_queue_delay_microseconds"] == 1000


# ---- load: 16 concurrent clients, each response checked against its own request -----------------
CLIENTS = 16
REQUESTS_PER_CLIENT = 12


def test_concurrent_clients_get_their_own_answers(server, predictor, images) -> None:
    from vggdeploy.serve.inputs import to_batch

    batch, _ = to_batch(images, predictor.spec)
    want = predictor.logits(batch)
    before = model_stats(server)
    errors: list[str] = []
    start = threading.Barrier(CLIENTS)

    def client(c: int) -> None:
        rng = np.random.default_rng(c)
        protocol = "grpc" if c % 2 else "http"
        try:
            start.wait(timeout=30)
            for _ in range(REQUESTS_PER_CLIENT):
                n = int(rng.integers(1, 9))
                rows = rng.choice(len(images), size=n, replace=False)
                if c % 4 < 2:
                    got = infer(server, protocol, tensor=batch[rows])
                else:
                    got = infer(server, protocol, image=[png_bytes(images[i]) for i in rows])
                if got["logits"].shape != (n, want.shape[1]):
                    errors.append(f"client {c}: {got['logits'].shape} for {n} images")
                elif not np.allclose(got["logits"], want[rows], rtol=0, atol=1e-5):
                    errors.append(f"client {c}: logits of other images (rows {rows.tolist()})")
        except Exception as exc:  # collected, asserted in the main thread
            errors.append(f"client {c}: {exc!r}")

    threads = [threading.Thread(target=client, args=(c,)) for c in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "clients still running after 120 s"
    assert not errors, errors[:5]
    after = model_stats(server)
    requests = (
        after["inference_stats"]["success"]["count"] - before["inference_stats"]["success"]["count"]
    )
    executions = after["execution_count"] - before["execution_count"]
    assert requests == CLIENTS * REQUESTS_PER_CLIENT
    assert executions < requests, "dynamic batching never merged two requests"


# ---- faults: each gets a per-request error, then a correct request is answered ------------------
def test_more_images_than_max_batch(server, predictor, images) -> None:
    from vggdeploy.serve.inputs import to_batch

    batch, _ = to_batch(np.repeat(images[:1, None], MAX_BATCH + 1, axis=0), predictor.spec)
    for protocol in ("http", "grpc"):
        expect_refused(server, protocol, {"tensor": batch}, f"must be <= {MAX_BATCH}")
        assert_still_serving(server, protocol, predictor, images)


def test_stale_artifact_is_refused_per_request_until_restored(
    server, model_dir, predictor, images
) -> None:
    weights = model_dir / "model.safetensors"
    original = weights.read_bytes()
    try:
        weights.write_bytes(original[:-4] + b"\0\0\0\0")
        for protocol in ("http", "grpc"):
            expect_refused(server, protocol, {"image": [png_bytes(images[0])]}, "stale artifact")
            expect_refused(server, protocol, {"image": [png_bytes(images[0])]}, "model.safetensors")
    finally:
        weights.write_bytes(original)
    for protocol in ("http", "grpc"):
        assert_still_serving(server, protocol, predictor, images)


# ---- helpers -------------------------------------------------------------------------------------
def model_stats(server) -> dict:
    client = http.InferenceServerClient(server.http_url)
    return client.get_inference_statistics("fmnist-default")["model_stats"][0]


def post_json(server, model: str, body: dict, timeout: float = 30) -> dict:
    req = urllib.request.Request(
        f"http://{server.http_url}/v2/models/{model}/infer",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return json.loads(resp.read())
