"""PyTorch eager (optionally torch.compile) runner over a vggdeploy checkpoint (see OPTIONS).

The source is a checkpoint path (run folder, model.json or model.safetensors) or the
``(model, spec)`` pair :func:`vggdeploy.artifacts.checkpoint.load_checkpoint` returns
(already read).
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

import numpy as np

from vggdeploy.backends.base import Runner, parse_device
from vggdeploy.errors import BackendUnavailableError, UsageError, VggDeployError
from vggdeploy.spec import ModelSpec

SUPPORTED_PRECISIONS = ("fp32", "fp16", "bf16")


class TorchRunner(Runner):
    kind = "torch"
    OPTIONS = {
        "device": '"cpu" (default), "cuda" or "cuda:N"',
        "precision": '"fp32" (default), "bf16" (autocast, CPU or CUDA), "fp16" (CUDA only)',
        "channels_last": "run convolutions in NHWC memory format (often faster with oneDNN/cuDNN)",
        "compile": "wrap the model in torch.compile (inductor); compiled once per batch shape",
        "threads": "torch.set_num_threads(threads) on activate (process-wide)",
    }

    def __init__(self, source: Any, **options: Any) -> None:
        super().__init__(source, **options)
        self.device = str(parse_device(options.get("device")))
        self.precision = str(options.get("precision") or "fp32")
        self.channels_last = bool(options.get("channels_last", False))
        self.compile = bool(options.get("compile", False))
        if self.compile:  # may recompile (and guard-check) concurrently: serve it locked
            self.thread_safe = False
        self.threads = options.get("threads")
        if self.precision not in SUPPORTED_PRECISIONS:
            raise UsageError(
                f"unknown torch precision '{self.precision}'",
                hint=f"valid precisions: {', '.join(SUPPORTED_PRECISIONS)}",
            )
        if self.precision == "fp16" and self.device == "cpu":
            raise UsageError(
                "torch fp16 needs a CUDA device (CPU autocast supports bf16, not fp16)",
                hint="use --precision bf16 on CPU, or --device cuda",
            )
        if self.threads is not None and int(self.threads) < 1:
            raise UsageError(f"threads must be >= 1, got {self.threads}")
        self._model: Any = None
        self._torch: Any = None

    # ---- lifecycle -----------------------------------------------------------------------------
    def _activate(self) -> ModelSpec:
        import torch

        from vggdeploy.artifacts.checkpoint import load_checkpoint

        if self.device.startswith("cuda") and not torch.cuda.is_available():
            raise BackendUnavailableError(
                f"torch device '{self.device}' requested but torch.cuda.is_available() is False "
                f"(torch {torch.__version__})",
                hint="install a CUDA build of torch on a machine with an NVIDIA GPU, or use cpu",
            )
        if self.threads is not None:
            torch.set_num_threads(int(self.threads))
        if isinstance(self.source, tuple):  # (module, spec) from load_checkpoint: already read
            model, spec = self.source
        else:
            model, spec = load_checkpoint(self.source)
        model = model.to(self.device)
        if self.channels_last:
            model = model.to(memory_format=torch.channels_last)
        if self.compile:
            model = torch.compile(model)
        self._torch = torch
        self._model = model
        if self.compile:
            # Compile now, so a missing compiler fails activate() and not the first timed call.
            try:
                self._forward(np.zeros(spec.input.shape(1), dtype=np.float32))
            except Exception as exc:
                self._model = None
                raise BackendUnavailableError(
                    f"torch.compile failed on {self.device} ({type(exc).__name__}: {exc})",
                    hint="torch.compile needs a working C++ compiler (CPU) or Triton (CUDA); "
                    "drop --compile to run eager",
                ) from exc
        return spec

    def _deactivate(self) -> None:
        self._model = None
        if self._torch is not None and self.device.startswith("cuda"):
            self._torch.cuda.empty_cache()

    # ---- inference -----------------------------------------------------------------------------
    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        torch = self._torch
        if self.precision == "fp32":
            return contextlib.nullcontext()
        dtype = torch.float16 if self.precision == "fp16" else torch.bfloat16
        return torch.autocast(device_type=self.device.split(":")[0], dtype=dtype)

    def _to_device(self, batch: np.ndarray) -> Any:
        x = self._torch.from_numpy(batch)
        if self.device != "cpu":
            x = x.pin_memory().to(self.device, non_blocking=True)
        if self.channels_last:
            x = x.contiguous(memory_format=self._torch.channels_last)
        return x

    def _forward(self, batch: np.ndarray) -> np.ndarray:
        torch = self._torch
        if self._model is None:
            raise VggDeployError("torch runner has no model (activate() failed)")
        with torch.inference_mode(), self._autocast():
            out = self._model(self._to_device(batch))
        return out.float().cpu().numpy()

    def _infer(self, batch: np.ndarray) -> np.ndarray:
        return self._forward(batch)

    def _infer_split(self, batch: np.ndarray) -> tuple[np.ndarray, dict[str, float]]:
        """_infer() plus host-to-device / compute / device-to-host milliseconds (CUDA events).

        A bench hook (vggdeploy.bench.latency.gpu_split): it takes a batch that infer() already
        accepted. On CPU the whole call is compute and the split is {"compute": wall ms}.
        """
        torch = self._torch
        if self.device == "cpu":
            t0 = time.perf_counter()
            out = self._forward(np.ascontiguousarray(batch))
            return out, {"compute": (time.perf_counter() - t0) * 1e3}
        events = [torch.cuda.Event(enable_timing=True) for _ in range(4)]
        with torch.inference_mode(), self._autocast():
            events[0].record()
            x = self._to_device(np.ascontiguousarray(batch))
            events[1].record()
            y = self._model(x).float()
            events[2].record()
            out = y.cpu().numpy()
            events[3].record()
        events[3].synchronize()
        split = {
            "h2d": events[0].elapsed_time(events[1]),
            "compute": events[1].elapsed_time(events[2]),
            "d2h": events[2].elapsed_time(events[3]),
        }
        return out, split
