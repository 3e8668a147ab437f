"""vggdeploy's CPU rows against OpenVINO and ONNX Runtime set up by hand, in one interleaved run.

For each model (vgg-mini28, d2l-vgg11) and batch (1, 32, 64) this times, on the same inputs and the
same thread count:

* vggdeploy: the rows `vggdeploy bench` measures on the CPU (its own case table,
  ``bench.matrix.plan_cases``, opened through the Runner contract with bench's options): ONNX
  Runtime FP32 / INT8 (Q/DQ and CPU form), OpenVINO IRs FP32 / BF16 / INT8 (NNCF and Q/DQ);
* peers, from their own APIs as a careful user would set them up: OpenVINO (``Core.compile_model``
  with the LATENCY and THROUGHPUT hints, ``INFERENCE_NUM_THREADS``, f32 / bf16 inference precision,
  NNCF ``quantize`` with its defaults on the same train images; THROUGHPUT runs an
  ``AsyncInferQueue`` with the plugin's optimal number of requests over slices of the batch), and
  ONNX Runtime (``intra_op_num_threads``, all graph optimizations; FP32 and ``quantize_static``
  QDQ U8/S8 per-channel, ORT's documented CPU choice).

Interleaving: every round visits every case once per batch, starting one case later each round;
a visit is one untimed call, then timed calls for the model's ``min_round_s`` (at least one); a
case's figure is the median over rounds of its per-round median. Accuracy: top-1 on the test
split and the drop against ONNX Runtime FP32, judged with the export stage's tolerances; none
for d2l-vgg11, whose weights are random (its variants are built unverified: an accuracy judge on
random weights is meaningless, and rightly refuses them).

    PYTHONPATH=. python benchmarks/cpu_peers.py --work /tmp/peers      # prepare + measure
    PYTHONPATH=. python benchmarks/cpu_peers.py --markdown-only        # CPU_PEERS.md from JSON

vgg-mini28 is trained for 1 epoch here if ``--work`` has no run; d2l-vgg11 is untrained (random
weights, seed 0): its latency is that of the real network, its accuracy figures are not.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import shlex
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "cpu_peers.json"
MARKDOWN = HERE / "CPU_PEERS.md"
# model -> how it is prepared and measured
MODELS: dict[str, dict[str, Any]] = {
    # the committed trained checkpoint (92.88 % top-1): accuracy figures mean something at once
    "vgg-mini": {
        "copy": "tests/assets/vgg-mini-default",
        "limit_test": None,
        "max_batch": 64,
        "min_round_s": 0.25,
    },  # fmt: skip
    "vgg-mini28": {"train_epochs": 1, "limit_test": None, "max_batch": 64, "min_round_s": 0.25},
    # 15 GFLOP per image, random weights: latency only (variants unverified, no accuracy), FP32
    # rows not timed above batch 1
    "d2l-vgg11": {
        "train_epochs": 0,
        "limit_test": 200,
        "max_batch": 8,
        "min_round_s": 0.5,  # batch 1 (10-90 ms): several calls a round; 32 and 64: one or two
        "verify": False,
        # ORT's quantize_static keeps every tensor of every calibration image in memory (512 at
        # 224x224: ~30 GB; its CalibMaxIntermediateOutputs drops data, ORT 1.32): 64 for the peer
        "ort_calib": 64,
    },  # fmt: skip
}
BATCHES = (1, 32, 64)
# the IRs vggdeploy builds: (precision, INT8 source)
IRS = (("fp32", "nncf"), ("bf16", "nncf"), ("int8", "nncf"), ("int8", "qdq"))


# ---- preparation: the run folder and every artifact vggdeploy makes --------------------------
def prepare(model: str, work: Path, data_dir: str | None, log: Callable[[str], None]) -> Path:
    from vggdeploy.artifacts.checkpoint import save_checkpoint
    from vggdeploy.export.pipeline import export_variants
    from vggdeploy.models import build_model, make_spec

    opts = MODELS[model]
    run = work / model
    if not (run / "model.safetensors").is_file():
        if opts.get("copy"):
            import shutil

            shutil.copytree(HERE.parent / opts["copy"], run, dirs_exist_ok=True)
        elif opts["train_epochs"]:
            from vggdeploy.train.config import TrainConfig
            from vggdeploy.train.loop import train

            cfg = TrainConfig(preset=model, epochs=opts["train_epochs"])
            log(f"{model}: training {opts['train_epochs']} epoch(s)")
            train(cfg, run, data_dir=data_dir, log=lambda *_: None)
        else:
            import torch

            torch.manual_seed(0)
            spec = make_spec(model)
            log(f"{model}: untrained checkpoint (random weights, seed 0)")
            save_checkpoint(run, build_model(spec).eval(), spec)
    if not (run / "model.int8-cpu.onnx").is_file():
        log(f"{model}: export fp32 + int8 (both targets)")
        export_variants(
            run,
            precisions="fp32,int8",
            max_batch=opts["max_batch"],
            limit_test=opts["limit_test"],
            verify=opts.get("verify", True),
            data_dir=data_dir,
            log=log,
        )
    for precision, source in IRS:
        _build_ir(run, precision, source, opts, data_dir, log)
    return run


def _build_ir(run: Path, precision: str, source: str, opts: dict, data_dir, log) -> str:
    from vggdeploy.errors import VggDeployError
    from vggdeploy.export.openvino import build_openvino, default_ir_path

    path = default_ir_path(run, precision, source)
    if path.is_file():
        return "reused"
    log(f"{run.name}: OpenVINO IR {precision} ({source})")
    try:
        build_openvino(
            run,
            precision=precision,
            int8_source=source,
            data_dir=data_dir,
            limit_test=opts["limit_test"],
            verify=opts.get("verify", True),
            log=log,
        )
    except VggDeployError as exc:  # refused (BF16 not native, accuracy): the row says why
        log(f"  not built: {exc.message}")
        return f"not built: {exc.message}"
    return "built"


# ---- the cases ---------------------------------------------------------------------------------
class Case:
    def __init__(self, side: str, name: str, precision: str, call, settings: dict, close=None):
        self.side, self.name, self.precision = side, name, precision
        self.call, self.settings, self.close = call, settings, close


def vggdeploy_cases(run: Path, threads: int, precisions: list[str]) -> list[Case]:
    """Bench's own CPU rows for ONNX Runtime and OpenVINO, opened as bench opens them."""
    from vggdeploy.backends.base import open_runner
    from vggdeploy.bench.matrix import plan_cases

    cases = []
    planned = plan_cases(
        run, backends=["onnxruntime", "openvino"], precisions=precisions, device="cpu",
        threads=threads,
    )  # fmt: skip
    for c in planned:
        if c.skip or c.stale or c.artifact is None:
            continue
        runner = open_runner(c.backend, c.artifact, **{k: v for k, v in c.options.items() if v})
        try:
            runner.activate()
        except Exception as exc:  # a BF16 IR on a CPU without BF16: skipped, reported
            print(f"  vggdeploy {c.key}: not measured ({exc})", file=sys.stderr)
            continue
        settings = {"artifact": c.artifact.name, **c.options}
        cases.append(
            Case("vggdeploy", f"{c.backend} {c.variant}", c.precision, runner.infer, settings,
                 runner.deactivate)
        )  # fmt: skip
        cases[-1].runner = runner
    return cases


def peer_cases(
    run: Path, threads: int, calib: np.ndarray, precisions: list[str], ort_calib: int | None = None
) -> list[Case]:
    import openvino as ov

    from vggdeploy.backends.cpu_features import cpu_features

    cases: list[Case] = []
    core = ov.Core()
    fp32 = core.read_model(str(run / "model.onnx"))
    ov_precisions = [p for p in ("f32", "bf16") if {"f32": "fp32", "bf16": "bf16"}[p] in precisions]
    if not cpu_features().native_bf16 and "bf16" in ov_precisions:
        ov_precisions.remove("bf16")
    models = [(p, fp32, {"INFERENCE_PRECISION_HINT": p}) for p in ov_precisions]
    if "int8" in precisions:
        os.environ.setdefault("NNCF_CI", "1")  # no usage telemetry from the peer's quantizer
        import nncf

        dataset = nncf.Dataset([calib[i : i + 1] for i in range(len(calib))])
        models.append(("int8", nncf.quantize(fp32, dataset), {}))  # NNCF defaults
    for precision, model, extra in models:
        for hint in ("LATENCY", "THROUGHPUT"):
            config = {"PERFORMANCE_HINT": hint, "INFERENCE_NUM_THREADS": threads, **extra}
            compiled = core.compile_model(model, "CPU", config)
            call = _ov_sync(compiled) if hint == "LATENCY" else _ov_async(ov, compiled)
            name = f"openvino {precision} {hint.lower()}"
            label = {"f32": "fp32"}.get(precision, precision)
            cases.append(Case("peer", name, label, call, {k: str(v) for k, v in config.items()}))
    cases += _ort_cases(run, threads, calib[:ort_calib], precisions)
    return cases


def _ov_sync(compiled: Any) -> Callable[[np.ndarray], np.ndarray]:
    request = compiled.create_infer_request()
    return lambda x: request.infer({0: x})[0]


def _ov_async(ov: Any, compiled: Any) -> Callable[[np.ndarray], np.ndarray]:
    jobs = int(compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))
    queue = ov.AsyncInferQueue(compiled, jobs)
    results: dict[int, np.ndarray] = {}
    queue.set_callback(lambda req, i: results.__setitem__(i, req.get_output_tensor(0).data.copy()))

    def call(x: np.ndarray) -> np.ndarray:
        parts = np.array_split(x, min(jobs, len(x)))
        for i, part in enumerate(parts):
            queue.start_async({0: part}, userdata=i)
        queue.wait_all()
        return np.concatenate([results[i] for i in range(len(parts))])

    return call


def _ort_cases(run: Path, threads: int, calib: np.ndarray, precisions: list[str]) -> list[Case]:
    import onnxruntime as ort
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    settings = {"intra_op_num_threads": threads, "graph_optimization": "all"}
    files = []
    if "fp32" in precisions:
        files.append(("fp32", "onnxruntime fp32", run / "model.onnx", settings))
    if "int8" in precisions:

        class Reader(CalibrationDataReader):
            def __init__(self) -> None:
                self.items = iter([{"input": calib[i : i + 1]} for i in range(len(calib))])

            def get_next(self):
                return next(self.items, None)

        out = Path(tempfile.mkdtemp(prefix="peers-ort.")) / "int8.onnx"
        quantize_static(
            str(run / "model.onnx"), str(out), Reader(), quant_format=QuantFormat.QDQ,
            per_channel=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
        )  # fmt: skip
        q = {
            **settings,
            "quantize_static": "QDQ U8/S8 per-channel, MinMax",
            "calibration_images": len(calib),
        }
        files.append(("int8", "onnxruntime int8 (quantize_static)", out, q))
    cases = []
    for precision, name, path, s in files:
        sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        cases.append(
            Case("peer", name, precision, lambda x, s_=sess: s_.run(None, {"input": x})[0], s)
        )
    return cases


# ---- measuring ---------------------------------------------------------------------------------
def measure(cases: list[Case], x: np.ndarray, rounds: int, min_round_s: float) -> dict[int, list]:
    """Per case: per-round median latency (s), interleaved (round r starts at case r). Each
    case's turn starts with an untimed call: the first call after another case ran is not its
    steady state (its weights left the caches, the other's threads still spin). Timed alone, that
    call made d2l-vgg11's batch-1 figures 1.5-2x too slow for some cases and not others,
    depending on which case ran before (an OpenVINO BF16 IR 38 ms against 17-18 ms steady)."""
    per_round: dict[int, list[float]] = {i: [] for i in range(len(cases))}
    for c in cases:
        c.call(x)  # warm-up (first calls compile / pack weights)
    for r in range(rounds):
        order = list(range(len(cases)))
        order = order[r % len(order) :] + order[: r % len(order)]
        for i in order:
            cases[i].call(x)  # settle (untimed)
            times = []
            start = time.perf_counter()
            while not times or time.perf_counter() - start < min_round_s:
                t0 = time.perf_counter()
                cases[i].call(x)
                times.append(time.perf_counter() - t0)
            per_round[i].append(float(np.median(times)))
    return per_round


def accuracy(cases: list[Case], x: np.ndarray, y: np.ndarray, chunk: int) -> dict[int, float]:
    out = {}
    for i, c in enumerate(cases):
        preds = [np.asarray(c.call(x[s : s + chunk])).argmax(1) for s in range(0, len(x), chunk)]
        out[i] = float((np.concatenate(preds) == y).mean())
    return out


def run_model(model: str, args, log) -> dict[str, Any]:
    from vggdeploy.artifacts.checkpoint import read_spec
    from vggdeploy.data import load_split, preprocess
    from vggdeploy.export.judge import TOLERANCES
    from vggdeploy.export.quantize import calibration_images

    opts = MODELS[model]
    run = prepare(model, Path(args.work), args.data_dir, log)
    spec = read_spec(run)
    precisions = ["fp32", "bf16", "int8"]
    calib = calibration_images(spec, args.data_dir, 512)  # the train images both sides use
    cases = vggdeploy_cases(run, args.threads, precisions)
    cases += peer_cases(run, args.threads, calib, precisions, opts.get("ort_calib"))
    test = load_split("test", args.data_dir)
    n = opts["limit_test"] or len(test)
    x_test, y_test = preprocess(test.images[:n], spec), test.labels[:n]
    judged = opts.get("verify", True)
    if judged:
        log(f"{model}: accuracy of {len(cases)} cases on {n} test images")
    top1 = accuracy(cases, x_test, y_test, chunk=64) if judged else dict.fromkeys(range(len(cases)))
    rows = [
        {"side": c.side, "name": c.name, "precision": c.precision, "settings": c.settings,
         "top1": top1[i], "latency_ms": {}, "rounds_ms": {}}
        for i, c in enumerate(cases)
    ]  # fmt: skip
    ref = next(r["top1"] for r in rows if r["name"] == "onnxruntime -" and r["side"] == "vggdeploy")
    for r in rows:
        r["drop_pt"] = None if ref is None else 100 * (ref - r["top1"])
        tol = TOLERANCES.get(r["precision"])
        r["within_tolerance"] = (
            None if tol is None or ref is None else r["drop_pt"] <= tol.max_accuracy_drop_pt
        )
    reps = np.resize(np.arange(len(x_test)), max(BATCHES))
    x_all = x_test[reps]
    for batch in BATCHES:
        timed = [
            i for i, c in enumerate(cases)
            if not (model == "d2l-vgg11" and c.precision == "fp32" and batch > 1)
        ]  # fmt: skip
        log(f"{model}: batch {batch}, {len(timed)} cases x {args.rounds} rounds")
        sub = [cases[i] for i in timed]
        per_round = measure(sub, x_all[:batch], args.rounds, opts["min_round_s"])
        for j, i in enumerate(timed):
            rows[i]["rounds_ms"][str(batch)] = [1e3 * t for t in per_round[j]]
            rows[i]["latency_ms"][str(batch)] = 1e3 * float(np.median(per_round[j]))
            if cases[i].side == "vggdeploy" and hasattr(cases[i], "runner"):
                hook = getattr(cases[i].runner, "settings", None)
                if callable(hook):
                    rows[i].setdefault("runner_settings", {})[str(batch)] = hook(batch)
    for c in cases:
        if c.close:
            c.close()
    return {"model": model, "run": str(run), "test_images": n, "rows": rows,
            "summary": summarize(rows)}  # fmt: skip


def summarize(rows: list[dict]) -> list[dict]:
    out = []
    for batch in BATCHES:
        b = str(batch)
        best = {}
        for side in ("vggdeploy", "peer"):
            timed = [r for r in rows if r["side"] == side and b in r["latency_ms"]]
            best[side] = min(timed, key=lambda r: r["latency_ms"][b], default=None)
        v, p = best["vggdeploy"], best["peer"]
        ratio = p["latency_ms"][b] / v["latency_ms"][b] if v and p else None
        # same-round ratios: each round visits both cases back to back, so machine drift
        # (other tenants, clocks) cancels in the pair; their median decides, the quartiles show
        # how far this run can tell
        paired = (
            [pr / vr for pr, vr in zip(p["rounds_ms"][b], v["rounds_ms"][b], strict=True)]
            if v and p
            else []
        )
        q25, q50, q75 = (
            (float(q) for q in np.percentile(paired, [25, 50, 75])) if paired else (None,) * 3
        )
        out.append({
            "batch": batch,
            "vggdeploy_best": v and {"name": v["name"], "precision": v["precision"],
                                     "ms": v["latency_ms"][b]},
            "peer_best": p and {"name": p["name"], "precision": p["precision"],
                                "ms": p["latency_ms"][b]},
            "peer_over_vggdeploy": ratio,  # of the medians; > 1: vggdeploy faster
            "paired_ratio": paired and {"median": q50, "q25": q25, "q75": q75, "n": len(paired)},
            "within_5pct": q50 is not None and q50 >= 0.95,
        })  # fmt: skip
    return out


# ---- the report --------------------------------------------------------------------------------
def markdown(doc: dict[str, Any]) -> str:
    m = doc["machine"]
    lines = [
        "# vggdeploy on the CPU against OpenVINO and ONNX Runtime configured by hand",
        "",
        f"Generated by `benchmarks/cpu_peers.py` from `benchmarks/results/cpu_peers.json` "
        f"({doc['date']}). Last command (each model's section names its own): `{doc['command']}`.",
        "",
        f"- CPU: {m['cpu']['model']}, {m['cpu']['physical_cores']} cores usable; features: "
        + (
            ", ".join(k for k, v in m["cpu"]["features"].items() if v is True)
            or "none of " + ", ".join(k for k, v in m["cpu"]["features"].items() if v is False)
        ),
        f"- Threads: {doc['threads']} on every side · rounds: {doc['rounds']} interleaved · "
        f"load average before / after: {m['load_before']:.1f} / {m['load_after']:.1f}",
        "- Versions: " + ", ".join(f"{k} {v}" for k, v in doc["versions"].items() if v),
        "- vgg-mini: the committed trained checkpoint; vgg-mini28: trained 1 epoch here; "
        "d2l-vgg11: untrained (random weights, seed 0): its latency is the real network's; "
        "latency only (its INT8 variants built unverified, no accuracy column), FP32 rows timed "
        "at batch 1 only.",
        "",
        "## Best of each side, same run",
        "",
        "Best = lowest median of its side. *peer / vggdeploy*: the median over rounds of the "
        "same-round ratio of the two (> 1: vggdeploy faster), with its quartiles; within 5 % "
        "when that median is ≥ 0.95. A quartile range that straddles 0.95 means this run cannot "
        "tell the two apart at 5 %.",
        "",
        "| model | batch | vggdeploy best | ms | best hand-configured peer | ms | peer / vggdeploy "
        "(q25–q75) | within 5 % |",
        "|---|---:|---|---:|---|---:|---:|---|",
    ]
    for res in doc["models"]:
        for s in res["summary"]:
            v, p = s["vggdeploy_best"], s["peer_best"]
            pr = s.get("paired_ratio") or {}
            ratio = (
                f"{pr['median']:.2f} ({pr['q25']:.2f}–{pr['q75']:.2f})"
                if pr
                else f"{s['peer_over_vggdeploy']:.2f}"
            )
            lines.append(
                f"| {res['model']} | {s['batch']} | {v['name']} {v['precision']} | {v['ms']:.3f} "
                f"| {p['name']} | {p['ms']:.3f} | {ratio} | "
                f"{'yes' if s['within_5pct'] else '**no**'} |"
            )
    missing = [m for m in MODELS if m not in {r["model"] for r in doc["models"]}]
    if missing:
        lines += ["", f"Not measured yet: {', '.join(missing)} (see the notes below)."]
    for res in doc["models"]:
        mm = res.get("machine", m)
        lines += [
            "",
            f"## {res['model']}: every case (median of per-round medians, ms)",
            "",
            f"Measured {res.get('date', doc['date'])} on {mm['cpu']['model']}, "
            f"{res.get('rounds', doc['rounds'])} rounds, load average before / after "
            f"{mm['load_before']:.1f} / {mm['load_after']:.1f}. "
            f"Command: `{res.get('command', doc['command'])}`.",
            "",
            "| side | case | precision | "
            + " | ".join(f"b{b}" for b in BATCHES)
            + f" | top-1 % ({res['test_images']} images) | drop pt | within tolerance |",
            "|---|---|---|" + "---:|" * len(BATCHES) + "---:|---:|---|",
        ]
        for r in res["rows"]:
            lat = " | ".join(
                f"{r['latency_ms'][str(b)]:.3f}" if str(b) in r["latency_ms"] else "—"
                for b in BATCHES
            )
            tol = {True: "yes", False: "**no**", None: "—"}[r["within_tolerance"]]
            acc = "— | —" if r["top1"] is None else f"{100 * r['top1']:.2f} | {r['drop_pt']:+.2f}"
            lines.append(
                f"| {r['side']} | {r['name']} | {r['precision']} | {lat} | {acc} | {tol} |"
            )
    lines += [
        "",
        "Settings per case (hints, threads, quantizers) are in the JSON (`settings`, and "
        "`runner_settings` per batch for vggdeploy's OpenVINO rows).",
        "",
    ]
    notes = MARKDOWN.with_suffix(".notes.md")
    if notes.is_file():  # the hand-written reading, kept beside the generated tables
        lines += [notes.read_text().rstrip(), ""]
    return "\n".join(lines)


def main() -> None:
    from vggdeploy.bench.sysinfo import cpu_info, library_versions

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", default="/tmp/vggdeploy-peers", help="run folders (reused)")
    ap.add_argument("--models", default="vgg-mini28,d2l-vgg11")
    ap.add_argument("--threads", type=int, default=None, help="default: physical cores")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--markdown", type=Path, default=MARKDOWN)
    ap.add_argument("--markdown-only", action="store_true")
    args = ap.parse_args()
    if args.markdown_only:
        args.markdown.write_text(markdown(json.loads(args.out.read_text())))
        return
    cpu = cpu_info()
    args.threads = args.threads or cpu["physical_cores"]

    def log(msg: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)

    load_before = os.getloadavg()[0]
    models = []
    for model in args.models.split(","):
        models.append(run_model(model, args, log))
    doc = {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "command": shlex.join(["python", "benchmarks/cpu_peers.py", *sys.argv[1:]]),
        "machine": {"cpu": cpu, "load_before": load_before, "load_after": os.getloadavg()[0]},
        "versions": library_versions(),
        "threads": args.threads,
        "rounds": args.rounds,
        "models": models,
    }
    for m in models:  # each model's entry records its own run (models run separately merge)
        m.update({k: doc[k] for k in ("date", "command", "machine", "versions", "rounds")})
    with contextlib.suppress(OSError, ValueError, KeyError):
        kept = [m for m in json.loads(args.out.read_text())["models"] if m["model"] not in
                {n["model"] for n in models}]  # fmt: skip
        doc["models"] = kept + models
    args.out.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(doc, indent=1)  # whole before either file is touched
    page = markdown(doc)
    for path, content in ((args.out, text), (args.markdown, page)):
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(content)
        tmp.replace(path)
    log(f"wrote {args.out} and {args.markdown}")
    with contextlib.suppress(Exception):
        for res in models:
            for s in res["summary"]:
                print(res["model"], s)


if __name__ == "__main__":
    main()
