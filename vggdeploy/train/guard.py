"""Guards around a training run: never destroy or silently mix runs, never save a diverged one.

* ``train --out DIR`` on a folder that already holds a run (finished or not) or artifacts derived
  from one is refused (:class:`RunExistsError`, exit 2); ``--resume`` continues it and ``--force``
  replaces it: the files listed by :func:`run_contents` are removed before training starts, so
  no ONNX, package, engine or bench result of the old weights stays beside the new ones. Files
  vggdeploy does not know are left alone.
* ``--resume`` with an option that contradicts the saved run is a UsageError naming each
  difference (options that change only speed or placement may differ: :data:`MAY_CHANGE`).
* Non-finite loss or weights stop training with :class:`TrainingDivergedError` (exit 7) before
  anything is saved.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shlex
import shutil
from collections.abc import Iterator
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

from vggdeploy._io import ensure_dir
from vggdeploy.artifacts.run_folder import CALIBRATION_PATTERN, DERIVED_DIRS, ENGINES_DIR
from vggdeploy.backends.registry import run_artifacts
from vggdeploy.errors import OutputError, RunExistsError, TrainingDivergedError, UsageError
from vggdeploy.runlock import run_lock

# What a training run writes (the first four identify one). What the other commands derive from
# its weights inside the run folder is not listed here: the backend registry knows each backend's
# artifacts (registry.run_artifacts) and artifacts/run_folder.py the stages' other outputs.
RUN_FILES = ("model.json", "model.safetensors", "train_state.json", "history.json")
RUN_EXTRAS = ("history.csv", "curves.png", "train_state-e*.safetensors")
# Options that do not change which weights a run produces; --resume may give other values.
MAY_CHANGE = frozenset({"device", "amp", "workers", "channels_last"})
# Options added after runs were already being saved: a saved config without one gets the value
# that reproduces how such a run was trained (so --resume of an older run does not change recipe).
LEGACY = {"recipe": "default", "erase": 0.0, "ema": 0.0, "init": None, "cpu_bf16": False}


def option_name(field: str) -> str:
    return "--" + field.replace("_", "-")


def run_contents(out: Path) -> list[Path]:
    """The files/folders of a run (and its derived artifacts) present in ``out``, sorted."""
    if not out.is_dir():
        return []
    found: set[Path] = set(run_artifacts(out))
    for pattern in (*RUN_FILES, *RUN_EXTRAS, CALIBRATION_PATTERN):
        found.update(p for p in out.glob(pattern) if p.is_file())
    found.update(out / d for d in DERIVED_DIRS if (out / d).is_dir())
    return sorted(found)


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def saved_config(out: Path) -> dict[str, Any] | None:
    """The options the run in ``out`` was started with (from train_state.json), if readable."""
    config = _read_json(out / "train_state.json").get("config")
    return {**LEGACY, **config} if isinstance(config, dict) else None


def describe_run(out: Path) -> str:
    state = _read_json(out / "train_state.json")
    meta = _read_json(out / "model.json")
    epochs = (state.get("config") or {}).get("epochs") or (meta.get("training") or {}).get("epochs")
    metrics = meta.get("metrics") or {}
    if metrics.get("complete"):
        acc = metrics.get("test_accuracy")
        acc_text = f", test accuracy {acc:.4f}" if isinstance(acc, float) else ""
        return f"a finished run ({metrics.get('epochs_done', epochs)} epochs{acc_text})"
    if state:
        return f"an unfinished run ({state.get('epoch', '?')} of {epochs or '?'} epochs saved)"
    if meta or (out / "model.safetensors").exists():
        return "a trained model"
    return "artifacts of another run"


def _names(paths: list[Path], out: Path) -> str:
    return ", ".join(p.relative_to(out).as_posix() + ("/" if p.is_dir() else "") for p in paths)


def resume_command(cfg: Any, out: Path, data_dir: str | None = None) -> str:
    """The `vggdeploy train --resume` command line that reproduces ``cfg`` (shell-quoted)."""
    defaults = type(cfg)()
    args = ["vggdeploy", "train", "--resume", "--out", str(out)]
    for f in fields(cfg):
        value = getattr(cfg, f.name)
        if value == getattr(defaults, f.name):
            continue
        if isinstance(value, bool):
            args.append(option_name(f.name) if value else "--no-" + f.name.replace("_", "-"))
        else:
            args += [option_name(f.name), str(value)]
    if data_dir:
        args += ["--data-dir", str(data_dir)]
    return shlex.join(args)


def check_before_work(out: Path, cfg: Any, *, resume: bool, force: bool, data_dir) -> None:
    """The checks that need no data: flags, a writable --out, no run to overwrite, and --resume
    options that agree with the saved run (if its state is readable; load_state reports it)."""
    if resume and force:
        raise UsageError("--resume and --force contradict each other: continue or replace?")
    check_out_writable(out)
    saved = saved_config(out) if resume else None
    if saved is not None:
        check_resume_options(saved, asdict(cfg), out)
    elif not resume and not force:
        refuse_existing_run(out, cfg, data_dir)


@contextlib.contextmanager
def claimed(
    out: Path, cfg: Any, *, resume: bool, force: bool, data_dir, log, writer: bool = True
) -> Iterator[None]:
    """Create ``out`` and hold its run lock for the block; under the lock, check again that no
    other process left a run there meanwhile (or clear it for --force). ``writer=False`` (DDP
    ranks other than 0) does nothing."""
    if not writer:
        yield
        return
    ensure_dir(out)
    with run_lock(out, "train"):
        if force:
            clear_for_force(out, log)
        elif not resume:
            refuse_existing_run(out, cfg, data_dir)
        yield


def check_out_writable(out: Path) -> None:
    """Fail before any long work if ``out`` cannot be created or written."""
    probe = out
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    if not probe.is_dir():
        raise OutputError(
            f"cannot create output folder '{out}': '{probe}' is not a folder",
            hint="choose a writable location with --out",
        )
    if not os.access(probe, os.W_OK | os.X_OK):
        raise OutputError(
            f"output folder '{out}' is not writable (no write permission on '{probe}')",
            hint="choose a writable location with --out, or fix its permissions",
        )


def refuse_existing_run(out: Path, cfg: Any, data_dir: str | None) -> None:
    """RunExistsError if ``out`` holds a run or derived artifacts (train without --resume)."""
    contents = run_contents(out)
    if not contents:
        return
    what = describe_run(out)
    options = []
    if (out / "train_state.json").is_file() and "unfinished" in what:
        saved = saved_config(out)
        if saved is not None:
            known = {f.name for f in fields(cfg)}
            old = type(cfg)(**{k: v for k, v in saved.items() if k in known})
            options.append(f"continue it with `{resume_command(old, out, data_dir)}`")
    options.append("train into another --out")
    options.append(f"add --force to replace it (removes {_names(contents, out)})")
    raise RunExistsError(
        f"'{out}' already holds {what}; training there would overwrite it",
        hint="; or ".join(options),
    )


def clear_for_force(out: Path, log) -> None:
    """--force: remove the old run and everything derived from its weights (listed first)."""
    contents = run_contents(out)
    if not contents:
        return
    log(f"--force: replacing {describe_run(out)} in '{out}'; removing {_names(contents, out)}")
    for p in contents:
        try:
            shutil.rmtree(p) if p.is_dir() else p.unlink()
        except OSError as exc:
            raise OutputError(
                f"--force cannot remove '{p}': {exc.strerror or exc}",
                hint="fix the folder's permissions, or train into another --out",
            ) from exc
    with contextlib.suppress(OSError):  # only when nothing of the user's is left in it
        (out / ENGINES_DIR).rmdir()


def note_stale_derived(out: Path, log) -> None:
    """--resume that trains on: say which derived artifacts the new weights will make stale."""
    derived = [p for p in run_contents(out) if p.name not in RUN_FILES + RUN_EXTRAS[:2]]
    derived = [p for p in derived if not p.name.startswith("train_state-")]
    if derived:
        log(
            f"note: {_names(derived, out)} in '{out}' were made from the saved weights and will "
            "be stale once training continues; export / build / bench again afterwards"
        )


def check_resume_options(saved: dict[str, Any], given: dict[str, Any], out: Path) -> None:
    """UsageError naming every option in ``given`` that contradicts the saved run's."""
    diffs = [
        f"{option_name(k)} {given[k]!r} (the run was started with {saved[k]!r})"
        for k in given
        if k in saved and k not in MAY_CHANGE and given[k] != saved[k]
    ]
    if diffs:
        raise UsageError(
            f"--resume: options contradict the run saved in '{out}': " + "; ".join(diffs),
            hint="leave them out (--resume continues with the saved options), or start a new run "
            "with another --out (or --force to replace this one)",
        )


def check_finite_loss(value: float, where: str, cfg: Any, out: Path, kept: int) -> None:
    """``where`` is "epoch E, step S" (training loss) or "test, epoch E" (test loss)."""
    if math.isfinite(value):
        return
    raise _diverged(f"the loss is {value} ({where})", cfg, out, kept)


def check_finite_weights(model, where: str, cfg: Any, out: Path, kept: int) -> None:
    """One device sync: are all floating-point tensors of ``model`` finite?"""
    import torch

    state = {k: v for k, v in model.state_dict().items() if v.is_floating_point()}
    if bool(torch.stack([torch.isfinite(v).all() for v in state.values()]).all()):
        return
    bad = [k for k, v in state.items() if not bool(torch.isfinite(v).all())]
    more = f" and {len(bad) - 3} more" if len(bad) > 3 else ""
    raise _diverged(f"weights became NaN/inf ({where}: {', '.join(bad[:3])}{more})", cfg, out, kept)


def _diverged(what: str, cfg: Any, out: Path, kept: int) -> TrainingDivergedError:
    """``kept``: the last epoch whose (finite) checkpoint is in ``out``; 0 if none was written."""
    saved = f"'{out}' keeps the checkpoint of epoch {kept}" if kept else "no checkpoint was written"
    again = "train again with --force (replaces the unfinished run)" if kept else "train again"
    return TrainingDivergedError(
        f"training diverged: {what}; nothing non-finite was saved ({saved})",
        hint=f"lower --lr (was {cfg.lr}) or --weight-decay (was {cfg.weight_decay}), or use a "
        f"longer --warmup-epochs (was {cfg.warmup:g}); then {again}",
    )
