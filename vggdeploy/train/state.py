"""Resumable training state and graceful stop on SIGINT/SIGTERM.

The state is ``train_state.json`` plus a versioned ``train_state-eEEEE-sSSSSS.safetensors`` holding
model weights, SGD momentum buffers and the torch RNG state. The JSON is written last and names its
blob by sha256, so it is the commit point: a crash at any moment leaves the previous consistent
state, and older blobs are removed only after the new JSON is in place.
"""

from __future__ import annotations

import contextlib
import json
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vggdeploy._io import sha256_bytes, write_bytes, write_json
from vggdeploy.artifacts.checkpoint import bytes_to_state_dict, state_dict_to_bytes
from vggdeploy.errors import ArtifactError, VggDeployError
from vggdeploy.spec import ModelSpec

SYNC_EVERY = 50  # steps between the loop's host syncs (finite-loss check, progress text)
STATE_JSON = "train_state.json"
STATE_FORMAT = "vggdeploy.train_state"


class TrainingInterrupted(VggDeployError):
    """Raised after a requested stop, once the resumable state is on disk."""

    exit_code = 130

    def __init__(self, message: str, *, hint: str | None = None, signal_name: str = "") -> None:
        super().__init__(message, hint=hint)
        # the shell convention 128 + signal number: 130 for SIGINT, 143 for SIGTERM
        self.exit_code = 143 if signal_name == "SIGTERM" else 130


@dataclass
class Position:
    """Where training stands: ``step`` batches of ``epoch`` (0-based) are done."""

    epoch: int
    step: int = 0
    seen: int = 0  # running train statistics of the partial epoch
    loss_sum: float = 0.0
    correct: float = 0.0
    seconds: float = 0.0
    history: list[dict[str, float]] = field(default_factory=list)
    torch_rng: Any = None


class Tally:
    """Running statistics of one epoch kept on the device: no host sync per step. The losses since
    the last :meth:`first_nonfinite` are kept so that a non-finite one is named by its step."""

    def __init__(self, epoch: int, seen=0, loss_sum=0.0, correct=0.0, seconds=0.0) -> None:
        self.epoch, self.seen, self.seconds = epoch, seen, seconds
        self.loss_sum, self.correct = loss_sum, correct
        self.pending: list[tuple[int, Any]] = []

    def add(self, step: int, loss, logits, y) -> None:
        self.seen += len(y)
        self.loss_sum = self.loss_sum + loss * len(y)
        self.correct = self.correct + (logits.argmax(1) == y).sum()
        self.pending.append((step, loss))

    def first_nonfinite(self) -> tuple[int, float] | None:
        """(step, loss) of the first non-finite loss since the last call; one host sync."""
        import torch

        if not self.pending:
            return None
        losses = torch.stack([loss for _, loss in self.pending])
        finite = torch.isfinite(losses)
        steps = [step for step, _ in self.pending]
        self.pending = []
        if bool(finite.all()):
            return None
        k = int((~finite).nonzero()[0])
        return steps[k], float(losses[k])

    def mean_loss(self) -> float:
        return float(self.loss_sum) / max(1, self.seen)

    def position(self, step: int, seconds: float, history: list) -> Position:
        import torch

        return Position(
            self.epoch,
            step,
            self.seen,
            float(self.loss_sum),
            float(self.correct),
            self.seconds + seconds,
            history,
            torch.get_rng_state(),
        )


def make_ema(model, decay: float):
    """An exponential moving average of ``model``'s weights and batch-norm statistics
    (``torch.optim.swa_utils.AveragedModel``), or None for ``decay == 0``. The decay warms up as
    ``min(decay, (1 + n) / (10 + n))`` after ``n`` updates, so short runs average short spans."""
    if decay <= 0:
        return None
    import torch
    from torch.optim.swa_utils import AveragedModel

    def update(averaged: list, current: list, n) -> None:
        if not averaged[0].is_floating_point():  # num_batches_tracked
            torch._foreach_copy_(averaged, current)
            return
        k = float(n)
        torch._foreach_lerp_(averaged, current, 1.0 - min(decay, (1.0 + k) / (10.0 + k)))

    return AveragedModel(model, multi_avg_fn=update, use_buffers=True)


def save_state(
    out: Path,
    model,
    optimizer,
    scaler,
    config: dict,
    pos: Position,
    spec: ModelSpec,
    *,
    ema=None,
) -> None:
    import torch

    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    if ema is not None:
        tensors.update({f"ema.{k}": v for k, v in ema.state_dict().items()})
    params = [p for g in optimizer.param_groups for p in g["params"]]
    for i, p in enumerate(params):
        buf = optimizer.state.get(p, {}).get("momentum_buffer")
        if buf is not None:
            tensors[f"optim.{i}.momentum_buffer"] = buf
    tensors["rng.torch"] = pos.torch_rng if pos.torch_rng is not None else torch.get_rng_state()
    blob = state_dict_to_bytes(tensors)
    name = f"train_state-e{pos.epoch:04d}-s{pos.step:06d}.safetensors"
    write_bytes(out / name, blob)
    state = {
        "format": STATE_FORMAT,
        "version": 1,
        "epoch": pos.epoch,
        "step": pos.step,
        "partial": {
            "seen": pos.seen,
            "loss_sum": pos.loss_sum,
            "correct": pos.correct,
            "seconds": pos.seconds,
        },
        "file": name,
        "sha256": sha256_bytes(blob),
        "config": config,
        "spec_fingerprint": spec.fingerprint(),
        "history": pos.history,
        "grad_scaler": scaler.state_dict() if scaler is not None else None,
    }
    write_json(out / STATE_JSON, state)  # the commit point
    for old in out.glob("train_state-e*.safetensors"):
        if old.name != name:
            old.unlink(missing_ok=True)


def load_state(out: Path, model, optimizer, scaler, spec: ModelSpec, *, ema=None) -> Position:
    path = out / STATE_JSON
    if not path.is_file():
        raise ArtifactError(
            f"cannot resume: '{path}' not found",
            hint="run without --resume to start fresh, or point --out at an interrupted run",
        )
    try:
        state = json.loads(path.read_text())
        if state.get("format") != STATE_FORMAT:
            raise ValueError(f"format is {state.get('format')!r}")
        blob_path = out / state["file"]
        blob = blob_path.read_bytes()
        partial = state.get("partial") or {}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ArtifactError(
            f"cannot resume: '{path}' or the weights it names are unreadable ({exc})",
            hint="start afresh without --resume (the run folder's model.json is still usable)",
        ) from exc
    if sha256_bytes(blob) != state.get("sha256"):
        raise ArtifactError(f"cannot resume: '{blob_path}' does not match '{path}' (sha256)")
    if state.get("spec_fingerprint") != spec.fingerprint():
        raise ArtifactError(
            f"cannot resume: '{out}' was trained with a different model/preset "
            f"({(state.get('config') or {}).get('preset')!r})",
            hint="use the same --preset and --input-size as the interrupted run",
        )
    tensors = bytes_to_state_dict(blob, source=str(blob_path))
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    if ema is not None:
        averaged = {k[4:]: v for k, v in tensors.items() if k.startswith("ema.")}
        if not averaged:
            raise ArtifactError(
                f"cannot resume: '{blob_path}' holds no weight average (--ema) to continue",
                hint="resume with the options the run was started with",
            )
        ema.load_state_dict(averaged)
    params = [p for g in optimizer.param_groups for p in g["params"]]
    for i, p in enumerate(params):
        key = f"optim.{i}.momentum_buffer"
        if key in tensors:
            optimizer.state[p]["momentum_buffer"] = tensors[key].to(p.device)
    if scaler is not None and state.get("grad_scaler"):
        scaler.load_state_dict(state["grad_scaler"])
    return Position(
        epoch=int(state["epoch"]),
        step=int(state.get("step", 0)),
        seen=int(partial.get("seen", 0)),
        loss_sum=float(partial.get("loss_sum", 0.0)),
        correct=float(partial.get("correct", 0.0)),
        seconds=float(partial.get("seconds", 0.0)),
        history=list(state.get("history", [])),
        torch_rng=tensors.get("rng.torch"),
    )


class StopRequest:
    """SIGINT/SIGTERM set a flag that the training loop checks between steps; a second SIGINT
    interrupts at once. Handlers are installed only in the main thread and restored on exit."""

    def __init__(self) -> None:
        self.requested = False
        self.signal_name = ""

    def _handler(self, signum, frame) -> None:
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = True
        self.signal_name = signal.Signals(signum).name

    @contextlib.contextmanager
    def installed(self) -> Iterator[StopRequest]:
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        previous = {s: signal.signal(s, self._handler) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield self
        finally:
            for s, h in previous.items():
                signal.signal(s, h)
