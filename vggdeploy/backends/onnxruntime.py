"""ONNX Runtime runner for any ONNX variant written by `vggdeploy export` (options: OPTIONS).

The source is a path, or an in-memory model (serialized ONNX bytes or an onnx.ModelProto, read
once by the caller): the export stage verifies models before it writes them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from vggdeploy.backends.base import Runner, parse_device
from vggdeploy.errors import ArtifactError, BackendUnavailableError, UsageError, VggDeployError
from vggdeploy.spec import ModelSpec, check_graph_shapes

PROVIDERS = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
}
GRAPH_OPTIMIZATION = {
    "disable": "ORT_DISABLE_ALL",
    "basic": "ORT_ENABLE_BASIC",
    "extended": "ORT_ENABLE_EXTENDED",
    "all": "ORT_ENABLE_ALL",
}
_GPU_HINT = (
    "install the GPU build: `pip uninstall -y onnxruntime && pip install onnxruntime-gpu` "
    "(needs CUDA/cuDNN libraries; TensorRT EP also needs TensorRT), or use providers=cpu"
)


def _provider_names(options: dict[str, Any]) -> tuple[list[str], int]:
    device = parse_device(options.get("device"))
    requested = options.get("providers")
    if requested is None:
        requested = ["cuda", "cpu"] if device.type == "cuda" else ["cpu"]
    elif isinstance(requested, str):
        requested = [p for p in requested.split(",") if p]
    names = []
    for p in requested:
        name = PROVIDERS.get(str(p).lower(), str(p))
        if name not in PROVIDERS.values():
            raise UsageError(
                f"unknown ONNX Runtime provider '{p}'",
                hint=f"valid providers: {', '.join(PROVIDERS)}",
            )
        names.append(name)
    if "CPUExecutionProvider" not in names:
        names.append("CPUExecutionProvider")  # always the fallback for unsupported nodes
    return names, device.cuda_index


class OnnxRuntimeRunner(Runner):
    kind = "onnxruntime"
    OPTIONS = {
        "providers": '"cpu" (default), "cuda", "tensorrt", or a list of them in priority order; '
        'full provider names ("CUDAExecutionProvider") are accepted too',
        "device": '"cpu" or "cuda[:N]": shorthand for providers ("cuda" -> cuda, then cpu)',
        "threads": "intra-op threads (default: ORT's choice, one per physical core)",
        "inter_op_threads": "inter-op threads (only used with parallel execution)",
        "graph_optimization": '"disable" | "basic" | "extended" | "all" (default "all")',
        "sequential": "sequential execution (default True; parallel rarely helps a chain)",
        "spinning": "let idle intra-op threads spin (ORT default True); False frees cores sooner",
    }

    def __init__(self, source: Any, **options: Any) -> None:
        super().__init__(source, **options)
        self.provider_names, self.device_id = _provider_names(options)
        level = str(options.get("graph_optimization") or "all")
        if level not in GRAPH_OPTIMIZATION:
            raise UsageError(
                f"unknown graph_optimization '{level}'",
                hint=f"valid levels: {', '.join(GRAPH_OPTIMIZATION)}",
            )
        self.graph_optimization = level
        for key in ("threads", "inter_op_threads"):
            if options.get(key) is not None and int(options[key]) < 1:
                raise UsageError(f"{key} must be >= 1, got {options[key]}")
        self._session: Any = None
        self._input_name = "input"
        self._output_names = ["logits"]
        self._input_fp16 = False
        self._bounds: tuple[int, int | None] = (1, None)

    @property
    def active_providers(self) -> list[str]:
        return list(self._session.get_providers()) if self._session is not None else []

    def _session_options(self, ort: Any) -> Any:
        so = ort.SessionOptions()
        if self.options.get("threads") is not None:
            so.intra_op_num_threads = int(self.options["threads"])
        if self.options.get("inter_op_threads") is not None:
            so.inter_op_num_threads = int(self.options["inter_op_threads"])
        so.graph_optimization_level = getattr(
            ort.GraphOptimizationLevel, GRAPH_OPTIMIZATION[self.graph_optimization]
        )
        sequential = self.options.get("sequential", True)
        so.execution_mode = (
            ort.ExecutionMode.ORT_SEQUENTIAL if sequential else ort.ExecutionMode.ORT_PARALLEL
        )
        if self.options.get("spinning") is not None:
            spin = "1" if self.options["spinning"] else "0"
            so.add_session_config_entry("session.intra_op.allow_spinning", spin)
        so.log_severity_level = 3  # errors only; ORT's warnings go to stderr otherwise
        return so

    def _activate(self) -> ModelSpec:
        import onnxruntime as ort

        from vggdeploy.artifacts.onnx_meta import as_model_proto, read_onnx_spec

        if isinstance(self.source, Path):
            spec = read_onnx_spec(self.source)  # ArtifactError for missing / foreign files
            model: Any = str(self.source)
        else:  # in memory: ONNX bytes or a ModelProto (verification of a model not yet written)
            proto = as_model_proto(self.source)
            spec = read_onnx_spec(proto)
            raw = isinstance(self.source, (bytes, bytearray))
            model = bytes(self.source) if raw else proto.SerializeToString()
        available = ort.get_available_providers()
        for name in self.provider_names:
            if name not in available:
                raise BackendUnavailableError(
                    f"ONNX Runtime provider {name} is not available in onnxruntime "
                    f"{ort.__version__} (available: {', '.join(available)})",
                    hint=_GPU_HINT,
                )
        providers: list[Any] = []
        for name in self.provider_names:
            if name in ("CUDAExecutionProvider", "TensorrtExecutionProvider"):
                providers.append((name, {"device_id": self.device_id}))
            else:
                providers.append(name)
        try:
            session = ort.InferenceSession(
                model, sess_options=self._session_options(ort), providers=providers
            )
        except Exception as exc:  # ORT raises its own Fail/InvalidGraph/... exception types
            raise ArtifactError(
                f"ONNX Runtime cannot load '{self.source_name}' ({type(exc).__name__}: {exc})",
                hint="the file may be corrupt or use operators this ORT version lacks; "
                "export it again",
            ) from exc
        # ORT silently falls back to CPU when a GPU provider's libraries fail to load.
        missing = [n for n in self.provider_names if n not in session.get_providers()]
        if missing:
            raise BackendUnavailableError(
                f"ONNX Runtime could not initialise {', '.join(missing)} for '{self.source_name}' "
                f"(session runs on {', '.join(session.get_providers())})",
                hint=_GPU_HINT,
            )
        inputs = session.get_inputs()
        names = [i.name for i in inputs]
        if spec.input.name not in names or len(inputs) != 1:
            raise ArtifactError(
                f"'{self.source_name}' inputs are {names}; expected exactly one named "
                f"'{spec.input.name}'",
                hint="export the model again with `vggdeploy export`",
            )
        outputs = [o.name for o in session.get_outputs()]
        if spec.output_name not in outputs:
            raise ArtifactError(
                f"'{self.source_name}' has no output '{spec.output_name}' (outputs: {outputs})"
            )
        out_shape = session.get_outputs()[outputs.index(spec.output_name)].shape
        check_graph_shapes(spec, self.source, inputs[0].shape, out_shape)
        self._input_name = spec.input.name
        self._output_names = [spec.output_name]  # the list session.run takes, made once
        self._input_fp16 = inputs[0].type == "tensor(float16)"
        batch_dim = inputs[0].shape[0] if inputs[0].shape else None
        self._bounds = (batch_dim, batch_dim) if isinstance(batch_dim, int) else (1, None)
        self._session = session
        return spec

    def _deactivate(self) -> None:
        self._session = None

    def batch_bounds(self) -> tuple[int, int | None]:
        return self._bounds

    def _infer(self, batch: np.ndarray) -> np.ndarray:
        feed = batch.astype(np.float16) if self._input_fp16 else batch
        (out,) = self._session.run(self._output_names, {self._input_name: feed})
        return out  # Runner.infer checks its shape and makes it float32

    def all_outputs(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        """Every graph output by name on a validated float32 ``batch`` (range checks and
        debugging run this over a copy of the model whose intermediate tensors are outputs)."""
        if self._session is None:
            raise VggDeployError("onnxruntime runner is not active; call activate() first")
        feed = batch.astype(np.float16) if self._input_fp16 else np.ascontiguousarray(batch)
        names = [o.name for o in self._session.get_outputs()]
        values = self._session.run(names, {self._input_name: feed})
        return dict(zip(names, values, strict=True))
