"""`run_bench`: measure every planned case on the same inputs and collect one results document.

Method (why it is fair):
* Every case gets the same preprocessed Fashion-MNIST test images (the first ``max(batch)``), and
  every CPU backend the same thread count (torch.set_num_threads and ORT intra-op threads).
* All runners are activated first; then, per batch size, each case is warmed up (not timed) and
  timed in ``repeats`` interleaved rounds (round r starts at case r, so no case always runs right
  after the same neighbour). Machine noise therefore lands in every case's spread, not in one row.
* Latency statistics pool all timed calls; throughput = batch / p50; speed-up = p50 of PyTorch
  eager FP32 at the same batch / p50 of the case. Per-round medians are kept to show drift.
* A case failing (activation or mid-run) becomes a failed row with the reason; the rest continue.
"""

from __future__ import annotations

import datetime as _dt
import math
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vggdeploy import _args
from vggdeploy.artifacts.variants import PRECISIONS
from vggdeploy.backends.base import infer_fitted, open_runner, parse_device
from vggdeploy.backends.registry import BACKENDS
from vggdeploy.bench.accuracy import chunks, logit_metrics
from vggdeploy.bench.ceilings import ceiling_share
from vggdeploy.bench.latency import gpu_split, split_iters, summarize, time_calls
from vggdeploy.bench.matrix import (
    Case,
    parse_batch_sizes,
    parse_list,
    plan_cases,
    validate_backends,
)
from vggdeploy.errors import BackendUnavailableError, MissingDependencyError, UsageError

SCHEMA = "vggdeploy.bench"
SCHEMA_VERSION = 1
# progress(description, steps advanced, total steps or None): drives the CLI's progress bar
Progress = Callable[[str, int, "int | None"], None]


@dataclass
class BenchConfig:
    run: Path
    backends: list[str] = field(default_factory=lambda: list(BACKENDS))  # absent: skip rows
    precisions: list[str] = field(default_factory=lambda: list(PRECISIONS))
    batch_sizes: list[int] = field(default_factory=lambda: [1, 8, 32, 128])
    warmup: int = 10
    iters: int | None = 100
    duration_s: float | None = None
    repeats: int = 5
    threads: int | None = None
    device: str = "auto"  # CUDA when torch sees a GPU (the GPU rows), else CPU
    accuracy: bool = True
    limit_test: int | None = None
    torch_compile: bool = False
    ort_tensorrt: bool = False
    artifacts: list[Path] = field(default_factory=list)
    data_dir: str | None = None

    def validate(self) -> BenchConfig:
        _args.path("run", self.run)
        self.run = Path(self.run)
        _args.integer("--warmup", self.warmup)  # types and upper bounds; ranges below
        _args.optional_integer("--iters", self.iters)
        _args.optional_number("--duration", self.duration_s, max=_args.MAX_DURATION_S)
        _args.integer("--repeats", self.repeats)
        _args.optional_integer("--threads", self.threads, max=_args.MAX_THREADS)
        _args.optional_integer("--limit-test", self.limit_test)
        for flag in ("accuracy", "torch_compile", "ort_tensorrt"):
            _args.boolean("--" + flag.replace("_", "-"), getattr(self, flag))
        _args.text("--device", self.device)
        if self.artifacts is None or isinstance(self.artifacts, (str, bytes)):
            raise UsageError(f"artifacts must be a list of paths, got {self.artifacts!r}")
        for a in self.artifacts:
            _args.path("--artifact", a)
        self.backends = validate_backends(self.backends)
        self.precisions = parse_list(self.precisions, PRECISIONS, "precision")
        self.batch_sizes = parse_batch_sizes(self.batch_sizes)
        if self.warmup < 0:
            raise UsageError(f"--warmup must be >= 0, got {self.warmup}")
        if self.duration_s is not None:
            if not math.isfinite(self.duration_s) or self.duration_s <= 0:
                raise UsageError(f"--duration must be a finite number > 0, got {self.duration_s}")
            self.iters = None
        elif self.iters is None or self.iters < 1:
            raise UsageError(f"--iters must be >= 1, got {self.iters}")
        if self.repeats < 1:
            raise UsageError(f"--repeats must be >= 1, got {self.repeats}")
        if self.iters is not None and self.repeats > self.iters:
            raise UsageError(
                f"--repeats {self.repeats} exceeds --iters {self.iters}: every round needs at "
                "least one timed call",
                hint=f"use --repeats {self.iters} or fewer, or more --iters",
            )
        if self.threads is None:
            from vggdeploy.bench.sysinfo import cpu_info

            self.threads = cpu_info()["physical_cores"]
        if self.threads < 1:
            raise UsageError(f"--threads must be >= 1, got {self.threads}")
        self.device = str(parse_device(self.device))
        if self.limit_test is not None and self.limit_test < 1:
            raise UsageError(f"--limit-test must be >= 1, got {self.limit_test}")
        self.artifacts = [Path(a) for a in self.artifacts]
        return self


@dataclass
class _Active:
    case: Case
    runner: Any = None
    error: tuple[str, str] | None = None  # (status, reason) when it cannot be measured


def _open(case: Case, reference_spec: Any) -> _Active:
    from vggdeploy.spec import check_same_model

    if case.skip:
        return _Active(case, error=("skipped", case.skip))
    if case.failed:  # its identity is unreadable (matrix._content_case)
        return _Active(case, error=("failed", case.failed))
    if case.stale:  # not made from the reference checkpoint: never measured (matrix._mark_stale)
        return _Active(case, error=("stale", case.stale))
    opts = {k: v for k, v in case.options.items() if v is not None}
    try:
        runner = open_runner(case.backend, case.artifact, **opts)
    except MissingDependencyError as exc:
        return _Active(case, error=("skipped", f"not installed: {exc.message}"))
    except Exception as exc:
        return _Active(case, error=("failed", _reason(exc)))
    try:
        runner.activate()
        check_same_model(
            reference_spec, runner.spec, a_name="the checkpoint", b_name=str(case.artifact)
        )
    except (MissingDependencyError, BackendUnavailableError) as exc:
        runner.deactivate()
        return _Active(case, error=("skipped", f"not available: {exc.message}"))
    except Exception as exc:  # incl. ArtifactError from check_same_model: a failed row
        runner.deactivate()
        return _Active(case, error=("failed", _reason(exc)))
    return _Active(case, runner=runner)


def _reason(exc: BaseException) -> str:
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {message}".splitlines()[0][:300]


def _row(case: Case, batch: int, device: str, **fields: Any) -> dict[str, Any]:
    row = {
        "backend": case.backend,
        "precision": case.precision,
        "variant": case.variant,
        "device": device,
        "batch": batch,
        "status": "ok",
        "reason": case.note,  # an ok row's note, e.g. a file name that contradicts its content
        "artifact": str(case.artifact) if case.artifact else None,
        "artifact_mb": case.artifact_mb(),
        "latency_ms": None,
        "round_p50_ms": None,
        "throughput_ips": None,
        "speedup_vs_torch_fp32": None,
        "gflops_per_s": None,
        "fp32_peak_share": None,
        "ceiling_share": None,  # of the measured GEMM ceiling of the row's precision
        "runner_settings": None,  # what the runner ran with (OpenVINO: hint, threads, precision)
        "gpu_split_ms": None,
    }
    row.update(fields)
    return row


def _settings(runner: Any, batch: int) -> dict[str, Any] | None:
    """The engine settings a runner reports for ``batch`` (runners with a ``settings`` hook)."""
    hook = getattr(runner, "settings", None)
    return dict(hook(batch)) if callable(hook) else None


def _load_inputs(cfg: BenchConfig, spec: Any):
    from vggdeploy.data.fashion_mnist import load_split

    test = load_split("test", cfg.data_dir)
    images, labels = test.images, test.labels
    if cfg.limit_test is not None:
        images, labels = images[: cfg.limit_test], labels[: cfg.limit_test]
    return images, labels, test_data_record(test.sha256, spec, len(images))


def test_data_record(measured: dict[str, str], spec: Any, n: int) -> dict[str, Any]:
    """What the accuracy figures were measured on, against what the run recorded training and
    testing on (model.json ``data.sha256``): files are known by their content, not their names,
    so a test split of other bytes under the same file names is said, not passed off."""
    recorded = ((spec.provenance.get("data") or {}).get("sha256")) or {}
    differ = sorted(k for k, v in measured.items() if k in recorded and recorded[k] != v)
    unknown = sorted(k for k in measured if k not in recorded)
    if differ:
        verdict = "other"
        note = (
            f"the test files {', '.join(differ)} are not the data this run recorded (sha256 "
            "differs): accuracy is measured on other data than the run's own test split"
        )
    elif unknown:
        verdict, note = "unrecorded", "the run records no sha256 of its test data"
    else:
        verdict, note = "recorded", None
    return {"test_sha256": dict(measured), "images": n, "matches_run": verdict, "note": note}


def run_bench(cfg: BenchConfig, progress: Progress | None = None) -> dict[str, Any]:
    """Measure latency (and accuracy) of every case; returns the results document.

    The process-wide torch thread count is restored and every runner deactivated afterwards, also
    when an error escapes.
    """
    import torch

    previous_threads = torch.get_num_threads()
    opened: list[_Active] = []
    try:
        return _run_bench(cfg, progress, opened)
    finally:
        for a in opened:
            if a.runner is not None:
                a.runner.deactivate()
        torch.set_num_threads(previous_threads)


def _run_bench(cfg: BenchConfig, progress: Progress | None, opened: list[_Active]) -> dict:
    from vggdeploy.artifacts.checkpoint import read_spec
    from vggdeploy.bench.sysinfo import environment
    from vggdeploy.data.preprocess import preprocess
    from vggdeploy.models.vgg import count_flops
    from vggdeploy.spec import check_batch_memory

    cfg.validate()
    tick = progress or (lambda _desc, _n, _total=None: None)
    spec = read_spec(cfg.run)  # the checkpoint is the reference every artifact must match
    check_batch_memory(spec, max(cfg.batch_sizes), "--batch-sizes")
    images, labels, data = _load_inputs(cfg, spec)
    cases = plan_cases(
        cfg.run,
        backends=cfg.backends,
        precisions=cfg.precisions,
        device=cfg.device,
        threads=cfg.threads,
        torch_compile=cfg.torch_compile,
        ort_tensorrt=cfg.ort_tensorrt,
        artifacts=cfg.artifacts,
    )
    if not any(c.is_reference for c in cases):  # speed-ups need it, measured in this run
        ref_opts = {"device": cfg.device, "precision": "fp32", "threads": cfg.threads}
        cases.insert(0, Case("torch", "fp32", "eager", cfg.run, ref_opts))
    env = environment()
    import torch

    torch.set_num_threads(cfg.threads)  # also the pool AOTInductor CPU kernels use
    flops = count_flops(spec)
    peak = env["cpu_peak"]["fp32_flops"] if cfg.device == "cpu" else None
    ceilings = None
    if cfg.device == "cpu":  # each row's share of its precision's measured GEMM ceiling
        from vggdeploy.bench.ceilings import formula_check, machine_ceilings

        ceilings = env["ceilings"] = machine_ceilings(env["cpu"], cfg.threads)
        env["ceilings_vs_formula"] = formula_check(ceilings, env["cpu_peak"])

    max_batch = max(cfg.batch_sizes)
    reps = np.resize(np.arange(len(images)), max_batch)  # tile when the test set is smaller
    inputs = preprocess(images[reps], spec)

    active = opened
    active += [_open(c, spec) for c in cases]
    runnable_cases = sum(a.error is None for a in active)
    tick("runners ready", 0, runnable_cases * cfg.repeats * len(cfg.batch_sizes) + cfg.accuracy)
    rows: list[dict[str, Any]] = []
    per_batch: dict[int, dict[str, dict[str, Any]]] = {}
    for batch in cfg.batch_sizes:
        x = inputs[:batch]
        timed: dict[int, list[float]] = {}
        rounds: dict[int, list[float]] = {}
        failed: dict[int, str] = {}
        skipped: dict[int, str] = {}
        runnable = []
        for i, a in enumerate(active):
            if a.error:
                continue
            lo, hi = a.runner.batch_bounds()
            if batch < lo or (hi is not None and batch > hi):
                skipped[i] = f"batch {batch} outside this artifact's range [{lo}, {hi}]"
                continue
            try:
                for _ in range(cfg.warmup):
                    a.runner.infer(x)
                runnable.append(i)
            except Exception as exc:
                failed[i] = _reason(exc)
        plan = split_iters(cfg.iters or 1, cfg.repeats)
        per_round_s = cfg.duration_s / cfg.repeats if cfg.duration_s else None
        for r in range(cfg.repeats):
            order = (
                runnable[r % len(runnable) :] + runnable[: r % len(runnable)] if runnable else []
            )
            for i in order:
                if i in failed:
                    continue
                a = active[i]
                tick(f"{a.case.key} batch {batch} round {r + 1}/{cfg.repeats}", 0)
                try:
                    t = time_calls(
                        a.runner,
                        x,
                        iters=None if per_round_s else plan[r],
                        duration_s=per_round_s,
                    )
                except Exception as exc:
                    failed[i] = _reason(exc)
                    continue
                timed.setdefault(i, []).extend(t)
                rounds.setdefault(i, []).append(float(np.median(t)) * 1e3)
                tick("", 1)
        batch_rows = {}
        for i, a in enumerate(active):
            case = a.case
            if a.error:
                row = _row(case, batch, cfg.device, status=a.error[0], reason=a.error[1])
            elif i in skipped:
                row = _row(case, batch, cfg.device, status="skipped", reason=skipped[i])
            elif i in failed:
                row = _row(case, batch, cfg.device, status="failed", reason=failed[i])
            else:
                stats = summarize(timed[i])
                achieved = flops * batch / (stats["p50"] / 1e3)
                row = _row(
                    case,
                    batch,
                    cfg.device,
                    latency_ms=stats,
                    round_p50_ms=rounds[i],
                    throughput_ips=batch / (stats["p50"] / 1e3),
                    gflops_per_s=achieved / 1e9,
                    fp32_peak_share=achieved / peak if peak else None,
                    ceiling_share=ceiling_share(ceilings, case.precision, achieved),
                    runner_settings=_settings(a.runner, batch),
                    gpu_split_ms=gpu_split(a.runner, x) if cfg.device != "cpu" else None,
                )
            batch_rows[case.key] = row
            rows.append(row)
        per_batch[batch] = batch_rows
        ref = batch_rows.get("torch/fp32/eager")
        if ref and ref["status"] == "ok":
            for row in batch_rows.values():
                if row["status"] == "ok":
                    row["speedup_vs_torch_fp32"] = (
                        ref["latency_ms"]["p50"] / row["latency_ms"]["p50"]
                    )

    accuracy = _accuracy(cfg, spec, active, images, labels, tick) if cfg.accuracy else []
    return {
        "schema": SCHEMA,
        "version": SCHEMA_VERSION,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "run": str(cfg.run),
        "model": {
            "preset": spec.preset,
            "fingerprint": spec.fingerprint(),
            "input": list(spec.input.shape("N")),
            "num_classes": spec.num_classes,
            "flops_per_image": flops,
            # the run's own figure only where the bench data is the data it was measured on
            "test_accuracy_recorded": (spec.provenance.get("metrics") or {}).get("test_accuracy")
            if data["matches_run"] == "recorded"
            else None,
        },
        "data": data,
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in _config_dict(cfg).items()},
        "environment": env,
        "method": {
            "timer": "time.perf_counter around infer() returning host logits (synchronised)",
            "throughput": "batch / p50 latency",
            "speedup": "p50(torch fp32 eager) / p50(case), same batch, same run",
            "rounds": cfg.repeats,
            "pid": os.getpid(),
        },
        "rows": rows,
        "accuracy": accuracy,
    }


def _config_dict(cfg: BenchConfig) -> dict[str, Any]:
    d = asdict(cfg)
    d["artifacts"] = [str(a) for a in cfg.artifacts]
    return d


def _accuracy(cfg, spec, active, images, labels, tick) -> list[dict[str, Any]]:
    """Logits of every runnable case on the test images (preprocessed once per chunk)."""
    from vggdeploy.data.preprocess import preprocess

    ok = [a for a in active if a.error is None]
    ref_runner = next((a.runner for a in ok if a.case.is_reference), None)
    own_ref = None
    if ref_runner is None:
        own_ref = open_runner("torch", cfg.run, device=cfg.device, threads=cfg.threads)
        ref_runner = own_ref.activate()
    size = max(cfg.batch_sizes)
    # keyed by the opened case itself, not its label: two cases never share a list
    logits: dict[int, list[np.ndarray]] = {id(a): [] for a in ok}
    reference: list[np.ndarray] = []
    errors: dict[int, str] = {}
    try:
        for lo, hi in chunks(len(images), size):
            x = preprocess(images[lo:hi], spec)
            reference.append(ref_runner.infer(x))
            for a in ok:
                key = id(a)
                if key in errors:
                    continue
                try:
                    logits[key].append(infer_fitted(a.runner, x))
                except Exception as exc:
                    errors[key] = _reason(exc)
            tick(f"accuracy {hi}/{len(images)} images", 0)
    finally:
        if own_ref is not None:
            own_ref.deactivate()
    tick("accuracy", 1)
    ref = np.concatenate(reference)
    out = []
    for a in active:
        c = a.case
        entry = {"backend": c.backend, "precision": c.precision, "variant": c.variant}
        if a.error:
            entry.update(status=a.error[0], reason=a.error[1])
        elif id(a) in errors:
            entry.update(status="failed", reason=errors[id(a)])
        else:
            entry.update(
                status="ok",
                reason=None,
                **logit_metrics(np.concatenate(logits[id(a)]), labels, ref),
            )
        out.append(entry)
    return out


__all__ = ["SCHEMA", "SCHEMA_VERSION", "BenchConfig", "run_bench"]
