"""``vggdeploy serve``: one artifact behind a real Triton Inference Server (pytriton).

Life of a server (each step refuses with a documented exit code before anything starts):

1. options checked (ports distinct and free on the host, model name Triton accepts) -> exit 2;
2. the artifact loaded with :func:`vggdeploy.load` (missing, corrupt or stale -> exit 4) and one
   warm-up inference run in this process through the request decoder -> exit 4 if it fails;
3. ``tritonserver`` (bundled with pytriton) started with the Python backend stub pointed at this
   interpreter's libpython (``LD_LIBRARY_PATH``), the model in its repository with a Triton
   warm-up request; HTTP/gRPC answer only once that warm-up passed (see ``pytriton_glue``);
4. the endpoints are printed; the process waits for SIGINT (exit 130) or SIGTERM (exit 143);
5. stop: tritonserver drains in-flight requests (up to ``--drain-timeout`` seconds) while this
   process keeps answering them, then exits; the workspace (model repository, sockets, logs),
   shared-memory segments and child processes are gone when ``serve`` returns.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vggdeploy._optional import require
from vggdeploy.errors import ArtifactError, UsageError, VggDeployError
from vggdeploy.serve.preflight import (
    check_name,
    check_ports,
    default_model_name,
    stub_environment,
    workspace_base,
)

DEFAULT_MAX_BATCH = 64
DEFAULT_QUEUE_DELAY_US = 1000
STARTUP_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class ServeOptions:
    model_name: str | None = None
    host: str = "127.0.0.1"
    http_port: int = 8000
    grpc_port: int = 8001
    metrics_port: int = 8002
    max_batch: int | None = None
    max_queue_delay_us: int = DEFAULT_QUEUE_DELAY_US
    instances: int = 1
    device: str | None = None
    backend: str | None = None
    drain_timeout_s: int = 30
    startup_timeout_s: float = STARTUP_TIMEOUT_S


@dataclass(frozen=True)
class Endpoints:
    model_name: str
    http: str
    grpc: str
    metrics: str

    def lines(self) -> list[str]:
        return [
            f"  HTTP     {self.http}/v2/models/{self.model_name}/infer",
            f"  gRPC     {self.grpc}",
            f"  metrics  {self.metrics}/metrics",
        ]


# ---- the server ----------------------------------------------------------------------------------
class Server:
    """A loaded model behind a started tritonserver; :meth:`stop` drains and cleans up."""

    def __init__(self, artifact: str | os.PathLike[str], options: ServeOptions) -> None:
        require("pytriton", extra="serve", purpose="vggdeploy serve")
        require("tritonclient.http", extra="serve", purpose="vggdeploy serve")
        from vggdeploy._version import __version__
        from vggdeploy.serve.handler import ArtifactWatch, InferenceCallable
        from vggdeploy.serve.predictor import load

        self.options = options
        self.artifact = Path(artifact)
        self.name = check_name(options.model_name or default_model_name(self.artifact))
        if options.instances < 1 or options.max_queue_delay_us < 0:
            raise UsageError("--instances must be >= 1 and --max-queue-delay-us >= 0")
        ports = {
            "--http-port": options.http_port,
            "--grpc-port": options.grpc_port,
            "--metrics-port": options.metrics_port,
        }
        check_ports(options.host, ports)
        self.workspace_base = workspace_base(self.name, options.instances)
        runner_opts = {} if options.device is None else {"device": options.device}
        self.predictor = load(
            self.artifact,
            backend=options.backend,
            max_batch=options.max_batch or None,
            **runner_opts,
        )
        self._tmp: Path | None = None
        self._triton: Any = None
        try:
            hi = self.predictor.runner.batch_bounds()[1]
            self.max_batch = options.max_batch or min(DEFAULT_MAX_BATCH, hi or DEFAULT_MAX_BATCH)
            self.watch = ArtifactWatch(Path(self.predictor.runner.source))
            self.callable = InferenceCallable(self.predictor, self.watch)
            self.sample = warmup_sample(self.predictor.spec)
            self._warm_up_in_process()
            self.version = __version__
        except BaseException:
            self.predictor.close()
            raise

    # ---- start -----------------------------------------------------------------------------------
    def _warm_up_in_process(self) -> None:
        request = {self.callable.interface.tensor_input: self.sample[None]}
        (response,) = self.callable([request])
        from vggdeploy.serve.handler import ERROR_OUTPUT

        if ERROR_OUTPUT in response:
            message = response[ERROR_OUTPUT][0].decode()
            raise ArtifactError(f"the warm-up inference on {self.artifact} failed: {message}")

    def parameters(self) -> dict[str, str]:
        spec = self.predictor.spec
        return {
            "vggdeploy_version": self.version,
            "artifact": str(self.artifact.resolve()),
            "artifact_sha256": self.watch.primary_sha256,
            "artifact_files": json.dumps({p.name: h for p, h in self.watch.sha256.items()}),
            "backend": self.predictor.backend,
            "model_spec": spec.to_json(),
            "spec_fingerprint": spec.fingerprint(),
        }

    def start(self) -> Endpoints:
        from pytriton.model_config import DynamicBatcher, ModelConfig
        from pytriton.triton import TritonConfig, TritonLifecyclePolicy, TritonSecurityConfig

        from vggdeploy.serve.pytriton_glue import ServedModel, ServedTriton

        o = self.options
        self._tmp = Path(tempfile.mkdtemp(prefix="vggdeploy-serve-", dir=self.workspace_base))
        config = TritonConfig(
            http_address=o.host,
            grpc_address=o.host,
            metrics_address=o.host,
            http_port=o.http_port,
            grpc_port=o.grpc_port,
            metrics_port=o.metrics_port,
            exit_timeout_secs=o.drain_timeout_s,
            strict_readiness=True,
            exit_on_error=True,
            allow_gpu_metrics=shutil.which("nvidia-smi") is not None,  # else NVML errors at start
            log_file=self._tmp / "tritonserver.log",
        )
        # statistics stay open (perf_analyzer and the tests read them); repository control,
        # shared-memory registration, trace and logging settings need pytriton's token
        security = TritonSecurityConfig(
            restricted_endpoints=["model-repository", "shared-memory", "trace", "logging"]
        )
        policy = TritonLifecyclePolicy(launch_triton_on_startup=True, local_model_store=True)
        triton = ServedTriton(
            config=config,
            workspace=self._tmp / "workspace",
            triton_lifecycle_policy=policy,
            security_config=security,
        )
        self._triton = triton
        model = ServedModel(
            model_name=self.name,
            model_version=1,
            inference_fn=[self.callable] * o.instances,
            inputs=self._inputs(),
            outputs=self._outputs(),
            config=ModelConfig(
                max_batch_size=self.max_batch,
                batcher=DynamicBatcher(max_queue_delay_microseconds=o.max_queue_delay_us),
            ),
            workspace=triton.workspace,
            triton_context=triton._triton_context,
            strict=False,
            parameters=self.parameters(),
            warmup_input=(self.callable.interface.tensor_input, self.sample),
        )
        triton.bind_model(model)
        with stub_environment():
            try:
                triton.start(ready=self._ready, timeout_s=o.startup_timeout_s)
            except RuntimeError as exc:
                raise ArtifactError(
                    f"the Triton server did not start: {exc}",
                    hint="its log ends with:\n" + self.log_tail(),
                ) from exc
        return self.endpoints()

    def _inputs(self) -> list[Any]:
        from vggdeploy.serve.handler import INPUT_IMAGE, INPUT_IMAGE_BASE64
        from vggdeploy.serve.pytriton_glue import tensors

        chw = tuple(self.predictor.spec.input.shape(1)[1:])
        return tensors(
            [
                (INPUT_IMAGE, np.bytes_, (1,), True),
                (INPUT_IMAGE_BASE64, np.bytes_, (1,), True),
                (self.callable.interface.tensor_input, np.float32, chw, True),
            ]
        )

    def _outputs(self) -> list[Any]:
        from vggdeploy.serve import handler as h
        from vggdeploy.serve.pytriton_glue import tensors

        k = self.predictor.spec.num_classes
        return tensors(
            [
                (self.callable.interface.logits_output, np.float32, (k,), False),
                (h.OUTPUT_PROBABILITIES, np.float32, (k,), False),
                (h.OUTPUT_CLASS_ID, np.int64, (1,), False),
                (h.OUTPUT_CLASS_NAME, np.bytes_, (1,), False),
            ]
        )

    def _ready(self) -> bool:
        import tritonclient.http as http

        try:
            client = http.InferenceServerClient(self.endpoints().http[7:], network_timeout=2.0)
            try:
                return bool(client.is_server_ready() and client.is_model_ready(self.name))
            finally:
                client.close()
        except Exception:  # not listening yet: Triton opens its ports after the model loaded
            return False

    def endpoints(self) -> Endpoints:
        o = self.options
        host = f"[{o.host}]" if ":" in o.host else o.host
        return Endpoints(
            model_name=self.name,
            http=f"http://{host}:{o.http_port}",
            grpc=f"{host}:{o.grpc_port}",
            metrics=f"http://{host}:{o.metrics_port}",
        )

    def alive(self) -> bool:
        return self._triton is not None and self._triton.is_alive()

    def log_tail(self, lines: int = 20) -> str:
        log = (self._tmp / "tritonserver.log") if self._tmp else None
        if log is None or not log.exists():
            return "(no log)"
        text = log.read_text(errors="replace").splitlines()
        errors = [line for line in text if line.startswith("E")]  # Triton's error lines
        return "\n".join((errors or text)[-lines:])

    # ---- stop ------------------------------------------------------------------------------------
    def stop(self) -> None:
        """Drain and stop tritonserver, release the model, remove every temporary trace."""
        triton, self._triton = self._triton, None
        prefix = None
        try:
            if triton is not None:
                prefix = triton._python_backend_config["shm-region-prefix-name"]
                triton.stop()  # SIGINT to tritonserver, waits for it (it drains), then handlers
        finally:
            self.predictor.close()
            if prefix:
                for leftover in glob.glob(f"/dev/shm/{prefix}*"):
                    with contextlib.suppress(OSError):
                        os.unlink(leftover)
            if self._tmp is not None:
                shutil.rmtree(self._tmp, ignore_errors=True)
                self._tmp = None


def warmup_sample(spec: Any) -> np.ndarray:
    """One valid preprocessed C x H x W input: a bright square on the dark background (through
    the spec's own preprocessing, so it passes every input check)."""
    from vggdeploy.serve.inputs import to_batch

    h, w = spec.preprocess.source_size
    image = np.zeros((h, w), dtype=np.uint8)
    image[h // 4 : 3 * h // 4, w // 4 : 3 * w // 4] = 200
    batch, _ = to_batch(image, spec)
    return batch[0]


def serve_forever(
    artifact: str | os.PathLike[str],
    options: ServeOptions,
    *,
    echo: Callable[[str], None] = print,
    stop_event: threading.Event | None = None,
) -> None:
    """Start, print the endpoints, wait until a signal (KeyboardInterrupt / the CLI's Terminated)
    or ``stop_event``; always stop. A second signal while draining does not cut the drain."""
    server = Server(artifact, options)
    stop = stop_event or threading.Event()
    if threading.current_thread() is threading.main_thread():
        # Ctrl-C stops the server even where SIGINT came ignored (a shell's background job)
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        ends = server.start()
        spec = server.predictor.spec
        echo(
            f"serving '{server.name}': {spec.preset} on {server.predictor.backend} "
            f"(max batch {server.max_batch}, {options.instances} instance(s), "
            f"sha256 {server.watch.primary_sha256[:12]})"
        )
        for line in ends.lines():
            echo(line)
        echo(f"ready: model '{server.name}' (Ctrl-C or SIGTERM to stop)")
        while server.alive() and not stop.wait(0.5):
            pass
        if not server.alive() and not stop.is_set():
            raise VggDeployError("the Triton server stopped unexpectedly:\n" + server.log_tail())
    finally:
        with _signals_deferred():
            server.stop()


@contextlib.contextmanager
def _signals_deferred() -> Iterator[None]:
    """While cleaning up, SIGINT/SIGTERM are noted, not raised (cleanup must finish)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    for s in previous:
        signal.signal(s, lambda *_: print("stopping: draining requests", file=sys.stderr))
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


__all__ = [
    "DEFAULT_MAX_BATCH",
    "Endpoints",
    "ServeOptions",
    "Server",
    "serve_forever",
    "warmup_sample",
]
