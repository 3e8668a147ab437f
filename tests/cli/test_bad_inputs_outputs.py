"""Bad numbers, sizes, unwritable outputs and self-contradicting artifacts for bench, export,
build-engine and triton-repo (issue 14, sections 4-6). Contract: tests/badinput.py."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from badinput import Case, run_case

from vggdeploy.artifacts.onnx_meta import ONNX_METADATA_KEY

HUGE = "1000000000"  # a batch whose activations alone need hundreds of terabytes


def _bench(ctx: dict, *extra: str, data: str = "fake_data") -> list[str]:
    return [
        "bench",
        str(ctx["tiny_run"]),
        "--backends",
        "torch",
        "--precisions",
        "fp32",
        "--batch-sizes",
        "1",
        "--iters",
        "2",
        "--repeats",
        "1",
        "--warmup",
        "0",
        "--no-accuracy",
        "--data-dir",
        str(ctx[data]),
        *extra,
    ]


def _file_in_the_way(ctx: dict) -> None:
    (Path(ctx["tmp"]) / "f").write_text("a regular file where a folder should be")


def _run_files(ctx: dict) -> list[Path]:
    return [ctx["tiny_run"] / "model.json", ctx["tiny_run"] / "model.safetensors"]


def _onnx(ctx: dict) -> Path:
    from onnx_artifacts import export_fp32

    path = ctx["tiny_run"] / "model.onnx"
    if not path.exists():
        export_fp32(ctx["tiny_run"], path)
    return path


def _edited_onnx(ctx: dict, name: str, edit) -> str:
    """model.onnx with its embedded ModelSpec JSON edited (the graph untouched)."""
    import onnx

    model = onnx.load(str(_onnx(ctx)))
    for prop in model.metadata_props:
        if prop.key == ONNX_METADATA_KEY:
            data = json.loads(prop.value)
            edit(data)
            prop.value = json.dumps(data)  # json writes NaN as a bare token, as a bug would
    path = Path(ctx["tmp"]) / name
    onnx.save(model, str(path))
    return str(path)


def _twelve_classes(d: dict) -> None:
    d["num_classes"] = 12
    d["class_names"] = [f"c{i}" for i in range(12)]


def _input_64(d: dict) -> None:
    d["input"]["height"] = d["input"]["width"] = 64


def _std_nan(d: dict) -> None:
    d["preprocess"]["std"] = [float("nan")]


def _predict(ctx: dict, model: str) -> list[str]:
    image = Path(ctx["tmp"]) / "img.npy"
    np.save(image, np.zeros((1, 28, 28), np.uint8))
    return ["predict", model, str(image)]


CASES = [
    # numbers: finite, positive, bounded, consistent
    Case(
        "bench-duration-nan",
        "bench --duration nan",
        lambda c: _bench(c, "--duration", "nan"),
        2,
        "--duration.*finite",
    ),
    Case(
        "bench-duration-inf",
        "bench --duration inf",
        lambda c: _bench(c, "--duration", "inf"),
        2,
        "--duration.*finite",
    ),
    Case(
        "bench-repeats-over-iters",
        "bench with more rounds than timed calls",
        lambda c: _bench(c, "--iters", "3", "--repeats", "5"),
        2,
        "--repeats 5 exceeds --iters 3",
    ),
    Case(
        "bench-batch-negative",
        "bench --batch-sizes 1,-8",
        lambda c: _bench(c, "--batch-sizes", "1,-8"),
        2,
        "--batch-sizes.*>= 1",
    ),
    Case(
        "bench-batch-absurd",
        "bench --batch-sizes 1000000000 (more memory than the machine has)",
        lambda c: _bench(c, "--batch-sizes", HUGE),
        2,
        f"--batch-sizes {HUGE}.*GiB.*memory.*at most",
    ),
    Case(
        "bench-threads-zero",
        "bench --threads 0",
        lambda c: _bench(c, "--threads", "0"),
        2,
        "--threads.*>= 1",
    ),
    Case(
        "export-atol-nan",
        "export --atol nan",
        lambda c: ["export", str(c["tiny_run"]), "--atol", "nan"],
        2,
        "--atol.*finite",
        protect=_run_files,
    ),
    Case(
        "export-rtol-negative",
        "export --rtol -1",
        lambda c: ["export", str(c["tiny_run"]), "--rtol", "-1"],
        2,
        "--rtol.*>= 0",
        protect=_run_files,
    ),
    Case(
        "export-max-batch-absurd",
        "export --max-batch 1000000000 (verified at that batch)",
        lambda c: ["export", str(c["tiny_run"]), "--max-batch", HUGE],
        2,
        f"--max-batch {HUGE}.*GiB",
        protect=_run_files,
    ),
    Case(
        "build-max-batch-beyond-int32",
        "build-engine --max-batch beyond a 32-bit dimension",
        lambda c: [
            "build-engine",
            str(c["tiny_run"]),
            "--backend",
            "inductor",
            "--max-batch",
            "99999999999",
        ],
        2,
        "--max-batch.*<= 2147483647",
    ),
    Case(
        "build-opt-batch-text",
        "build-engine --opt-batch 8.5",
        lambda c: ["build-engine", str(_onnx(c)), "--opt-batch", "8.5"],
        2,
        "--opt-batch.*not a valid integer",
    ),
    Case(
        "triton-instances-zero",
        "triton-repo --instances 0",
        lambda c: [
            "triton-repo",
            str(c["tiny_run"]),
            "-o",
            str(c["tmp"] / "r"),
            "--instances",
            "0",
        ],
        2,
        "--instances.*>= 1",
    ),
    Case(
        "triton-instances-absurd",
        "triton-repo --instances 1000000",
        lambda c: [
            "triton-repo",
            str(c["tiny_run"]),
            "-o",
            str(c["tmp"] / "r"),
            "--instances",
            "1000000",
        ],
        2,
        "--instances.*<= 1024",
    ),
    Case(
        "triton-preferred-nan",
        "triton-repo --preferred-batch-sizes 4,nan",
        lambda c: [
            "triton-repo",
            str(c["tiny_run"]),
            "-o",
            str(c["tmp"] / "r"),
            "--preferred-batch-sizes",
            "4,nan",
        ],
        2,
        "--preferred-batch-sizes.*'nan' is not a valid integer",
    ),
    # outputs checked before the long work
    Case(
        "bench-out-unwritable-first",
        "bench --out below a regular file (checked before measuring: here the test data is "
        "missing too, and the output is what is reported)",
        lambda c: _bench(c, "--out", str(c["tmp"] / "f" / "bench"), data="tmp"),
        8,
        "bench output folder.*f/bench",
        setup=_file_in_the_way,
    ),
    Case(
        "build-inductor-unwritable-first",
        "inductor build to a folder below a regular file (checked before the compile)",
        lambda c: [
            "build-engine",
            str(c["tiny_run"]),
            "--backend",
            "inductor",
            "-o",
            str(c["tmp"] / "f" / "m.pt2"),
        ],
        8,
        "package folder.*f'? is not a folder|package folder",
        setup=_file_in_the_way,
    ),
    Case(
        "build-engine-unwritable-first",
        "TensorRT build to a folder below a regular file (checked before TensorRT is needed)",
        lambda c: ["build-engine", str(_onnx(c)), "-o", str(c["tmp"] / "f" / "m.engine")],
        8,
        "engine folder",
        setup=_file_in_the_way,
    ),
    Case(
        "triton-unwritable",
        "triton-repo -o below a regular file",
        lambda c: ["triton-repo", str(c["tiny_run"]), "-o", str(c["tmp"] / "f" / "repo")],
        8,
        "model repository",
        setup=_file_in_the_way,
    ),
    # a ModelSpec that contradicts its graph, or holds impossible numbers: exit 4 at load
    Case(
        "onnx-spec-class-count",
        "ONNX whose ModelSpec says 12 classes, graph outputs 10",
        lambda c: _predict(c, _edited_onnx(c, "twelve.onnx", _twelve_classes)),
        4,
        "twelve.onnx.*contradicts its own ModelSpec.*10 classes.*12",
    ),
    Case(
        "onnx-spec-input-size",
        "ONNX whose ModelSpec says 64x64 input, graph takes 32x32",
        lambda c: _predict(c, _edited_onnx(c, "big.onnx", _input_64)),
        4,
        "big.onnx.*contradicts its own ModelSpec.*height",
    ),
    Case(
        "onnx-spec-std-nan",
        "ONNX whose ModelSpec has preprocessing std NaN",
        lambda c: _predict(c, _edited_onnx(c, "nanstd.onnx", _std_nan)),
        4,
        "nanstd.onnx.*std.*not finite",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, ctx: dict, capsys) -> None:
    run_case(case, ctx, capsys)


def test_case_ids_are_unique():
    assert len({c.id for c in CASES}) == len(CASES)


def test_readme_exit_code_table_matches_the_errors_and_the_sweeps():
    import re

    from vggdeploy.errors import EXIT_CODES

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    documented = {int(m) for m in re.findall(r"^\| (\d+) \|", section, re.M)}
    assert set(EXIT_CODES) <= documented
    assert {c.code for c in CASES} <= documented
    row = {int(m[0]): m[1] for m in re.findall(r"^\| (\d+) \| (.*) \|$", section, re.M)}
    assert "NaN" in row[2] and "memory" in row[2]  # the classes this sweep covers
    assert "contradicts its own ModelSpec" in row[4] and "before long work" in row[8]
