"""Issue 19 class 2: what an artifact is comes from its content, never its file name.

Generated from the variants table (vggdeploy/artifacts/variants.py): every ONNX variant's real
content (the library's FP16 conversion, ONNX Runtime's quantizer; the tag recorded as the export
stage records it) under every name the table reserves, every ``NAME.<tag>.onnx``, a precision
token of every precision and a neutral name. For each (content x name) pair bench's plan (explicit
file and run-folder discovery), ``inspect``, ``load`` and the build's content check read the
content's identity; a name that claims something else is labelled by content with a note (bench)
or refused with exit 4 (load, build, inspect says so). The rule's expectations are computed from
the table and the content's own precision, not from the code under test.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from onnx_artifacts import export_fp32, make_variant

from vggdeploy.artifacts.variants import ONNX_VARIANTS, PRECISIONS, VARIANTS_BY_TAG
from vggdeploy.errors import ArtifactError

NAMES = sorted(
    {v.filename for v in ONNX_VARIANTS}
    | {f"other.{v.tag}.onnx" for v in ONNX_VARIANTS if v.tag != "fp32"}
    | {f"net-{p}.onnx" for p in PRECISIONS}
    | {f"NET_{p.upper()}.onnx" for p in PRECISIONS}
    | {"neutral.onnx", "int8ish.onnx"}
)


def _expected_claim(name: str) -> tuple[str | None, str | None]:
    """(tag, precision) a name claims, by the documented naming rules (independent code)."""
    for v in ONNX_VARIANTS:
        if name == v.filename:
            return v.tag, v.precision
        if v.tag != "fp32" and name.endswith(f".{v.tag}.onnx"):
            return v.tag, v.precision
    stem = name[: -len(".onnx")].lower()
    for p in PRECISIONS:
        if stem.endswith(f"-{p}") or stem.endswith(f"_{p}"):
            return None, p
    return None, None


@pytest.fixture(scope="module")
def contents(_trained_run: Path, tmp_path_factory) -> dict[str, bytes]:
    """tag -> bytes of a real variant of that tag."""
    run = tmp_path_factory.mktemp("identity") / "run"
    shutil.copytree(_trained_run, run)
    export_fp32(run)
    out = {"fp32": (run / "model.onnx").read_bytes()}
    for v in ONNX_VARIANTS:
        if v.tag != "fp32":
            out[v.tag] = make_variant(run, v.tag).read_bytes()
    return out


@pytest.fixture(scope="module")
def source_run(_trained_run: Path, tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("identity-src") / "run"
    shutil.copytree(_trained_run, run)
    return run


PAIRS = [(v.tag, name) for v in ONNX_VARIANTS for name in NAMES]


@pytest.mark.parametrize(("tag", "name"), PAIRS, ids=[f"{t}-as-{n}" for t, n in PAIRS])
def test_every_reader_takes_the_content_not_the_name(tag, name, contents, source_run, tmp_path):
    from vggdeploy.backends.inspection import describe
    from vggdeploy.backends.tensorrt.onnx import check_precision_content
    from vggdeploy.bench.matrix import plan_cases
    from vggdeploy.serve.predictor import load

    content = VARIANTS_BY_TAG[tag]
    claim_tag, claim_precision = _expected_claim(name)
    contradicts = (claim_tag is not None and claim_tag != tag) or (
        claim_precision is not None and claim_precision != content.precision
    )
    run = tmp_path / "run"
    shutil.copytree(source_run, run)
    (run / "model.onnx").write_bytes(contents["fp32"])  # the source every variant records
    path = run / name
    path.write_bytes(contents[tag])

    # bench, explicit file: labelled by content; a contradicting name is noted, never trusted
    [case] = plan_cases(
        run, backends=["onnxruntime"], precisions=list(PRECISIONS), artifacts=[path]
    )
    assert case.precision == content.precision and case.failed is None
    assert (case.note is not None) == contradicts
    if contradicts:
        assert name in case.note and content.precision in case.note

    # bench, run-folder discovery: the row of this file carries the content's precision
    discovered = plan_cases(run, backends=["onnxruntime"], precisions=list(PRECISIONS))
    mine = [c for c in discovered if c.artifact == path and c.skip is None]
    if tag == "fp32" and name != "model.onnx":  # the bytes of model.onnx: one identity, one row
        assert not mine and [c.precision for c in discovered if c.artifact == run / "model.onnx"]
    elif name in {v.filename for v in ONNX_VARIANTS}:
        assert [c.precision for c in mine] == [content.precision]
        if not contradicts:
            assert mine[0].variant == content.variant
    assert len({c.key for c in discovered}) == len(discovered)  # no two rows share a key

    # inspect: the content's precision and tag; the name is only compared
    info = describe(path)["identity"]
    assert info["precision"] == content.precision and info["variant tag"] == tag
    assert (info["file name"] != "agrees with the content") == contradicts

    # load (predict/serve): refused with exit 4 when the name lies, else opened
    if contradicts:
        with pytest.raises(ArtifactError, match="not what its name says") as exc:
            load(path)
        assert exc.value.exit_code == 4
    else:
        predictor = load(path)
        try:
            assert predictor.spec.num_classes == 10
        finally:
            predictor.close()

    # build: TensorRT builds the precision the graph computes, whatever the flag or name says
    import onnx

    model = onnx.load(str(path))
    for precision in ("fp32", "fp16", "int8"):
        if precision == content.precision:
            check_precision_content(model, path, precision)
        else:
            with pytest.raises(ArtifactError, match=content.precision.upper()):
                check_precision_content(model, path, precision)


def test_a_recorded_tag_its_graph_contradicts_is_refused(contents, tmp_path):
    """The content itself lies (an FP16 graph tagged int8): refused by every reader, exit 4."""
    import onnx
    from onnx_artifacts import tag_onnx

    from vggdeploy.backends.inspection import describe
    from vggdeploy.bench.matrix import plan_cases

    path = tmp_path / "forged.onnx"
    onnx.save(tag_onnx(onnx.load_from_string(contents["fp16"]), "int8"), str(path))
    with pytest.raises(ArtifactError, match="records the int8 variant, but its graph computes"):
        describe(path)
    [case] = plan_cases(None, backends=["onnxruntime"], precisions=["int8"], artifacts=[path])
    assert case.failed and "graph computes in fp16" in case.failed


def test_two_artifacts_with_one_file_name_get_two_rows(contents, source_run, fake_data, tmp_path):
    """Two different models both called model.onnx used to share one row key and crash the
    run's accuracy pass; the same file named twice is measured once."""
    from vggdeploy.bench.run import BenchConfig, run_bench

    run = tmp_path / "run"
    shutil.copytree(source_run, run)
    (run / "model.onnx").write_bytes(contents["fp32"])
    a, b = tmp_path / "a" / "model.onnx", tmp_path / "b" / "model.onnx"
    for p in (a, b):  # the same content in two folders: one identity
        p.parent.mkdir()
        p.write_bytes(contents["fp32"])
    c = tmp_path / "c" / "model.onnx"
    c.parent.mkdir()
    import onnx

    other = onnx.load_from_string(contents["fp32"])
    other.metadata_props.add(key="test.other", value="1")  # another file of the same variant
    onnx.save(other, str(c))
    cfg = BenchConfig(
        run=run,
        backends=["torch", "onnxruntime"],
        precisions=["fp32"],
        artifacts=[a, b, c],
        data_dir=str(fake_data),
        batch_sizes=[1],
        warmup=1,
        iters=2,
        repeats=1,
        threads=1,
        limit_test=16,
    )
    results = run_bench(cfg)
    onnx_rows = [r for r in results["rows"] if r["backend"] == "onnxruntime"]
    assert len(onnx_rows) == 2 and all(r["status"] == "ok" for r in onnx_rows)
    assert len({r["variant"] for r in onnx_rows}) == 2
    acc = [e for e in results["accuracy"] if e["backend"] == "onnxruntime"]
    assert len(acc) == 2 and all(e["status"] == "ok" and e["n"] == 16 for e in acc)
