"""What vggdeploy changes in pytriton 0.7.0 (pinned: these hooks use its internals).

pytriton runs the inference callable in *this* process; the ``tritonserver`` it starts reaches it
through a proxy model (Python backend stub -> ZeroMQ/shared memory). Three things differ from
pytriton's defaults, each for a reason the issue states:

1. **Per-request errors.** pytriton's proxy has no per-response error: an exception fails every
   request of the dynamic batch with INTERNAL (HTTP 500) and a traceback. :data:`PROXY_MODEL`
   wraps pytriton's proxy (renamed ``pytriton_proxy.py`` beside it) so that a response holding
   only ``vggdeploy_error`` becomes an INVALID_ARG error (HTTP 400 / gRPC INVALID_ARGUMENT) for
   that request alone.
2. **Ready means ready.** pytriton loads models through the repository API after the server is
   up, so ``/v2/health/ready`` is true before the model exists. Here the model is written into
   the repository *before* ``tritonserver`` starts (pytriton's local-model-store policy), with a
   Triton ``model_warmup`` request; Triton opens its HTTP/gRPC ports only after the model loaded
   and that warm-up inference ran through the whole path (server -> stub -> this process) and
   succeeded. The in-process handler is connected concurrently (:meth:`ServedTriton.start`).
3. **Metadata.** The model config's ``parameters`` carry the ModelSpec, the artifact's sha256 and
   vggdeploy's version (``GET /v2/models/NAME/config``).
"""

from __future__ import annotations

import pathlib
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from pytriton.models.model import Model
from pytriton.triton import Triton

from vggdeploy.serve.handler import ERROR_OUTPUT

PYTRITON_VERSION = "0.7.0"
PROXY_RENAMED = "pytriton_proxy.py"
WARMUP_FILE = "warmup_input"
PROXY_MODEL = f'''"""vggdeploy's proxy: pytriton's (pytriton_proxy.py) with per-request errors."""
import numpy as np
import triton_python_backend_utils as pb_utils

from . import pytriton_proxy as _proxy

TritonPythonModel = _proxy.TritonPythonModel
_wrap_pytriton = _proxy._wrap_response


def _wrap_response(response, requested_output_names, model_outputs_dict):
    data = response.data
    if data is not None and "{ERROR_OUTPUT}" in data:
        text = np.asarray(data["{ERROR_OUTPUT}"]).reshape(-1)[0]
        text = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
        return pb_utils.InferenceResponse(
            error=pb_utils.TritonError(text, pb_utils.TritonError.INVALID_ARG)
        )
    return _wrap_pytriton(response, requested_output_names, model_outputs_dict)


_proxy._wrap_response = _wrap_response
'''


class ServedModel(Model):
    """pytriton's Model with vggdeploy's proxy, config parameters and a Triton warm-up request."""

    def __init__(
        self,
        *args: Any,
        parameters: dict[str, str],
        warmup_input: tuple[str, np.ndarray],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self._vgg_parameters = parameters
        self._vgg_warmup = warmup_input

    def _get_triton_model_config(self):  # type: ignore[no-untyped-def]
        from pytriton.model_config.common import ModelWarmup, WarmupInput

        first = self._triton_model_config is None
        config = super()._get_triton_model_config()
        if first:
            config.backend_parameters.update(self._vgg_parameters)
            name, sample = self._vgg_warmup
            config.model_warmup = [
                ModelWarmup(
                    name="vggdeploy-warmup",
                    batch_size=1,
                    inputs={
                        name: WarmupInput(
                            dtype=np.float32, shape=tuple(sample.shape), input_data_file=WARMUP_FILE
                        )
                    },
                    count=1,
                )
            ]
        return config

    def generate_model(self, model_repository: pathlib.Path) -> None:
        super().generate_model(model_repository)
        version_dir = model_repository / self.model_name / str(self.model_version)
        (version_dir / "model.py").rename(version_dir / PROXY_RENAMED)
        (version_dir / "model.py").write_text(PROXY_MODEL)
        warmup_dir = model_repository / self.model_name / "warmup"
        warmup_dir.mkdir(exist_ok=True)
        _, sample = self._vgg_warmup
        (warmup_dir / WARMUP_FILE).write_bytes(np.ascontiguousarray(sample, "<f4").tobytes())


class ServedTriton(Triton):
    """pytriton's Triton, started so that it answers only once the model is loaded and warm."""

    def bind_model(self, model: Model) -> None:
        """Add a model built by the caller (Triton.bind builds pytriton's own Model)."""
        self._validate_model_name(model.model_name)
        model.on_model_event(self._on_model_event)
        self._model_manager.add_model(model, self.is_connected())

    @property
    def model_manager(self) -> Any:
        return self._model_manager

    @property
    def workspace(self) -> Any:
        return self._workspace

    def start(self, *, ready: Callable[[], bool], timeout_s: float) -> None:
        """Start tritonserver, connect the inference handlers while it loads the model, and
        return when ``ready()`` is true; RuntimeError with the reason otherwise."""
        self._run_server()
        errors: list[BaseException] = []
        setup = threading.Thread(
            target=self._connect_handlers, args=(timeout_s, errors), name="vggdeploy-setup"
        )
        setup.daemon = True
        setup.start()
        deadline = time.monotonic() + timeout_s
        while True:
            if errors:
                raise RuntimeError(f"the inference handler could not connect: {errors[0]}")
            if not self.server_alive():
                raise RuntimeError("tritonserver exited while starting")
            if not setup.is_alive() and ready():
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"the server was not ready after {timeout_s:.0f} s")
            time.sleep(0.05)
        with self._cv:
            self._connected = True

    def server_alive(self) -> bool:
        return self._triton_server is not None and self._triton_server.is_alive()

    def server_pid(self) -> int | None:
        cmd = getattr(self._triton_server, "_tritonserver_running_cmd", None)
        return None if cmd is None else int(cmd.pid)

    def _connect_handlers(self, timeout_s: float, errors: list[BaseException]) -> None:
        """Wait (bounded) for each model's handshake socket, written by the stub while Triton
        loads the model, then connect pytriton's inference handlers to it."""
        deadline = time.monotonic() + timeout_s
        try:
            for model in self._model_manager.models:
                sock = self._workspace.path / f"{model.model_name}-config.sock"
                while not sock.exists():
                    if time.monotonic() > deadline or not self.server_alive():
                        raise TimeoutError(f"no handshake socket {sock.name} from the server")
                    time.sleep(0.02)
                model.setup()
        except BaseException as exc:  # reported by start()
            errors.append(exc)


def tensors(specs: Sequence[tuple[str, Any, tuple[int, ...], bool]]) -> list[Any]:
    from pytriton.model_config import Tensor

    return [Tensor(name=n, dtype=d, shape=s, optional=o) for n, d, s, o in specs]


__all__ = ["PROXY_MODEL", "PYTRITON_VERSION", "ServedModel", "ServedTriton", "tensors"]
