"""OpenVINO backend: run an OpenVINO IR (``NAME.xml`` + ``NAME.bin``) on the CPU.

The IR is written by ``vggdeploy build-engine RUN --backend openvino``
(``vggdeploy/export/openvino.py``) from ``model.onnx``. Its ModelSpec and build facts (precision,
what it was made from, the inference precision it was judged with) live in the IR's own runtime
info, section ``vggdeploy`` (``<rt_info><vggdeploy><modelspec value=.../><build value=.../>``),
so an IR needs no sidecar and ``inspect`` / bench read them from the XML without OpenVINO.

What the artifact records decides how it is compiled: OpenVINO's CPU plugin runs BF16 by default
wherever the CPU has it, so an FP32 IR is compiled with ``inference_precision=f32`` explicitly
(otherwise an "fp32" row would silently be BF16), a BF16 IR with ``bf16`` (refused on a CPU that
would emulate it, see :mod:`vggdeploy.backends.cpu_features`), an INT8 IR with the precision its
non-quantized layers were judged in at build time.
"""

from __future__ import annotations

import json
import os
import statistics
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np

from vggdeploy._io import sha256_file
from vggdeploy._optional import require
from vggdeploy.backends.base import Runner, parse_device
from vggdeploy.backends.cpu_features import cpu_features
from vggdeploy.backends.registry import BACKENDS
from vggdeploy.errors import ArtifactError, BackendUnavailableError, UsageError
from vggdeploy.spec import ModelSpec, check_graph_shapes

RT_SECTION = "vggdeploy"  # our section of the IR's runtime info
RT_SPEC = (RT_SECTION, "modelspec")  # the ModelSpec JSON
RT_BUILD = (RT_SECTION, "build")  # the build facts JSON (IR_FORMAT)
IR_FORMAT = "vggdeploy.openvino-ir"
IR_VERSION = 1
#: the artifact's precision -> OpenVINO's inference precision name for it (INT8 records its own)
INFERENCE_PRECISION = {"fp32": "f32", "bf16": "bf16"}
#: performance hints: OpenVINO's own names (``openvino.properties.hint.PerformanceMode``)
HINTS = ("latency", "throughput")
# hint=auto: the first call of a batch-size bucket (powers of two) times both hints on that batch
# and keeps the faster. Neither hint wins everywhere: on a 2-core AMD Zen 3, LATENCY was 20-35 %
# faster for vgg-mini28 at batch 32/64 and THROUGHPUT 11 % faster for d2l-vgg11 at batch 64
# (benchmarks/CPU_PEERS.md), so a fixed batch threshold picked the slower hint for one of them.
# Each hint is timed in blocks of consecutive calls, as it then runs, in the order A B B A (drift
# hits both alike); where a call is cheap (under PROBE_SETTLE_S) each block starts with an untimed
# call, because the first call after the other hint's pool ran is slow: timing single calls
# alternately made LATENCY look 30 % slower than it runs (vgg-mini28 INT8 b32 on an AMX Xeon:
# 0.52-0.62 ms probed, 0.40 ms steady, against THROUGHPUT's 0.64 ms) and picked THROUGHPUT. A block
# ends after PROBE_CALLS timed calls or its share of PROBE_S, with at least one timed call; a hint
# counts with its better block (the median of all its calls still chose THROUGHPUT for a BF16 IR
# at b32 when the probe ran right after other models, 9 % slower than LATENCY there).
PROBE_CALLS = 5
PROBE_S = 1.0
PROBE_SETTLE_S = 0.05
_REBUILD = "vggdeploy build-engine RUN --backend openvino"


def bin_path(xml: Path) -> Path:
    """The weights file OpenVINO reads beside ``NAME.xml`` (NAME.bin)."""
    return xml.with_suffix(BACKENDS["openvino"].weights_suffix or "")


def read_ir_info(path: str | os.PathLike[str]) -> tuple[ModelSpec, dict[str, Any]]:
    """(ModelSpec, build facts) from the IR's XML runtime info, without loading OpenVINO;
    ArtifactError for a missing, unreadable or foreign file."""
    p = Path(path)
    if not p.is_file():
        raise ArtifactError(f"OpenVINO IR not found: '{p}'", hint=f"build it with `{_REBUILD}`")
    try:
        root = ET.parse(p).getroot()
    except (ET.ParseError, OSError) as exc:
        raise ArtifactError(
            f"'{p}' is not a readable OpenVINO IR ({exc})",
            hint=f"the file is corrupt or truncated; rebuild it with `{_REBUILD}`",
        ) from exc
    section = root.find(f"rt_info/{RT_SECTION}")
    values = {} if section is None else {e.tag: e.get("value") for e in section}
    if root.tag != "net" or RT_SPEC[1] not in values:
        raise ArtifactError(
            f"'{p}' carries no vggdeploy ModelSpec (not an IR written by `{_REBUILD}`)",
            hint=f"build one with `{_REBUILD}`",
        )
    spec = ModelSpec.from_json(str(values[RT_SPEC[1]]), source=f"{p} runtime info")
    try:
        facts = json.loads(values.get(RT_BUILD[1]) or "{}")
    except json.JSONDecodeError as exc:
        raise ArtifactError(f"'{p}': corrupt '{RT_SECTION}.{RT_BUILD[1]}' runtime info") from exc
    if not isinstance(facts, dict) or facts.get("format") != IR_FORMAT:
        raise ArtifactError(f"'{p}': its build facts are not a {IR_FORMAT} record")
    return spec, facts


def ir_precision(path: str | os.PathLike[str]) -> str | None:
    """The precision the IR records (registry ``precision_of`` hook); None when unreadable."""
    try:
        return str(read_ir_info(path)[1].get("precision"))
    except ArtifactError:
        return None


def ir_provenance(path: str | os.PathLike[str], run: Path) -> Any:
    """What the IR records about its origin (registry ``provenance`` hook): the checkpoint's
    weights sha256 and the ONNX file it was converted from."""
    import shlex

    from vggdeploy.artifacts.provenance import Recorded

    p = Path(path)
    _, facts = read_ir_info(p)
    cmd = ["vggdeploy", "build-engine", str(run), "--backend", "openvino"]
    if facts.get("precision") in ("bf16", "int8"):
        cmd.append(f"--{facts['precision']}")
    if facts.get("int8_source") == "qdq":
        cmd += ["--int8-source", "qdq"]
    return Recorded(
        checkpoint_sha256=facts.get("checkpoint_sha256"),
        source=(str(facts["source_onnx"]), facts.get("source_onnx_sha256"))
        if facts.get("source_onnx")
        else None,
        action=f"rebuild the IR: {shlex.join([*cmd, '-o', str(p)])}",
    )


def describe_ir(path: str | os.PathLike[str]) -> dict[str, Any]:
    """What ``vggdeploy inspect`` shows for an IR: files, ModelSpec, build facts."""
    p = Path(path)
    spec, facts = read_ir_info(p)
    weights = bin_path(p)
    return {
        "ir": str(p),
        "weights": str(weights),
        "size": p.stat().st_size + (weights.stat().st_size if weights.is_file() else 0),
        "weights_sha256": sha256_file(weights) if weights.is_file() else None,
        "build": facts,
        "model_spec": json.loads(spec.to_json()),
    }


def ir_lines(info: dict[str, Any]) -> list[str] | None:
    """`vggdeploy inspect` text for :func:`describe_ir`'s description."""
    if not {"model_spec", "build", "ir"} <= set(info):
        return None
    spec, build = info["model_spec"], info["build"]
    judged = (build.get("verification") or {}).get("test_set") or {}
    lines = [
        f"OpenVINO IR          {info['ir']} + {Path(info['weights']).name}  "
        f"({info['size'] / 1e6:.2f} MB)",
        f"weights sha256       {info['weights_sha256']}",
        f"model                {spec['preset']} ({spec['num_classes']} classes)",
        f"precision            {build.get('precision')} "
        f"(inference precision {build.get('inference_precision')})",
        f"made from            {build.get('source_onnx')} "
        f"({build.get('int8_source') or 'converted'})",
        f"built by             openvino {build.get('openvino')}, "
        f"vggdeploy {build.get('vggdeploy')}",
    ]
    if judged:
        lines.append(
            f"test set             {100 * judged['out_accuracy']:.2f}% "
            f"(drop {judged['accuracy_drop_pt']:+.2f} pt vs FP32, n={judged['n']})"
        )
    return lines


def import_openvino(purpose: str = "the OpenVINO backend") -> Any:
    return require("openvino", extra="openvino", purpose=purpose)


def compile_config(precision: str, facts: dict[str, Any], hint: str, threads: int | None) -> dict:
    """OpenVINO CPU properties (string keys, as ``Core.compile_model`` takes them) for an IR of
    ``precision`` with its build ``facts``; what a runner used goes into bench results."""
    inference = facts.get("inference_precision") or INFERENCE_PRECISION.get(precision, "f32")
    config = {"PERFORMANCE_HINT": hint.upper(), "INFERENCE_PRECISION_HINT": inference}
    if threads:
        config["INFERENCE_NUM_THREADS"] = int(threads)
    return config


class OpenVINORunner(Runner):
    """Runs a vggdeploy OpenVINO IR on the CPU (one compiled model, an infer request per thread)."""

    kind = "openvino"
    OPTIONS = {
        "device": "cpu (OpenVINO's CPU plugin; the only device this backend runs on)",
        "threads": "inference threads (INFERENCE_NUM_THREADS; default OpenVINO's: all cores)",
        "hint": "latency | throughput | auto (default: latency at batch 1; from batch 2 the "
        "faster of the two, timed on the first call of each batch-size bucket (powers of two))",
    }

    def __init__(self, source: Any, **options: Any) -> None:
        super().__init__(source, **options)
        if parse_device(options.get("device")).type != "cpu":
            raise UsageError(
                f"the openvino runner runs on the CPU only, got device {options.get('device')!r}",
                hint="use device=cpu (or the onnxruntime / tensorrt backends on a GPU)",
            )
        hint = str(options.get("hint") or "auto").lower()
        if hint not in (*HINTS, "auto"):
            raise UsageError(
                f"unknown openvino hint {hint!r}", hint="use latency, throughput or auto"
            )
        threads = options.get("threads")
        if threads is not None and (isinstance(threads, bool) or int(threads) < 1):
            raise UsageError(f"threads must be >= 1, got {threads!r}")
        self.hint = hint
        self._compiled: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._local = threading.local()
        self._bounds: tuple[int, int | None] = (1, None)
        self._chosen: dict[int, str] = {}  # hint=auto: batch-size bucket -> the faster hint
        self._probes: dict[int, dict[str, float]] = {}  # bucket -> median ms per hint

    def _activate(self) -> ModelSpec:
        path = self.source_path
        spec, facts = read_ir_info(path)
        precision = str(facts.get("precision"))
        if precision == "bf16" or facts.get("inference_precision") == "bf16":
            refusal = cpu_features().bf16_refusal()
            if refusal:
                raise BackendUnavailableError(
                    f"'{path}' runs in BF16, but {refusal}",
                    hint=f"build an fp32 or int8 IR for this CPU (`{_REBUILD} [--int8]`)",
                )
        if not bin_path(path).is_file():
            raise ArtifactError(
                f"'{path}' has no weights file '{bin_path(path).name}' beside it",
                hint="an IR is two files; copy NAME.xml and NAME.bin together",
            )
        ov = import_openvino()
        self._ov = ov
        self._core = ov.Core()
        try:
            self._model = self._core.read_model(str(path))
        except Exception as exc:  # RuntimeError with OpenVINO's reason
            raise ArtifactError(
                f"OpenVINO cannot read '{path}' ({exc})".splitlines()[0],
                hint=f"the IR is corrupt or from a newer OpenVINO; rebuild it with `{_REBUILD}`",
            ) from exc
        params, results = self._model.inputs, self._model.outputs
        if len(params) != 1 or spec.input.name not in params[0].get_names():
            raise ArtifactError(f"'{path}' inputs are not the one input '{spec.input.name}'")
        if len(results) != 1 or spec.output_name not in results[0].get_names():
            raise ArtifactError(f"'{path}' has no single output '{spec.output_name}'")
        in_shape = [d.get_length() if d.is_static else None for d in params[0].partial_shape]
        out_shape = [d.get_length() if d.is_static else None for d in results[0].partial_shape]
        check_graph_shapes(spec, path, in_shape, out_shape)
        self._bounds = (in_shape[0], in_shape[0]) if in_shape[0] else (1, None)
        self._facts, self._precision = facts, precision
        self._compile("latency" if self.hint == "auto" else self.hint)  # fail fast at activation
        return spec

    def config(self, hint: str | None = None) -> dict[str, Any]:
        """The OpenVINO properties this runner compiles with (bench records them per row)."""
        threads = self.options.get("threads")
        return compile_config(self._precision, self._facts, hint or self.hint, threads)

    def settings(self, batch: int) -> dict[str, Any]:
        """What a call of ``batch`` images runs with (bench's ``runner_settings``): the hint, the
        compile properties and the infer requests the batch is split across."""
        hint = self.hint_for(batch)
        if hint is None:  # auto, not yet timed at this batch size
            return {"hint": "auto (not yet measured at this batch size)", **self.config("latency")}
        requests = len(self._requests(hint))
        split = requests > 1 and batch >= requests and self._bounds[1] is None
        out = {"hint": hint, "requests": requests if split else 1, **self.config(hint)}
        probe = self._probes.get(_bucket(batch)) if self.hint == "auto" else None
        if probe:
            out["hint_probe_ms"] = dict(probe)  # what auto's choice was made on
        return out

    def hint_for(self, batch: int) -> str | None:
        """The hint a call of ``batch`` images runs with; None: auto, not yet timed there."""
        if self.hint != "auto":
            return self.hint
        if batch < 2 or self._bounds[1] is not None:  # nothing to split across streams
            return "latency"
        return self._chosen.get(_bucket(batch))

    def _compile(self, hint: str) -> Any:
        with self._lock:
            if hint not in self._compiled:
                try:
                    self._compiled[hint] = self._core.compile_model(
                        self._model, "CPU", self.config(hint)
                    )
                except Exception as exc:
                    reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                    raise BackendUnavailableError(
                        f"OpenVINO cannot compile '{self.source}' for this CPU ({reason})",
                        hint=f"rebuild the IR with `{_REBUILD}` on this machine",
                    ) from exc
            return self._compiled[hint]

    def _deactivate(self) -> None:
        self._compiled = {}
        self._chosen, self._probes = {}, {}
        self._local = threading.local()
        self._model = self._core = None

    def batch_bounds(self) -> tuple[int, int | None]:
        return self._bounds

    def _requests(self, hint: str) -> list[Any]:
        """This thread's infer requests for ``hint`` (compiled models are shared, requests are
        not thread-safe: one set per thread). Throughput mode gets one per stream."""
        cache = self._local.__dict__.setdefault("requests", {})
        if hint not in cache:
            compiled = self._compile(hint)
            n = 1
            if hint == "throughput":
                n = max(1, int(compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")))
            cache[hint] = [compiled.create_infer_request() for _ in range(n)]
        return cache[hint]

    def _infer(self, batch: np.ndarray) -> np.ndarray:
        hint = self.hint_for(len(batch))
        return self._probe(batch) if hint is None else self._run_hint(hint, batch)

    def _probe(self, batch: np.ndarray) -> np.ndarray:
        """hint=auto's first call at this batch-size bucket: time both hints on ``batch`` and
        keep the faster (the logits of every hint agree: tested); returns the last logits."""
        blocks: dict[str, list[float]] = {h: [] for h in HINTS}  # each block's median
        first: dict[str, float] = {}
        out = None
        for hint in HINTS:  # warm-up: compile, first-call weight packing
            t0 = time.perf_counter()
            out = self._run_hint(hint, batch)
            first[hint] = time.perf_counter() - t0
        cheap = max(first.values()) < PROBE_SETTLE_S
        order = (*HINTS, *reversed(HINTS)) if cheap else HINTS
        share = PROBE_S / len(order)
        for hint in order:
            if cheap:
                out = self._run_hint(hint, batch)  # settle: this hint's pool is running again
            times, start = [], time.perf_counter()
            for _ in range(PROBE_CALLS):
                t0 = time.perf_counter()
                out = self._run_hint(hint, batch)
                times.append(time.perf_counter() - t0)
                if time.perf_counter() - start >= share:
                    break
            blocks[hint].append(statistics.median(times))
        # the better block of each hint: a burst of other work (another model's threads still
        # spinning when the probe starts) slows one block, not the hint
        medians = {h: 1e3 * min(b) for h, b in blocks.items()}
        bucket = _bucket(len(batch))
        with self._lock:
            self._probes.setdefault(bucket, medians)
            self._chosen.setdefault(bucket, min(HINTS, key=lambda h: medians[h]))
        return out

    def _run_hint(self, hint: str, batch: np.ndarray) -> np.ndarray:
        requests = self._requests(hint)
        if len(requests) == 1 or len(batch) < len(requests) or self._bounds[1] is not None:
            return self._run(requests[0], batch)
        # throughput: the batch split across the streams' requests, run at once
        parts = np.array_split(batch, len(requests))
        for req, part in zip(requests, parts, strict=True):
            req.start_async({0: part}, share_inputs=True)
        outs = []
        for req in requests:
            req.wait()
            outs.append(np.array(req.get_output_tensor(0).data, dtype=np.float32))
        return np.concatenate(outs)

    @staticmethod
    def _run(request: Any, batch: np.ndarray) -> np.ndarray:
        request.infer({0: batch}, share_inputs=True)
        return np.array(request.get_output_tensor(0).data, dtype=np.float32)  # a copy


def _bucket(batch: int) -> int:
    """The power of two at or above ``batch``: auto's choice holds for all sizes in a bucket."""
    return 1 << max(0, int(batch) - 1).bit_length()


__all__ = [
    "IR_FORMAT",
    "OpenVINORunner",
    "compile_config",
    "describe_ir",
    "ir_lines",
    "ir_precision",
    "ir_provenance",
    "read_ir_info",
]
