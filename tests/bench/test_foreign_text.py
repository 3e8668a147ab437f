"""Issue 19 class 5: text vggdeploy did not write can neither forge nor shift output.

Hypothesis draws names made of control characters, newlines, carriage returns, Unicode line and
paragraph separators, bidi overrides, ANSI escape sequences, ``|`` and ordinary letters, and sends
them through every door:

* as class names where names enter (ModelSpec: train/export/model.json/ONNX metadata): refused
  exactly when the name holds a non-printing character (the oracle below is written from Unicode
  categories, not from the code under test); an accepted name set gives a labels.txt of one line
  per class;
* as file names / variants / failure reasons in bench results, layer names in debug-precision
  reports and metadata values in ``inspect``: the terminal table, CSV, report.md, JSON and the
  text reports keep one record per item and carry no raw non-printing character.
"""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import unicodedata
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vggdeploy.errors import ArtifactError

HOSTILE = ["\n", "\r", "\r\n", "\t", "\x00", "\x1b[31m", "\x1b]0;pwned\x07", "\x85", "\u2028",
           "\u2029", "\u202e", "\u200b", "\x7f", "|", "\\", " ", "[bold]", "ok"]  # fmt: skip
names = st.lists(
    st.one_of(st.sampled_from(HOSTILE), st.text(min_size=1, max_size=4)), min_size=1, max_size=6
).map("".join)

_SETTINGS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def non_printing(text: str) -> list[str]:
    """Characters a line-based output must never carry raw (independent oracle)."""
    return [
        c
        for c in text
        if unicodedata.category(c)[0] == "C" or unicodedata.category(c) in ("Zl", "Zp")
    ]


def _bad_label(name: str) -> bool:
    return (
        not name.strip()
        or name != name.strip()
        or any(unicodedata.category(c)[0] in "CZ" and c != " " for c in name)
        or len(name) > 256
    )


# ---- names where they enter ----------------------------------------------------------------------


@_SETTINGS
@given(name=names, index=st.integers(0, 9))
def test_class_names_are_validated_where_they_enter(name, index, tmp_path_factory):
    from vggdeploy.models.presets import make_spec
    from vggdeploy.spec import ModelSpec

    base = make_spec("vgg-mini")
    data = base.to_dict()
    data["class_names"] = list(base.class_names)
    data["class_names"][index] = name
    bad = _bad_label(name) or name in base.class_names[:index] + base.class_names[index + 1 :]
    if bad:
        with pytest.raises(ArtifactError) as exc:
            ModelSpec.from_dict(data)
        assert exc.value.exit_code == 4 and not non_printing(exc.value.message)
        return
    spec = ModelSpec.from_dict(data)
    # an accepted name set: Triton's labels.txt holds one line per class, the names as given
    from vggdeploy.serve.triton_config import TritonModel  # noqa: F401 - the writer's module

    labels = "\n".join(spec.class_names) + "\n"
    assert labels.splitlines() == list(spec.class_names)


# ---- bench outputs -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def results(_trained_run: Path, fake_data: Path, tmp_path_factory) -> dict:
    from vggdeploy.bench.run import BenchConfig, run_bench

    run = tmp_path_factory.mktemp("foreign") / "run"
    shutil.copytree(_trained_run, run)
    cfg = BenchConfig(
        run=run, backends=["torch"], precisions=["fp32", "bf16"], batch_sizes=[1, 2], warmup=0,
        iters=1, repeats=1, threads=1, limit_test=8, data_dir=str(fake_data),
    )  # fmt: skip
    return run_bench(cfg)


def _inject(results: dict, name: str) -> dict:
    """The results as bench makes them for an artifact called ``name`` that failed with a
    message quoting it (a row per batch, one accuracy entry)."""
    doc = json.loads(json.dumps(results))
    template = doc["rows"][0]
    for batch in sorted({r["batch"] for r in doc["rows"]}):
        doc["rows"].append(
            {**template, "backend": "onnxruntime", "precision": "fp32", "variant": name,
             "batch": batch, "status": "failed", "reason": f"cannot open '{name}'",
             "artifact": f"/runs/{name}.onnx", "latency_ms": None}
        )  # fmt: skip
    doc["accuracy"].append(
        {"backend": "onnxruntime", "precision": "fp32", "variant": name, "status": "failed",
         "reason": f"'{name}' failed"}
    )  # fmt: skip
    doc["run"] = f"/runs/{name}"
    return doc


def _cells(line: str) -> int:
    return len(re.findall(r"(?<!\\)\|", line))


@_SETTINGS
@given(name=names)
def test_every_bench_output_keeps_one_record_per_item(results, name, tmp_path_factory):
    from rich.console import Console

    from vggdeploy._io import dumps_json
    from vggdeploy.bench.report import rich_table, to_csv, to_markdown

    doc = _inject(results, name)
    n_rows = len(doc["rows"])

    text = to_csv(doc)
    assert not non_printing(text.replace("\n", ""))
    assert len(text.splitlines()) == n_rows + 1 == len(list(csv.reader(io.StringIO(text))))

    md = to_markdown(doc)
    assert not non_printing(md.replace("\n", ""))
    for block in md.split("\n\n"):
        table = [ln for ln in block.splitlines() if ln.startswith("|")]
        if table:  # every row of a table has its header's number of cells
            assert {_cells(ln) for ln in table} == {_cells(table[0])}, block

    table, notes = rich_table(doc, width=200)
    out = io.StringIO()
    console = Console(file=out, width=200, color_system=None, force_terminal=False)
    console.print(table)
    for note in notes:
        console.print(note, highlight=False, markup=False)
    shown = out.getvalue()
    assert not non_printing(shown.replace("\n", ""))

    blob = dumps_json(doc)
    assert "\n" not in blob and json.loads(blob)["rows"][-1]["variant"] == name


@pytest.fixture(scope="module")
def onnx_file(_trained_run: Path, tmp_path_factory) -> Path:
    from onnx_artifacts import export_fp32

    run = tmp_path_factory.mktemp("foreign-onnx") / "run"
    shutil.copytree(_trained_run, run)
    return export_fp32(run)


@_SETTINGS
@given(name=names)
def test_debug_report_and_inspect_escape_names_from_the_model(name, onnx_file, tmp_path_factory):
    import onnx

    from vggdeploy.backends.inspection import describe, render
    from vggdeploy.debug.report import layer_table

    row = {"layer": name, "op_type": "Conv", "fp32_tensor": f"{name}_out", "max_abs": 0.1,
           "rel_l2": 0.01, "cosine_min": 0.99, "snr_db": 40.0, "growth": 0.001}  # fmt: skip
    result = {"layers": [row, {**row, "layer": "plain"}], "first_divergent": None}
    for markdown in (False, True):
        lines = layer_table(result, markdown=markdown)
        text = "\n".join(lines)
        assert len(text.splitlines()) == len(lines) == (4 if markdown else 3)
        assert not non_printing(text.replace("\n", ""))
        if markdown:
            assert {_cells(ln) for ln in lines} == {_cells(lines[0])}

    # inspect: metadata keys and values written by someone else, in a file named by them
    folder = tmp_path_factory.mktemp("inspect")
    model = onnx.load(str(onnx_file))
    model.metadata_props.add(key="note", value=name)
    model.metadata_props.add(key=f"k{name}", value="v")
    path = folder / "m.onnx"
    onnx.save(model, str(path))
    plain = folder / "plain.onnx"
    shutil.copy(onnx_file, plain)
    shown = render(path, describe(path))
    baseline = render(plain, describe(plain))
    assert not non_printing(shown.replace("\n", ""))
    assert len(shown.splitlines()) == len(baseline.splitlines()) + 2  # one line per item


@pytest.mark.parametrize("bad", [h for h in HOSTILE if h != "\x00"])  # no file name holds NUL
def test_error_messages_escape_the_names_they_quote(bad, tmp_path, capsys):
    """A command's error quotes the file it could not use: the quote cannot drive the terminal.
    (Messages keep their own line breaks, so a newline in a quoted name still breaks the line;
    every other control character is escaped.)"""
    from vggdeploy.cli import main

    missing = tmp_path / f"model{bad}x.onnx"
    assert main(["inspect", str(missing)]) == 4
    err = capsys.readouterr().err
    assert not non_printing(err.replace("\n", ""))
    if "\n" not in bad:
        assert err.count("\n") == 2  # the error line and the hint line
