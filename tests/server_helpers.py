"""Shared by the `vggdeploy serve` tests (tests/serve/test_server*.py): a model to serve, real
test images, one `infer` over HTTP or gRPC, and the checks every fault test ends with."""

from __future__ import annotations

import contextlib
import io
import shutil
from pathlib import Path

import numpy as np
import pytest

COMMITTED_MODEL = Path(__file__).parent / "assets" / "vgg-mini-default"
FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
CALL_TIMEOUT_S = 60.0


def copy_model(dst: Path) -> Path:
    """The committed trained model as a run folder of its own (tests may modify it)."""
    dst.mkdir(parents=True)
    for name in ("model.json", "model.safetensors"):
        shutil.copy2(COMMITTED_MODEL / name, dst / name)
    return dst


def fashion_test_images(n: int) -> np.ndarray:
    """The first n real Fashion-MNIST test images (uint8 n x 28 x 28)."""
    from vggdeploy.data.fashion_mnist import load_split

    if not (FASHION_MNIST / "t10k-images-idx3-ubyte.gz").exists():
        pytest.skip(f"Fashion-MNIST is not installed at {FASHION_MNIST} (scripts/setup.sh)")
    return load_split("test", FASHION_MNIST).images[:n]


def png_bytes(image: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    return buf.getvalue()


def infer(
    server,
    protocol: str,
    *,
    image: list[bytes] | None = None,
    image_base64: list[bytes] | None = None,
    tensor: np.ndarray | None = None,
    tensor_name: str = "input",
    datatype: str | None = None,
    model: str = "fmnist-default",
    outputs: tuple[str, ...] = ("logits", "probabilities", "class_id", "class_name"),
) -> dict[str, np.ndarray]:
    """One inference request with the given inputs; the named outputs as arrays."""
    client_mod = _client_module(protocol)
    url = server.http_url if protocol == "http" else server.grpc_url
    inputs = []
    for name, items in (("image", image), ("image_base64", image_base64)):
        if items is not None:
            arr = np.array(items, dtype=np.object_).reshape(len(items), 1)
            inp = client_mod.InferInput(name, list(arr.shape), "BYTES")
            inp.set_data_from_numpy(arr)
            inputs.append(inp)
    if tensor is not None:
        arr = np.asarray(tensor)
        dtype = datatype or _triton_dtype(arr.dtype)
        inp = client_mod.InferInput(tensor_name, list(arr.shape), dtype)
        inp.set_data_from_numpy(arr)
        inputs.append(inp)
    requested = [client_mod.InferRequestedOutput(o) for o in outputs]
    if protocol == "http":
        client = client_mod.InferenceServerClient(
            url, connection_timeout=CALL_TIMEOUT_S, network_timeout=CALL_TIMEOUT_S
        )
        try:
            result = client.infer(model, inputs, outputs=requested)
        finally:
            client.close()
    else:
        client = client_mod.InferenceServerClient(url)
        try:
            result = client.infer(model, inputs, outputs=requested, client_timeout=CALL_TIMEOUT_S)
        finally:
            client.close()
    return {o: result.as_numpy(o) for o in outputs}


def expect_refused(server, protocol: str, request: dict, needle: str) -> str:
    """The request gets a per-request error (HTTP 400 / gRPC INVALID_ARGUMENT) naming `needle`."""
    from tritonclient.utils import InferenceServerException

    try:
        infer(server, protocol, **request)
    except InferenceServerException as exc:
        status = str(exc.status())
        assert status in ("400", "StatusCode.INVALID_ARGUMENT"), (status, exc.message())
        assert needle.lower() in exc.message().lower(), exc.message()
        return exc.message()
    raise AssertionError(f"{protocol}: {sorted(request)} was answered, expected '{needle}'")


def assert_still_serving(server, protocol: str, predictor, images: np.ndarray) -> None:
    """A correct request right after a fault gets the Predictor's answer."""
    pngs = [png_bytes(images[1]), png_bytes(images[2])]
    got = infer(server, protocol, image=pngs)
    np.testing.assert_array_equal(got["class_id"][:, 0], predictor.predict(pngs).class_ids)


def _client_module(protocol: str):
    if protocol == "http":
        import tritonclient.http as mod
    elif protocol == "grpc":
        import tritonclient.grpc as mod
    else:
        raise ValueError(protocol)
    return mod


def _triton_dtype(dtype: np.dtype) -> str:
    from tritonclient.utils import np_to_triton_dtype

    return np_to_triton_dtype(dtype)


@contextlib.contextmanager
def running_server(artifact: Path, args: list[str] | None = None, ready_timeout_s: float = 90.0):
    """A real `vggdeploy serve` of ``artifact`` on free loopback ports, ready, always stopped
    (SIGTERM, then the whole process group killed if it did not exit cleanly)."""
    from vggdeploy.serve.launch import start_server

    proc = start_server(artifact, args=args or [])
    try:
        proc.wait_ready(ready_timeout_s)
        yield proc
    finally:
        if proc.stop(timeout_s=60) not in (143, 0):
            proc.kill_group()
