"""One Triton model's configuration: :class:`TritonModel` (everything one config.pbtxt says) and
:func:`render_config` (its protobuf text), plus the dtype names Triton uses. The repository writer
is :mod:`vggdeploy.serve.triton`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vggdeploy.spec import ModelSpec

# Triton starts every instance at load; beyond this a typo (1000000) is far likelier than intent.
MAX_INSTANCES = 1024
# The largest value each numeric TritonModel field may take: its ModelConfig proto field's range
# (max_batch_size, preferred_batch_size and count are int32; max_queue_delay_microseconds is
# uint64), narrowed where a larger value is a typo. tests/cli/test_number_regressions.py checks
# these against Triton's own model_config.proto.
INT32_MAX = 2**31 - 1
FIELD_MAX = {
    "max_batch": INT32_MAX,
    "preferred_batch_sizes": INT32_MAX,
    "max_queue_delay_us": INT32_MAX,  # uint64 in the proto; 35 minutes of queueing is a typo
    "instances": MAX_INSTANCES,
}

INSTANCE_KINDS = {"auto": "KIND_AUTO", "cpu": "KIND_CPU", "gpu": "KIND_GPU"}
BACKEND_NAMES = ("openvino",)  # Triton serves these through a backend, not a platform
# The model-config parameters Triton's OpenVINO backend reads, and the values it accepts (it
# upper/lower-cases them first). Source: triton-inference-server/openvino_backend src/openvino.cc,
# ModelState::ParseParameters / ParseParameterHelper (commit db19304, 2026-08-21). Any other key is
# ignored by the backend without a word, so a key outside this table would be a setting that
# silently does nothing: render_config refuses it. Note that there is no key for f32 inference
# precision (HINT_BF16 accepts only YES).
OPENVINO_PARAMETERS: dict[str, tuple[str, ...] | None] = {  # None: a non-negative integer
    "PERFORMANCE_HINT": ("LATENCY", "THROUGHPUT", "CUMULATIVE_THROUGHPUT"),
    "INFERENCE_NUM_THREADS": None,
    "COMPILATION_NUM_THREADS": None,
    "HINT_BF16": ("YES",),
    "NUM_STREAMS": ("AUTO", "NUMA"),  # or a non-negative integer
}
# ONNX TensorProto element type -> Triton data type
ONNX_TO_TRITON = {1: "TYPE_FP32", 10: "TYPE_FP16", 16: "TYPE_BF16", 11: "TYPE_FP64"}
# an engine's I/O dtype (as its sidecar names it) -> Triton data type
ENGINE_TO_TRITON = {"float32": "TYPE_FP32", "float16": "TYPE_FP16", "bfloat16": "TYPE_BF16"}


@dataclass(frozen=True)
class TritonModel:
    """Everything one config.pbtxt says, plus the file that goes into the version folder."""

    name: str
    platform: str  # onnxruntime_onnx | tensorrt_plan | openvino (a backend, not a platform)
    artifact: Path
    filename: str  # model.onnx | model.plan | model.xml
    spec: ModelSpec
    max_batch: int
    input_dtype: str = "TYPE_FP32"
    output_dtype: str = "TYPE_FP32"
    preferred_batch_sizes: tuple[int, ...] = ()
    max_queue_delay_us: int = 100
    instances: int = 1
    instance_kind: str = "KIND_AUTO"
    companions: tuple[tuple[Path, str], ...] = ()  # more files for the version folder (IR .bin)
    parameters: tuple[tuple[str, str], ...] = ()  # backend parameters (OpenVINO properties)
    notes: tuple[str, ...] = ()  # written as comments at the top of config.pbtxt


def render_config(m: TritonModel) -> str:
    """config.pbtxt text (protobuf text format of Triton's ModelConfig)."""
    s = m.spec
    for key, value in m.parameters:
        check_parameter(m.platform, key, value)
    notes = [f"# {line}" for note in m.notes for line in note.splitlines()]
    lines = [
        *notes,
        f'name: "{m.name}"',
        # Triton's OpenVINO support is a backend ("backend:"), the others are platforms
        f'backend: "{m.platform}"' if m.platform in BACKEND_NAMES else f'platform: "{m.platform}"',
        f"max_batch_size: {m.max_batch}",
        f'default_model_filename: "{m.filename}"',
        "input [",
        "  {",
        f'    name: "{s.input.name}"',
        f"    data_type: {m.input_dtype}",
        f"    dims: [ {s.input.channels}, {s.input.height}, {s.input.width} ]",
        "  }",
        "]",
        "output [",
        "  {",
        f'    name: "{s.output_name}"',
        f"    data_type: {m.output_dtype}",
        f"    dims: [ {s.num_classes} ]",
        '    label_filename: "labels.txt"',
        "  }",
        "]",
        "dynamic_batching {",
    ]
    if m.preferred_batch_sizes:
        lines.append(f"  preferred_batch_size: [ {', '.join(map(str, m.preferred_batch_sizes))} ]")
    lines += [
        f"  max_queue_delay_microseconds: {m.max_queue_delay_us}",
        "}",
        "instance_group [",
        "  {",
        f"    count: {m.instances}",
        f"    kind: {m.instance_kind}",
        "  }",
        "]",
        "version_policy: { latest: { num_versions: 1 } }",
    ]
    for key, value in m.parameters:
        lines.append(f'parameters: {{ key: "{key}" value: {{ string_value: "{value}" }} }}')
    return "\n".join([*lines, ""])


def check_parameter(platform: str, key: str, value: str) -> None:
    """Refuse a backend parameter the backend would ignore or reject (a vggdeploy defect, not a
    user error: the parameters come from vggdeploy's own tables)."""
    if platform != "openvino" or key not in OPENVINO_PARAMETERS:
        raise ValueError(f"Triton's {platform} backend does not read the parameter {key!r}")
    allowed = OPENVINO_PARAMETERS[key]
    ok = value.upper() in allowed if allowed is not None else False
    if allowed is None or key == "NUM_STREAMS":
        ok = ok or value.isdigit()
    if not ok:
        raise ValueError(f"Triton's openvino backend rejects {key}={value!r}")
