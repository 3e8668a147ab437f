"""Write a Triton Inference Server model repository from vggdeploy artifacts.

``build_triton_repo(RUN_OR_MODEL, REPO)`` writes, per model::

    REPO/<name>/config.pbtxt          platform, max_batch_size, input/output, batching, instances
    REPO/<name>/labels.txt            class names (label_filename of the output)
    REPO/<name>/1/model.onnx          (onnxruntime_onnx)   or   1/model.plan (tensorrt_plan)
    REPO/<name>/.vggdeploy-model.json marker: ModelSpec fingerprint, sha256 of the model file
                                      and of every file vggdeploy wrote there ("files")

Each model folder is assembled in a temporary folder beside it and renamed into place, so Triton
(or a reader) never sees a half-written model. A folder that already holds a *different* model
(another fingerprint or model file, or a model vggdeploy did not write) is an error unless
``force=True``. Re-writing the same model keeps every file vggdeploy did not write there (a
version folder, notes: carried into the new folder) and refuses to replace a file it wrote that
was edited since (:mod:`.triton_folder`); ``force=True`` replaces the whole folder. The TensorRT
model's ``max_batch_size`` comes from the engine's profile in its sidecar; dims exclude the
batch dimension because ``max_batch_size > 0``.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from vggdeploy import _args
from vggdeploy._io import (
    Log,
    ensure_dir,
    ensure_writable_dir,
    publish_dirs,
    reporter,
    sha256_file,
    write_json,
    write_text,
)
from vggdeploy.backends.freshness import check_fresh
from vggdeploy.backends.registry import backend_for_path
from vggdeploy.errors import ArtifactError, OutputError, UsageError
from vggdeploy.serve.triton_config import (
    ENGINE_TO_TRITON,
    FIELD_MAX,
    INSTANCE_KINDS,
    ONNX_TO_TRITON,
    TritonModel,
    render_config,
)
from vggdeploy.serve.triton_folder import MARKER, MARKER_FORMAT, carry_user_files, check_same_folder
from vggdeploy.spec import ModelSpec, check_same_model

_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


def build_triton_repo(
    source: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    name: str | None = None,
    onnx: str | os.PathLike[str] | None = None,
    engine: str | os.PathLike[str] | None = None,
    max_batch: int | None = None,
    instances: int = 1,
    kind: str = "auto",
    preferred_batch_sizes: tuple[int, ...] | None = None,
    max_queue_delay_us: int = 100,
    force: bool = False,
    log: Log | None = None,
) -> list[Path]:
    """Write the repository; returns the model folders written (ONNX first, then TensorRT).
    What a config cannot promise (an OpenVINO IR's precision on BF16 CPUs) is said through
    ``log`` and written as comments at the top of its config.pbtxt."""
    _args.path("source", source)
    _args.path("out", out)
    for label, value in (("--name", name), ("--onnx", onnx), ("--engine", engine)):
        _args.optional_path(label, value)
    _args.optional_integer("--max-batch", max_batch, max=FIELD_MAX["max_batch"])
    _args.integer("--instances", instances, max=FIELD_MAX["instances"])
    _args.integer("--max-queue-delay-us", max_queue_delay_us, min=0,
                  max=FIELD_MAX["max_queue_delay_us"])  # fmt: skip
    if preferred_batch_sizes is not None:
        if isinstance(preferred_batch_sizes, (str, bytes)) or not hasattr(
            preferred_batch_sizes, "__iter__"
        ):
            raise UsageError(
                f"--preferred-batch-sizes must be a list of integers, got {preferred_batch_sizes!r}"
            )
        preferred_batch_sizes = tuple(
            _args.integer(
                "--preferred-batch-sizes", b, min=1, max=FIELD_MAX["preferred_batch_sizes"]
            )
            for b in preferred_batch_sizes
        )
    _args.text("--kind", kind)
    _args.boolean("--force", force)
    if instances < 1:
        raise UsageError(f"--instances must be >= 1, got {instances}")
    if kind not in INSTANCE_KINDS:
        raise UsageError(f"--kind must be one of {', '.join(INSTANCE_KINDS)}, got '{kind}'")
    if max_batch is not None and max_batch < 1:
        raise UsageError(f"--max-batch must be >= 1, got {max_batch}")
    ensure_writable_dir(out, "model repository")  # before hashing and copying model files
    found = backend_for_path(source)
    if found is not None and found[0].name == "openvino":
        if onnx is not None or engine is not None:
            raise UsageError("an OpenVINO IR is served alone: drop --onnx/--engine")
        m = _openvino_model(Path(source), name, max_batch, preferred_batch_sizes, kind)
        check_fresh(m.artifact)
        for note in m.notes:
            reporter(log)(f"warning: {note}")
        return write_models(ensure_dir(out), [replace(m, instances=instances,
                            max_queue_delay_us=max_queue_delay_us)], force=force)  # fmt: skip
    onnx_path, engine_path, run_spec = _resolve_sources(Path(source), onnx, engine)
    for artifact in (a for a in (onnx_path, engine_path) if a is not None):
        check_fresh(artifact, run=source if Path(source).is_dir() else None)  # never ship stale
    base = name or _default_name(Path(source))
    if not _NAME_RE.match(base):
        raise UsageError(
            f"'{base}' is not a valid Triton model name",
            hint="use letters, digits, '_', '-' and '.' (pass --name)",
        )
    models: list[TritonModel] = []
    common = dict(instances=instances, max_queue_delay_us=max_queue_delay_us)
    if onnx_path is not None:
        spec, in_dtype, out_dtype, fixed_batch, verified = _onnx_facts(onnx_path)
        if run_spec is not None:
            check_same_model(run_spec, spec, a_name=str(source), b_name=str(onnx_path))
        mb = max_batch or verified  # by default what the export verified
        if fixed_batch is not None:
            raise ArtifactError(
                f"'{onnx_path}' has a fixed batch size {fixed_batch}; Triton's dynamic batching "
                "needs a dynamic batch dimension",
                hint="export it again with `vggdeploy export RUN` (dynamic batch)",
            )
        models.append(
            TritonModel(
                name=base,
                platform="onnxruntime_onnx",
                artifact=onnx_path,
                filename="model.onnx",
                spec=spec,
                max_batch=mb,
                input_dtype=in_dtype,
                output_dtype=out_dtype,
                preferred_batch_sizes=_preferred(preferred_batch_sizes, mb),
                instance_kind=INSTANCE_KINDS[kind],
                **common,
            )
        )
    if engine_path is not None:
        from vggdeploy.backends.tensorrt import engine_io

        facts = engine_io(engine_path)  # verified: a replaced or truncated plan is refused here
        for other, label in ((run_spec, str(source)), (models[0].spec if models else None, "")):
            if other is not None:
                check_same_model(
                    other, facts.spec, a_name=label or str(onnx_path), b_name=str(engine_path)
                )
        if kind == "cpu":
            raise UsageError(
                "--kind cpu cannot serve a TensorRT plan (TensorRT runs on NVIDIA GPUs only)",
                hint="use --kind gpu or auto, or serve only the ONNX model",
            )
        mb = facts.max_batch
        if max_batch is not None:
            if max_batch > facts.max_batch:
                raise UsageError(
                    f"--max-batch {max_batch} exceeds the engine profile's maximum "
                    f"{facts.max_batch} ('{engine_path}')",
                    hint="rebuild the engine with a larger --max-batch",
                )
            mb = max_batch
        if facts.min_batch > 1:
            raise ArtifactError(
                f"'{engine_path}' has a minimum batch of {facts.min_batch}; Triton sends "
                "batches from 1 up",
                hint="rebuild the engine with --min-batch 1",
            )
        models.append(
            TritonModel(
                name=f"{base}_trt" if models else base,
                platform="tensorrt_plan",
                artifact=engine_path,
                filename="model.plan",
                spec=facts.spec,
                max_batch=mb,
                input_dtype=_engine_dtype(facts.dtypes, facts.spec.input.name, engine_path),
                output_dtype=_engine_dtype(facts.dtypes, facts.spec.output_name, engine_path),
                preferred_batch_sizes=_preferred(preferred_batch_sizes, mb),
                instance_kind="KIND_GPU",
                **common,
            )
        )
    repo = ensure_dir(out)
    return write_models(repo, models, force=force)


def write_models(repo: Path, models: list[TritonModel], *, force: bool = False) -> list[Path]:
    """All models or none: every model folder is assembled first (where a full disk fails),
    then they are swapped into place together; on any failure the repository is unchanged.
    An OSError becomes OutputError (exit 8) naming the repository."""
    stages: list[tuple[Path, Path]] = []
    try:
        for m in models:
            stages.append((_stage_model(repo, m, force=force), repo / m.name))
        publish_dirs(stages)
    except BaseException as exc:
        for stage, _ in stages:
            shutil.rmtree(stage, ignore_errors=True)
        if isinstance(exc, OSError) and not isinstance(exc, OutputError):
            raise OutputError(
                f"cannot write the Triton repository '{repo}': {exc.strerror or exc}",
                hint="free some space or choose another -o; the repository was left unchanged",
            ) from exc
        raise
    return [target for _, target in stages]


def _stage_model(repo: Path, m: TritonModel, *, force: bool = False) -> Path:
    """REPO/.<name>.XXXX.tmp holding the complete model folder (removed again on failure).

    Without ``force`` an existing model folder of the same model keeps everything vggdeploy did
    not write there (a second version folder, notes): those files are carried into the new
    folder unchanged. A file vggdeploy wrote and the user edited since is refused; ``force``
    replaces the whole folder."""
    target = repo / m.name
    artifact_sha = sha256_file(m.artifact)
    marker = {
        "format": MARKER_FORMAT,
        "version": 2,
        "platform": m.platform,
        "fingerprint": m.spec.fingerprint(),
        "artifact_sha256": artifact_sha,
        "source": str(m.artifact),
        "preset": m.spec.preset,
    }
    old = None
    if target.exists() and not force:
        old = check_same_folder(target, marker)
    stage = Path(tempfile.mkdtemp(prefix=f".{m.name}.", suffix=".tmp", dir=repo))
    try:
        version = stage / "1"
        version.mkdir()
        shutil.copyfile(m.artifact, version / m.filename)
        if m.platform == "onnxruntime_onnx":  # its external data too (contained: load_onnx)
            from vggdeploy.artifacts.onnx_meta import external_data_files

            for rel in external_data_files(m.artifact):
                (version / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(m.artifact.parent / rel, version / rel)
        for companion, filename in m.companions:  # an OpenVINO IR's weights (model.bin)
            shutil.copyfile(companion, version / filename)
        labels = m.spec.class_names or tuple(str(i) for i in range(m.spec.num_classes))
        write_text(stage / "labels.txt", "\n".join(labels) + "\n")
        write_text(stage / "config.pbtxt", render_config(m))
        for p in [stage, version, *stage.rglob("*")]:
            os.chmod(p, 0o755 if p.is_dir() else 0o644)
        marker["files"] = {  # what vggdeploy wrote here, so a re-run can tell the user's files
            p.relative_to(stage).as_posix(): sha256_file(p)
            for p in sorted(stage.rglob("*"))
            if p.is_file()
        }
        if old is not None:
            carry_user_files(target, stage, old)
        write_json(stage / MARKER, marker)
        os.chmod(stage / MARKER, 0o644)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    return stage


def _resolve_sources(
    source: Path, onnx: Any, engine: Any
) -> tuple[Path | None, Path | None, ModelSpec | None]:
    from vggdeploy.artifacts.checkpoint import read_spec

    onnx_path = Path(onnx) if onnx is not None else None
    engine_path = Path(engine) if engine is not None else None
    run_spec = None
    found = backend_for_path(source)
    kind = found[0].name if found is not None else None
    if source.is_dir():
        run_spec = read_spec(source)
        if onnx_path is None and engine_path is None:
            onnx_path = source / "model.onnx"
            if not onnx_path.is_file():
                raise ArtifactError(
                    f"'{source}' has no model.onnx to serve",
                    hint=f"export it first: {shlex.join(['vggdeploy', 'export', str(source)])}  "
                    "(or pass --onnx/--engine)",
                )
    elif kind == "onnxruntime":
        if onnx_path is not None and onnx_path != source:
            raise UsageError("give the ONNX model either as RUN_OR_MODEL or with --onnx, not both")
        onnx_path = source
    elif kind == "openvino":
        return None, None, None  # an IR: build_triton_repo serves it through _openvino_model
    elif kind == "tensorrt" and found is not None:
        if engine_path is not None and engine_path != found[1]:
            raise UsageError("give the engine either as RUN_OR_MODEL or with --engine, not both")
        engine_path = found[1]
    elif not source.exists():
        raise ArtifactError(f"not found: '{source}'", hint="pass a run folder, .onnx or .engine")
    else:
        raise UsageError(
            f"cannot build a Triton model from '{source}'",
            hint="pass a run folder (with model.onnx), a .onnx model, a TensorRT .engine or an "
            "OpenVINO IR (.xml)",
        )
    for p in (onnx_path, engine_path):
        if p is not None and not p.is_file():
            raise ArtifactError(f"model file not found: '{p}'")
    return onnx_path, engine_path, run_spec


def _onnx_facts(path: Path) -> tuple[ModelSpec, str, str, int | None, int]:
    """(ModelSpec, input dtype, output dtype, fixed batch or None, the largest batch it was
    verified at) from the ONNX file."""
    from vggdeploy.artifacts.onnx_meta import load_onnx, spec_from_model, verified_max_batch

    model = load_onnx(path, load_external_data=False)
    spec = spec_from_model(model, source=str(path))
    inputs = {i.name: i for i in model.graph.input}
    outputs = {o.name: o for o in model.graph.output}
    if spec.input.name not in inputs or spec.output_name not in outputs:
        raise ArtifactError(
            f"'{path}' has inputs {sorted(inputs)} and outputs {sorted(outputs)}; its ModelSpec "
            f"names '{spec.input.name}' and '{spec.output_name}'",
            hint="export it again with `vggdeploy export RUN`",
        )

    def dtype(value_info: Any) -> str:
        elem = value_info.type.tensor_type.elem_type
        if elem not in ONNX_TO_TRITON:
            raise ArtifactError(f"'{path}': tensor '{value_info.name}' has ONNX type {elem}")
        return ONNX_TO_TRITON[elem]

    first = inputs[spec.input.name].type.tensor_type.shape.dim[0]
    fixed = first.dim_value if first.HasField("dim_value") else None
    types = dtype(inputs[spec.input.name]), dtype(outputs[spec.output_name])
    return spec, *types, fixed, verified_max_batch(model)


def _openvino_model(
    ir: Path, name: str | None, max_batch: int | None, preferred: Any, kind: str
) -> TritonModel:
    """Triton's OpenVINO backend model for a vggdeploy IR: model.xml + model.bin, run with the
    inference precision the IR was judged with (OpenVINO would pick BF16 by itself on CPUs that
    have it) and the latency hint (Triton's dynamic batcher forms the batches)."""
    from vggdeploy.backends.openvino import bin_path, compile_config, read_ir_info

    if kind == "gpu":
        raise UsageError("--kind gpu cannot serve an OpenVINO IR here (vggdeploy runs it on CPU)")
    spec, facts = read_ir_info(ir)
    if not bin_path(ir).is_file():
        raise ArtifactError(f"'{ir}' has no weights file '{bin_path(ir).name}' beside it")
    parameters, notes = _openvino_parameters(
        compile_config(str(facts.get("precision")), facts, "latency", None), ir
    )
    from vggdeploy.export.onnx import DEFAULT_VERIFIED_MAX_BATCH

    mb = max_batch or int(facts.get("verified_max_batch") or DEFAULT_VERIFIED_MAX_BATCH)
    if name is None:  # RUN/openvino/model.int8.xml -> RUN_openvino_int8; mini.xml -> mini_openvino
        in_run = ir.parent.name == "openvino"
        name = _default_name(ir.parent.parent if in_run else ir) + "_openvino"
        name += f"_{facts.get('precision')}" if in_run else ""
    return TritonModel(
        name=name,
        platform="openvino",
        artifact=ir,
        filename="model.xml",
        spec=spec,
        max_batch=mb,
        preferred_batch_sizes=_preferred(preferred, mb),
        instance_kind="KIND_CPU",
        companions=((bin_path(ir), "model.bin"),),
        parameters=parameters,
        notes=notes,
    )


def _openvino_parameters(config: dict[str, Any], ir: Path) -> tuple[tuple, tuple[str, ...]]:
    """The runner's compile properties in the keys Triton's OpenVINO backend reads
    (``triton_config.OPENVINO_PARAMETERS``), and what that backend cannot say: it has no key for
    f32 inference precision, so on a CPU with native BF16 OpenVINO runs an f32-judged IR's float
    layers in BF16 (its CPU default there)."""
    params = [("PERFORMANCE_HINT", str(config["PERFORMANCE_HINT"]).upper())]
    if "INFERENCE_NUM_THREADS" in config:
        params.append(("INFERENCE_NUM_THREADS", str(config["INFERENCE_NUM_THREADS"])))
    notes: tuple[str, ...] = ()
    precision = str(config.get("INFERENCE_PRECISION_HINT", "f32"))
    if precision == "bf16":
        params.append(("HINT_BF16", "YES"))
    else:
        notes = (
            f"vggdeploy judged '{ir.name}' with {precision} inference. Triton's OpenVINO backend "
            "has no parameter that keeps f32 (HINT_BF16 takes only YES), and OpenVINO's CPU "
            "plugin runs float layers in BF16 by default on CPUs with native BF16 (AMX, "
            "AVX512_BF16): served there, this model runs a precision vggdeploy did not judge. "
            "There, serve the BF16 IR (judged in BF16) or model.onnx (onnxruntime_onnx) instead.",
        )
    return tuple(sorted(params)), notes


def _engine_dtype(dtypes: dict[str, str], tensor: str, engine: Path) -> str:
    name = dtypes.get(tensor, "float32")
    if name not in ENGINE_TO_TRITON:
        raise ArtifactError(
            f"tensor '{tensor}' of '{engine}' has dtype {name!r}, which Triton's "
            "tensorrt_plan config here does not map",
            hint="build the engine from a model with float32/float16 I/O",
        )
    return ENGINE_TO_TRITON[name]


def _default_name(source: Path) -> str:
    """run folder name; RUN/model.fp16.onnx -> RUN_fp16; engines/mini.fp16.engine -> mini_fp16."""
    if source.is_dir():
        raw = source.resolve().name
    else:
        stem = source.name[: -len(source.suffix)] if source.suffix else source.name
        if stem == "model" or stem.startswith("model."):
            raw = source.resolve().parent.name + stem[len("model") :]
        else:
            raw = stem
    return re.sub(r"[^A-Za-z0-9_-]", "_", raw) or "model"


def _preferred(sizes: tuple[int, ...] | None, max_batch: int) -> tuple[int, ...]:
    if sizes is None:  # half the maximum and the maximum: full batches without long queueing
        return tuple(sorted({max(1, max_batch // 2), max_batch}))
    bad = [s for s in sizes if s < 1 or s > max_batch]
    if bad:
        raise UsageError(
            f"--preferred-batch-sizes {list(sizes)}: {bad} outside 1..max_batch ({max_batch})"
        )
    return tuple(sorted(set(sizes)))


__all__ = ["MARKER", "TritonModel", "build_triton_repo", "render_config"]
