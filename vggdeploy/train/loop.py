"""Training: Nesterov SGD, the schedule of ``config.lr_at`` (one-cycle by default), atomic
per-epoch checkpoints, resume, and DistributedDataParallel when launched by ``torchrun``.

Determinism: every epoch re-seeds torch and NumPy from ``(seed, epoch)``, and the resume state
(``train_state.json`` + a versioned ``train_state-eNNN.safetensors``) holds the weights and
momentum buffers, so a resumed CPU run ends with the same weights as an uninterrupted one.

The guards around the loop (no overwriting or mixing runs, --resume options, the run-folder lock,
non-finite loss or weights) live in :mod:`vggdeploy.train.guard`.
"""

from __future__ import annotations

import math
import os
import platform
import time
from dataclasses import asdict
from pathlib import Path

from vggdeploy._version import __version__
from vggdeploy.artifacts.checkpoint import save_checkpoint
from vggdeploy.data.fashion_mnist import Split, load_split
from vggdeploy.data.preprocess import preprocess
from vggdeploy.errors import OutputError
from vggdeploy.spec import ModelSpec
from vggdeploy.train import guard
from vggdeploy.train.batches import batches, limit
from vggdeploy.train.config import TrainConfig, TrainResult
from vggdeploy.train.distributed import Dist, init_distributed
from vggdeploy.train.report import progress_bar, write_history
from vggdeploy.train.state import (
    SYNC_EVERY,
    Position,
    StopRequest,
    Tally,
    TrainingInterrupted,
    load_state,
    make_ema,
    save_state,
)


# ---- evaluation ----------------------------------------------------------------------------------
def evaluate(
    model,
    split: Split,
    spec: ModelSpec,
    *,
    device: str = "cpu",
    batch_size: int = 500,
    dist: Dist | None = None,
    channels_last: bool = False,
) -> dict[str, float]:
    """Top-1 accuracy (fraction) and mean cross-entropy over ``split`` (sharded under DDP)."""
    import torch
    import torch.nn.functional as F

    dist = dist or Dist()
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
    ema,
    cfg: TrainConfig,
    spec: ModelSpec,
    dist: Dist,
    pos: Position,
    resume_hint: str,
) -> None:
    """Save a resumable mid-epoch state (single process), then raise TrainingInterrupted."""
    where = f"epoch {pos.epoch + 1}, step {pos.step}"
    if dist.world == 1:
        guard.check_finite_weights(model, where, cfg, out, pos.epoch)
        save_state(out, model, optimizer, scaler, asdict(cfg), pos, spec, ema=ema)
        saved = f"the state at {where} is saved in '{out}'"
    else:  # ranks cannot agree on a mid-epoch position cheaply; the last epoch state stands
        saved = f"the last completed epoch's state in '{out}' stands"
    raise TrainingInterrupted(
        f"training stopped by {stop.signal_name} at {where}; {saved}",
        hint=f"continue with `{resume_hint}`",
        signal_name=stop.signal_name,
    )


def _check_losses(tally: Tally, cfg: TrainConfig, out: Path, kept: int) -> None:
    """The loop's host sync (every SYNC_EVERY steps): exit 7 naming a non-finite loss's step."""
    bad = tally.first_nonfinite()
    if bad is not None:
        step, value = bad
        where = f"epoch {tally.epoch + 1}, step {step + 1}"
        guard.check_finite_loss(value, where, cfg, out, kept)


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

    t0 = time.perf_counter()  # wall clock from here: data loading, training, evaluation, saving
    cfg.validate()
    spec = cfg.spec()  # fails fast on a bad preset
    out_dir = Path(out)
    guard.check_before_work(out_dir, cfg, resume=resume, force=force, data_dir=data_dir)
    if cfg.device.startswith("cuda") and not torch.cuda.is_available():
        from vggdeploy.errors import BackendUnavailableError

        raise BackendUnavailableError(
            f"--device {cfg.device} requested but no CUDA GPU is visible to PyTorch",
            hint="use --device cpu, or install a CUDA build of torch on a GPU machine",
        )
    dist = init_distributed(cfg.device)
    device = cfg.device
    if device.startswith("cuda") and dist.world > 1:
        device = f"cuda:{dist.local_rank}"
    train_split = limit(load_split("train", data_dir, download=download), cfg.limit_train)
    test_split = limit(load_split("test", data_dir, download=download), cfg.limit_test)
    resume_hint = guard.resume_command(cfg, out_dir, data_dir)
    # only now, so that bad input leaves no empty run folder behind; DDP: rank 0 writes
    claim = dict(resume=resume, force=force, data_dir=data_dir, log=log, writer=dist.main)
    with guard.claimed(out_dir, cfg, **claim):
        try:
            data = (train_split, test_split)
            return _fit(cfg, out_dir, dist, device, spec, *data, resume, resume_hint, log, t0)
        except OutputError as exc:  # e.g. the disk filled up: the last complete save stands
            if (out_dir / "train_state.json").is_file():
                exc.hint = (
                    f"{exc.hint + ', ' if exc.hint else ''}then continue with `{resume_hint}`"
                )
            raise


def _fit(cfg, out_dir, dist, device, spec, train_split, test_split, resume, resume_hint, log, t0):
    import torch
    import torch.nn.functional as F

    torch.manual_seed(cfg.seed)
    from vggdeploy.models.vgg import build_model

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
    autocast = (
        torch.autocast("cuda", dtype=torch.float16)
        if use_amp
        else torch.autocast("cpu", dtype=torch.bfloat16, enabled=cfg.cpu_bf16 and device == "cpu")
    )
    ema = make_ema(model, cfg.ema)
    saved = ema.module if ema is not None else model  # the weights evaluated and saved
    pos = Position(epoch=0)
    if resume:
        pos = load_state(out_dir, model, optimizer, scaler, spec, ema=ema)
        where = f"epoch {pos.epoch + 1}, step {pos.step}" if pos.step else f"epoch {pos.epoch}"
        if pos.epoch >= cfg.epochs:
            log(f"{out_dir} has already finished {pos.epoch} of {cfg.epochs} epochs: nothing to do")
        else:
            log(f"resuming {out_dir} after {where} of {cfg.epochs}")
    history = pos.history
    wall0 = history[-1].get("wall_seconds", 0.0) if history else 0.0
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
    stop = StopRequest()
    kept = pos.epoch  # the last epoch whose checkpoint is on disk
    if resume and pos.epoch < cfg.epochs and dist.main:
        guard.note_stale_derived(out_dir, log)
    with progress_bar(dist.main) as progress, stop.installed():
        for epoch in range(pos.epoch, cfg.epochs):
            mid = pos.step if epoch == pos.epoch else 0
            if mid and pos.torch_rng is not None:
                torch.set_rng_state(pos.torch_rng)
                tally = Tally(epoch, pos.seen, pos.loss_sum, pos.correct, pos.seconds)
            else:
                torch.manual_seed(cfg.seed * 100003 + epoch)  # dropout: same stream on resume
                tally = Tally(epoch)
            net.train()
            task = progress.add_task(
                f"epoch {epoch + 1}/{cfg.epochs}", total=steps_per_epoch, completed=mid, status=""
            )
            t_epoch = time.perf_counter()

            epoch_batches = batches(train_split, spec, cfg, epoch, dist, skip=mid)
            for i, (xb, yb) in enumerate(epoch_batches, start=mid):
                lr = cfg.lr_at(epoch * steps_per_epoch + i, steps_per_epoch)
                for g in optimizer.param_groups:
                    g["lr"] = lr
                x = torch.from_numpy(xb).to(device).contiguous(memory_format=memory_format)
                y = torch.from_numpy(yb).to(device)
                with autocast:
                    logits = net(x)
                    loss = F.cross_entropy(logits.float(), y, label_smoothing=cfg.label_smoothing)
                optimizer.zero_grad(set_to_none=True)
                if scaler is not None:
                    scaler.scale(loss).backward()
                    scaler.step(optimizer)
                    scaler.update()
                else:
                    loss.backward()
                    optimizer.step()
                if ema is not None:
                    ema.update_parameters(model)
                tally.add(i, loss.detach(), logits.detach(), y)
                last, stopping = i + 1 == steps_per_epoch, stop.requested  # one flag read a step
                if (i + 1) % SYNC_EVERY == 0 or last or stopping:
                    _check_losses(tally, cfg, out_dir, kept)
                    status = f"loss {tally.mean_loss():.4f} lr {lr:.4f}"
                    progress.update(task, advance=1, status=status)
                else:
                    progress.update(task, advance=1)
                if stopping and not last:
                    at = tally.position(i + 1, time.perf_counter() - t_epoch, history)
                    _stop_mid_epoch(
                        stop, out_dir, model, optimizer, scaler, ema, cfg, spec, dist, at,
                        resume_hint,
                    )  # fmt: skip
            train_time = tally.seconds + time.perf_counter() - t_epoch
            progress.remove_task(task)
            for weights in {id(m): m for m in (model, saved)}.values():
                guard.check_finite_weights(weights, f"end of epoch {epoch + 1}", cfg, out_dir, kept)
            metrics = evaluate(
                saved, test_split, spec, device=device, dist=dist, channels_last=cfg.channels_last
            )
            guard.check_finite_loss(
                metrics["test_loss"], f"test, epoch {epoch + 1}", cfg, out_dir, kept
            )
            seen = max(1, tally.seen)
            row = {
                "epoch": epoch + 1,
                "train_loss": tally.mean_loss(),
                "train_accuracy": float(tally.correct) / seen,
                **metrics,
                "epoch_seconds": train_time,
                "images_per_second": tally.seen * dist.world / train_time,
                "wall_seconds": wall0 + time.perf_counter() - t0,
            }
            history.append(row)
            if dist.main:
                log(
                    f"epoch {epoch + 1:3d}/{cfg.epochs}  loss {row['train_loss']:.4f}  "
                    f"train acc {row['train_accuracy']:.4f}  test loss {row['test_loss']:.4f}  "
                    f"test acc {row['test_accuracy']:.4f}  {row['images_per_second']:.0f} img/s"
                )
                done = {**metrics, "epochs_done": epoch + 1, "complete": epoch + 1 == cfg.epochs}
                save_checkpoint(out_dir, saved, spec.with_provenance(metrics=done, **provenance))
                at = Position(epoch + 1, history=history)
                save_state(out_dir, model, optimizer, scaler, asdict(cfg), at, spec, ema=ema)
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
        log(f"trained {cfg.preset} in {time.perf_counter() - t0:.1f} s -> {out_dir}")
    if dist.world > 1:
        import torch.distributed as tdist

        tdist.barrier()
        tdist.destroy_process_group()
    spec = spec.with_provenance(metrics=history[-1] if history else {})
    return TrainResult(out=out_dir, spec=spec, history=history, is_main=dist.main)
