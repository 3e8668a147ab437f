"""Training: SGD with momentum, warm-up + cosine schedule, atomic per-epoch checkpoints, resume,
and DistributedDataParallel when launched by ``torchrun``.

Determinism: every epoch re-seeds torch and NumPy from ``(seed, epoch)``, and the resume state
(``train_state.json`` + a versioned ``train_state-eNNN.safetensors``) holds the weights and
momentum buffers, so a resumed CPU run ends with the same weights as an uninterrupted one.

The guards around the loop (no overwriting or mixing runs, --resume options, the run-folder lock,
non-finite loss or weights) live in :mod:`vggdeploy.train_guard`.
"""

from __future__ import annotations

import math
import os
import platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from . import __version__
from . import train_guard as guard
from .checkpoint import save_checkpoint
from .data.fashion_mnist import Split, load_split
from .data.preprocess import preprocess
from .errors import OutputError
from .models.presets import make_spec
from .spec import ModelSpec
from .train_config import TrainConfig, TrainResult
from .train_report import progress_bar, write_history
from .train_state import Position, StopRequest, TrainingInterrupted, load_state, save_state


# ---- distributed helpers -----------------------------------------------------------------------
@dataclass
class _Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def _init_distributed(device: str) -> _Dist:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return _Dist()
    import torch.distributed as dist

    backend = "nccl" if device.startswith("cuda") else "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    return _Dist(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


# ---- data --------------------------------------------------------------------------------------
def _augment(images: np.ndarray, rng: np.random.Generator, shift: int = 2) -> np.ndarray:
    """Random horizontal flip and translation by up to ``shift`` pixels (zero fill), uint8."""
    n, h, w = images.shape
    flip = rng.random(n) < 0.5
    out = np.where(flip[:, None, None], images[:, :, ::-1], images)
    padded = np.pad(out, ((0, 0), (shift, shift), (shift, shift)))
    dy = rng.integers(0, 2 * shift + 1, n)
    dx = rng.integers(0, 2 * shift + 1, n)
    rows = dy[:, None] + np.arange(h)[None, :]
    cols = dx[:, None] + np.arange(w)[None, :]
    return padded[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]


def _batches(
    split: Split, spec: ModelSpec, cfg: TrainConfig, epoch: int, dist: _Dist, skip: int = 0
):
    """Yield (x, y) NumPy batches of this rank's shard for ``epoch`` (deterministic).

    The first ``skip`` batches are not produced, but their random draws are, so a run resumed
    mid-epoch sees exactly the batches the uninterrupted run saw.
    """
    rng = np.random.default_rng([cfg.seed, epoch])
    order = rng.permutation(len(split))
    per_rank = len(order) // dist.world
    order = order[dist.rank * per_rank : (dist.rank + 1) * per_rank]
    batch = max(1, cfg.batch_size // dist.world)
    for i, start in enumerate(range(0, len(order), batch)):
        idx = np.sort(order[start : start + batch])
        imgs = split.images[idx]
        if cfg.augment:
            imgs = _augment(imgs, rng)
        if i >= skip:
            yield preprocess(imgs, spec), split.labels[idx]


def _limit(split: Split, n: int | None) -> Split:
    if n is None or n >= len(split):
        return split
    return Split(split.images[:n], split.labels[:n], split.sha256, split.root)


# ---- evaluation ----------------------------------------------------------------------------------
def evaluate(
    model,
    split: Split,
    spec: ModelSpec,
    *,
    device: str = "cpu",
    batch_size: int = 500,
    dist: _Dist | None = None,
    channels_last: bool = False,
) -> dict[str, float]:
    """Top-1 accuracy (fraction) and mean cross-entropy over ``split`` (sharded under DDP)."""
    import torch
    import torch.nn.functional as F

    dist = dist or _Dist()
    n = len(split)
    lo, hi = n * dist.rank // dist.world, n * (dist.rank + 1) // dist.world
    correct, loss_sum = 0.0, 0.0
    model.eval()
    with torch.inference_mode():
        for start in range(lo, hi, batch_size):
            stop = min(hi, start + batch_size)
            x = torch.from_numpy(preprocess(split.images[start:stop], spec)).to(device)
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            y = torch.from_numpy(split.labels[start:stop]).to(device)
            logits = model(x).float()
            loss_sum += F.cross_entropy(logits, y, reduction="sum").item()
            correct += (logits.argmax(1) == y).sum().item()
    if dist.world > 1:
        import torch.distributed as tdist

        t = torch.tensor([correct, loss_sum], dtype=torch.float64, device=device)
        tdist.all_reduce(t)
        correct, loss_sum = t.tolist()
    return {"test_accuracy": correct / n, "test_loss": loss_sum / n}


def _stop_mid_epoch(
    stop: StopRequest,
    out: Path,
    model,
    optimizer,
    scaler,
    cfg: TrainConfig,
    spec: ModelSpec,
    dist: _Dist,
    pos: Position,
    resume_hint: str,
) -> None:
    """Save a resumable mid-epoch state (single process), then raise TrainingInterrupted."""
    where = f"epoch {pos.epoch + 1}, step {pos.step}"
    if dist.world == 1:
        guard.check_finite_weights(model, where, cfg, out, pos.epoch)
        save_state(out, model, optimizer, scaler, asdict(cfg), pos, spec)
        saved = f"the state at {where} is saved in '{out}'"
    else:  # ranks cannot agree on a mid-epoch position cheaply; the last epoch state stands
        saved = f"the last completed epoch's state in '{out}' stands"
    raise TrainingInterrupted(
        f"training stopped by {stop.signal_name} at {where}; {saved}",
        hint=f"continue with `{resume_hint}`",
        signal_name=stop.signal_name,
    )


# ---- the loop ------------------------------------------------------------------------------------
def train(
    cfg: TrainConfig,
    out: str | os.PathLike[str],
    *,
    data_dir: str | None = None,
    download: bool = False,
    resume: bool = False,
    force: bool = False,
    log=print,
) -> TrainResult:
    """Train into ``out``. A folder that already holds a run is refused unless ``resume``
    (continue it; ``cfg`` must match its saved options) or ``force`` (replace it, removing the
    old run's files and every artifact derived from it). The folder is locked while training."""
    import torch

    cfg.validate()
    make_spec(cfg.preset, input_size=cfg.input_size)  # fail fast on a bad preset
    out_dir = Path(out)
    guard.check_before_work(out_dir, cfg, resume=resume, force=force, data_dir=data_dir)
    if cfg.device.startswith("cuda") and not torch.cuda.is_available():
        from .errors import BackendUnavailableError

        raise BackendUnavailableError(
            f"--device {cfg.device} requested but no CUDA GPU is visible to PyTorch",
            hint="use --device cpu, or install a CUDA build of torch on a GPU machine",
        )
    dist = _init_distributed(cfg.device)
    device = cfg.device
    if device.startswith("cuda") and dist.world > 1:
        device = f"cuda:{dist.local_rank}"
    spec = make_spec(cfg.preset, input_size=cfg.input_size)
    train_split = _limit(load_split("train", data_dir, download=download), cfg.limit_train)
    test_split = _limit(load_split("test", data_dir, download=download), cfg.limit_test)
    resume_hint = guard.resume_command(cfg, out_dir, data_dir)
    # only now, so that bad input leaves no empty run folder behind; DDP: rank 0 writes
    claim = dict(resume=resume, force=force, data_dir=data_dir, log=log, writer=dist.main)
    with guard.claimed(out_dir, cfg, **claim):
        try:
            return _fit(
                cfg, out_dir, dist, device, spec, train_split, test_split, resume, resume_hint, log
            )
        except OutputError as exc:  # e.g. the disk filled up: the last complete save stands
            if (out_dir / "train_state.json").is_file():
                exc.hint = (
                    f"{exc.hint + ', ' if exc.hint else ''}then continue with `{resume_hint}`"
                )
            raise


def _fit(cfg, out_dir, dist, device, spec, train_split, test_split, resume, resume_hint, log):
    import torch
    import torch.nn.functional as F

    torch.manual_seed(cfg.seed)
    from .models.vgg import build_model

    model = build_model(spec).to(device)
    memory_format = torch.channels_last if cfg.channels_last else torch.contiguous_format
    model = model.to(memory_format=memory_format)
    decay, no_decay = [], []
    for _name, p in model.named_parameters():
        (no_decay if p.ndim <= 1 else decay).append(p)
    optimizer = torch.optim.SGD(
        [
            {"params": decay, "weight_decay": cfg.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=cfg.lr,
        momentum=cfg.momentum,
        nesterov=cfg.momentum > 0,
    )
    use_amp = cfg.amp and device.startswith("cuda")
    scaler = torch.amp.GradScaler("cuda") if use_amp else None
    pos = Position(epoch=0)
    if resume:
        pos = load_state(out_dir, model, optimizer, scaler, spec)
        where = f"epoch {pos.epoch + 1}, step {pos.step}" if pos.step else f"epoch {pos.epoch}"
        if pos.epoch >= cfg.epochs:
            log(f"{out_dir} has already finished {pos.epoch} of {cfg.epochs} epochs: nothing to do")
        else:
            log(f"resuming {out_dir} after {where} of {cfg.epochs}")
    history = pos.history
    net = model
    if dist.world > 1:
        from torch.nn.parallel import DistributedDataParallel

        ids = [dist.local_rank] if device.startswith("cuda") else None
        net = DistributedDataParallel(model, device_ids=ids)
    per_rank = len(train_split) // dist.world
    rank_batch = max(1, cfg.batch_size // dist.world)
    steps_per_epoch = math.ceil(per_rank / rank_batch)
    data_info = {
        "dataset": "fashion-mnist",
        "root": str(train_split.root),
        "sha256": {**train_split.sha256, **test_split.sha256},
        "train_images": len(train_split),
        "test_images": len(test_split),
    }
    provenance = {
        "training": {
            **asdict(cfg),
            "world_size": dist.world,
            "torch": torch.__version__,
            "vggdeploy": __version__,
            "python": platform.python_version(),
        },
        "data": data_info,
    }
    t_start = time.perf_counter()
    stop = StopRequest()
    kept = pos.epoch  # the last epoch whose checkpoint is on disk
    if resume and pos.epoch < cfg.epochs and dist.main:
        guard.note_stale_derived(out_dir, log)
    with progress_bar(dist.main) as progress, stop.installed():
        for epoch in range(pos.epoch, cfg.epochs):
            mid = pos.step if epoch == pos.epoch else 0
            if mid and pos.torch_rng is not None:
                torch.set_rng_state(pos.torch_rng)
                seen, loss_sum, correct, spent = pos.seen, pos.loss_sum, pos.correct, pos.seconds
            else:
                torch.manual_seed(cfg.seed * 100003 + epoch)  # dropout: same stream on resume
                seen, loss_sum, correct, spent = 0, 0.0, 0.0, 0.0
            net.train()
            task = progress.add_task(
                f"epoch {epoch + 1}/{cfg.epochs}", total=steps_per_epoch, completed=mid, status=""
            )
            t0 = time.perf_counter()
            batches = _batches(train_split, spec, cfg, epoch, dist, skip=mid)
            for i, (xb, yb) in enumerate(batches, start=mid):
                lr = cfg.lr_at(epoch * steps_per_epoch + i, steps_per_epoch)
                for g in optimizer.param_groups:
                    g["lr"] = lr
                x = torch.from_numpy(xb).to(device).contiguous(memory_format=memory_format)
                y = torch.from_numpy(yb).to(device)
                with torch.autocast("cuda", dtype=torch.float16, enabled=use_amp):
                    logits = net(x)
                    loss = F.cross_entropy(logits, y, label_smoothing=cfg.label_smoothing)
                optimizer.zero_grad(set_to_none=True)
                if scaler is not None:
                    scaler.scale(loss).backward()
                    scaler.step(optimizer)
                    scaler.update()
                else:
                    loss.backward()
                    optimizer.step()
                seen += len(yb)
                loss_value = loss.item()  # the loop's one host sync per step
                guard.check_finite_loss(
                    loss_value, f"epoch {epoch + 1}, step {i + 1}", cfg, out_dir, kept
                )
                loss_sum += loss_value * len(yb)
                correct += (logits.argmax(1) == y).sum().item()
                progress.update(task, advance=1, status=f"loss {loss_sum / seen:.4f} lr {lr:.4f}")
                if stop.requested and i + 1 < steps_per_epoch:
                    _stop_mid_epoch(
                        stop,
                        out_dir,
                        model,
                        optimizer,
                        scaler,
                        cfg,
                        spec,
                        dist,
                        Position(
                            epoch,
                            i + 1,
                            seen,
                            loss_sum,
                            correct,
                            spent + time.perf_counter() - t0,
                            history,
                            torch.get_rng_state(),
                        ),
                        resume_hint,
                    )
            train_time = spent + time.perf_counter() - t0
            progress.remove_task(task)
            guard.check_finite_weights(model, f"end of epoch {epoch + 1}", cfg, out_dir, kept)
            metrics = evaluate(
                net, test_split, spec, device=device, dist=dist, channels_last=cfg.channels_last
            )
            guard.check_finite_loss(
                metrics["test_loss"], f"test, epoch {epoch + 1}", cfg, out_dir, kept
            )
            row = {
                "epoch": epoch + 1,
                "train_loss": loss_sum / max(1, seen),
                "train_accuracy": correct / max(1, seen),
                **metrics,
                "epoch_seconds": train_time,
                "images_per_second": seen * dist.world / train_time,
            }
            history.append(row)
            if dist.main:
                log(
                    f"epoch {epoch + 1:3d}/{cfg.epochs}  loss {row['train_loss']:.4f}  "
                    f"train acc {row['train_accuracy']:.4f}  test loss {row['test_loss']:.4f}  "
                    f"test acc {row['test_accuracy']:.4f}  {row['images_per_second']:.0f} img/s"
                )
                done = {**metrics, "epochs_done": epoch + 1, "complete": epoch + 1 == cfg.epochs}
                save_checkpoint(out_dir, model, spec.with_provenance(metrics=done, **provenance))
                save_state(
                    out_dir,
                    model,
                    optimizer,
                    scaler,
                    asdict(cfg),
                    Position(epoch + 1, history=history),
                    spec,
                )
                write_history(out_dir, history)
            kept = epoch + 1
            if stop.requested:
                raise TrainingInterrupted(
                    f"training stopped by {stop.signal_name} after epoch {epoch + 1}; "
                    f"the checkpoint in '{out_dir}' is complete up to there",
                    hint=f"continue with `{resume_hint}`",
                    signal_name=stop.signal_name,
                )
    if dist.main and history and pos.epoch < cfg.epochs:
        log(f"trained {cfg.preset} in {time.perf_counter() - t_start:.1f} s -> {out_dir}")
    if dist.world > 1:
        import torch.distributed as tdist

        tdist.barrier()
        tdist.destroy_process_group()
    spec = spec.with_provenance(metrics=history[-1] if history else {})
    return TrainResult(out=out_dir, spec=spec, history=history, is_main=dist.main)
