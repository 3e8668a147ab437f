"""The bad-input sweep for issue 19's classes 2-6 (see tests/badinput.py): artifacts known by
their content, provenance of what a model means, files that are code, names that could forge
output, and outputs that belong to the user. The generated tests of each class are in
tests/bench/test_identity_by_content.py, test_provenance_meaning.py, test_trust.py,
test_foreign_text.py and tests/cli/test_bad_inputs_owned_outputs.py; these are the sweep's rows.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from badinput import Case, run_case
from onnx_artifacts import export_fp32, make_variant

from conftest import make_images


def _onnx(ctx: dict) -> Path:
    path = ctx["tiny_run"] / "model.onnx"
    if not path.exists():
        export_fp32(ctx["tiny_run"], path)
    return path


def _images(ctx: dict) -> str:
    path = Path(ctx["tmp"]) / "a.npy"
    np.save(path, make_images(1, seed=5)[0])
    return str(path)


def _fp16_as_int8(ctx: dict) -> None:
    """The FP16 model copied over model.int8.onnx."""
    _onnx(ctx)
    fp16 = make_variant(ctx["tiny_run"], "fp16")
    (ctx["tiny_run"] / "model.int8.onnx").write_bytes(fp16.read_bytes())


def _edit_model_json(key: str, value) -> callable:
    def setup(ctx: dict) -> None:
        _onnx(ctx)
        path = ctx["tiny_run"] / "model.json"
        meta = json.loads(path.read_text())
        if key == "class_names":
            meta["class_names"][0] = value
        else:
            meta["preprocess"][key] = value
        path.write_text(json.dumps(meta))

    return setup


def _outside_data(ctx: dict) -> None:
    """model.onnx whose largest initializer is read from ../elsewhere.data."""
    import onnx
    from onnx.external_data_helper import set_external_data

    path = _onnx(ctx)
    model = onnx.load(str(path))
    big = max(model.graph.initializer, key=lambda t: len(t.raw_data))
    (ctx["tiny_run"].parent / "elsewhere.data").write_bytes(big.raw_data)
    set_external_data(big, location="../elsewhere.data", offset=0, length=len(big.raw_data))
    big.ClearField("raw_data")
    big.data_location = onnx.TensorProto.EXTERNAL
    path.write_bytes(model.SerializeToString())


def _triton_edited(ctx: dict) -> None:
    from vggdeploy.cli import main

    _onnx(ctx)
    assert main(["triton-repo", str(ctx["tiny_run"]), "-o", str(ctx["tmp"] / "repo")]) == 0
    config = ctx["tmp"] / "repo" / "run" / "config.pbtxt"
    config.write_text(config.read_text() + "# my edit\n")


CASES = [
    Case(
        "predict-fp16-named-int8",
        "predict with the FP16 model copied over model.int8.onnx (identity by content)",
        lambda c: ["predict", str(c["tiny_run"] / "model.int8.onnx"), _images(c)],
        4,
        r"model\.int8\.onnx.* is not what its name says: .*says int8, but its content is the "
        r"fp16 model",
        setup=_fp16_as_int8,
    ),
    Case(
        "triton-fp16-named-int8",
        "triton-repo of the FP16 model copied over model.int8.onnx",
        lambda c: [
            "triton-repo",
            str(c["tiny_run"]),
            "--onnx",
            str(c["tiny_run"] / "model.int8.onnx"),
            "-o",
            str(c["tmp"] / "repo"),
        ],  # fmt: skip
        4,
        r"not what its name says",
        setup=_fp16_as_int8,
    ),
    Case(
        "predict-model-json-classes-edited",
        "predict with model.onnx after model.json's class names were edited",
        lambda c: ["predict", str(c["tiny_run"] / "model.onnx"), _images(c)],
        4,
        r"stale artifact: .*model\.onnx.* carries another ModelSpec .*class_names",
        setup=_edit_model_json("class_names", "Tee"),
    ),
    Case(
        "predict-model-json-mean-edited",
        "predict with model.onnx after model.json's preprocessing mean was edited",
        lambda c: ["predict", str(c["tiny_run"] / "model.onnx"), _images(c)],
        4,
        r"carries another ModelSpec .*preprocess",
        setup=_edit_model_json("mean", [0.5]),
    ),
    Case(
        "predict-class-name-newline",
        "predict a run whose model.json has a class name with a newline and an ANSI escape",
        lambda c: ["predict", str(c["tiny_run"]), _images(c)],
        4,
        r"class name 0 .T\\x0a\\x1b\[31mshirt. contains the non-printing character",
        setup=_edit_model_json("class_names", "T\n\x1b[31mshirt"),
    ),
    Case(
        "inspect-external-data-outside",
        "inspect an ONNX whose external data location climbs out of its folder",
        lambda c: ["inspect", str(c["tiny_run"] / "model.onnx")],
        4,
        r"keeps its data at '\.\./elsewhere\.data', outside the model's folder",
        setup=_outside_data,
    ),
    Case(
        "triton-rerun-edited-config",
        "triton-repo again into a repository whose config.pbtxt the user edited (no --force)",
        lambda c: ["triton-repo", str(c["tiny_run"]), "-o", str(c["tmp"] / "repo")],
        2,
        r"config\.pbtxt' was written by vggdeploy and changed since.*--force",
        protect=lambda c: [c["tmp"] / "repo" / "run" / "config.pbtxt"],
        setup=_triton_edited,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, ctx: dict, capsys) -> None:
    run_case(case, ctx, capsys)
