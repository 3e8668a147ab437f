"""OpenVINO IRs: built from model.onnx, judged like every variant, run on the CPU as they record.

The IRs are converted from the session's tiny trained run (vgg-mini, fake data); a conversion
takes about a second, NNCF INT8 a few more. BF16 needs a CPU with AMX or AVX512_BF16: where this
one has neither, the BF16 build is skipped with that reason, and its refusal is tested on every
machine by giving the code another CPU's flags (a cpuinfo file, read by the real parser).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from onnx_artifacts import calibration_batch, export_fp32, retrain

pytest.importorskip(
    "openvino", reason="openvino is not installed (pip install 'vggdeploy[openvino]')"
)

from vggdeploy.backends import cpu_features as cpu_mod  # noqa: E402
from vggdeploy.backends import open_runner  # noqa: E402
from vggdeploy.backends.openvino import (  # noqa: E402
    HINTS,
    INFERENCE_PRECISION,
    compile_config,
    describe_ir,
    ir_precision,
    read_ir_info,
)
from vggdeploy.cli import main  # noqa: E402
from vggdeploy.errors import (  # noqa: E402
    ArtifactError,
    BackendUnavailableError,
    MissingDependencyError,
    UsageError,
    VerificationError,
)
from vggdeploy.export.openvino import build_openvino  # noqa: E402

ZEN3_CPUINFO = "processor\t: 0\nflags\t\t: fpu sse4_2 avx avx2 fma f16c\n"  # no BF16, no VNNI


@pytest.fixture(scope="module")
def ov_run(_trained_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("openvino") / "run"
    shutil.copytree(_trained_run, run)
    export_fp32(run)
    return run


@pytest.fixture(scope="module")
def fp32_ir(ov_run: Path, fake_data: Path) -> Path:
    return build_openvino(ov_run, precision="fp32", data_dir=fake_data)


def _torch_logits(run: Path, x: np.ndarray) -> np.ndarray:
    import torch

    from vggdeploy.artifacts.checkpoint import load_checkpoint

    model, _ = load_checkpoint(run)
    with torch.inference_mode():
        return model(torch.from_numpy(x)).numpy()


def _no_native_bf16(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = tmp_path / "cpuinfo"
    fake.write_text(ZEN3_CPUINFO)
    monkeypatch.setattr(cpu_mod, "CPUINFO", fake)
    assert not cpu_mod.cpu_features().native_bf16


def test_fp32_ir_records_what_it_is_and_was_judged(fp32_ir: Path, ov_run: Path, capsys):
    from vggdeploy._io import sha256_file

    assert (
        fp32_ir == ov_run / "openvino" / "model.fp32.xml" and fp32_ir.with_suffix(".bin").is_file()
    )
    spec, facts = read_ir_info(fp32_ir)
    assert spec.fingerprint() == read_ir_info(fp32_ir)[0].fingerprint()
    assert facts["precision"] == "fp32" and facts["inference_precision"] == "f32"
    assert facts["source_onnx"] == "model.onnx"
    assert facts["source_onnx_sha256"] == sha256_file(ov_run / "model.onnx")
    verdict = facts["verification"]
    assert (
        verdict["passed"]
        and verdict["test_set"]["accuracy_drop_pt"]
        <= 0.0 + 1e-9 + (verdict["test_set"]["max_accuracy_drop_pt"])
    )
    assert ir_precision(fp32_ir) == "fp32"
    assert describe_ir(fp32_ir)["weights_sha256"] == sha256_file(fp32_ir.with_suffix(".bin"))
    assert main(["inspect", str(fp32_ir)]) == 0
    out = capsys.readouterr().out
    assert "OpenVINO IR" in out and "inference precision f32" in out


def test_fp32_ir_runs_in_f32_not_in_openvinos_cpu_default(fp32_ir: Path, ov_run: Path):
    """OpenVINO picks BF16 by itself on CPUs that have it: an FP32 IR must say f32 explicitly."""
    x = calibration_batch(read_ir_info(fp32_ir)[0], 9, seed=5)
    with open_runner("openvino", fp32_ir, hint="latency") as runner:
        compiled = runner._compile("latency")
        assert "float32" in str(compiled.get_property("INFERENCE_PRECISION_HINT"))
        np.testing.assert_allclose(runner.infer(x), _torch_logits(ov_run, x), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("n", [1, 3, 17, 33])
def test_every_hint_gives_the_same_logits(fp32_ir: Path, n: int):
    x = calibration_batch(read_ir_info(fp32_ir)[0], n, seed=n)
    outs = {}
    for hint in ("latency", "throughput", "auto"):
        with open_runner("openvino", fp32_ir, hint=hint, threads=2) as runner:
            outs[hint] = runner.infer(x)
            settings = runner.settings(n)
            used = runner.hint_for(n)  # auto: what it measured faster at this batch size
        assert settings["INFERENCE_NUM_THREADS"] == 2
        assert settings["hint"] == used == (hint if hint != "auto" else used)
        assert used in HINTS
    np.testing.assert_allclose(outs["throughput"], outs["latency"], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(outs["auto"], outs["latency"], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    ("option", "value"),
    [("hint", "fastest"), ("hint", ""), ("threads", 0), ("threads", True), ("device", "cuda")],
)
def test_bad_runner_options_are_usage_errors(fp32_ir: Path, option: str, value):
    if option == "hint" and value == "":  # empty means the default (auto), like None
        assert open_runner("openvino", fp32_ir, hint=value).hint == "auto"
        return
    with pytest.raises(UsageError, match=option if option != "device" else "CPU only"):
        open_runner("openvino", fp32_ir, **{option: value})


def test_an_ir_is_two_files_and_must_be_ours(fp32_ir: Path, tmp_path: Path):
    alone = tmp_path / "alone.xml"
    shutil.copy(fp32_ir, alone)
    with pytest.raises(ArtifactError, match=r"alone\.bin"):
        open_runner("openvino", alone).activate()
    foreign = tmp_path / "foreign.xml"
    foreign.write_text('<?xml version="1.0"?><net name="x" version="11"><layers/></net>')
    with pytest.raises(ArtifactError, match="no vggdeploy ModelSpec"):
        open_runner("openvino", foreign).activate()
    junk = tmp_path / "junk.xml"
    junk.write_bytes(b"\x00\x01 not xml")
    with pytest.raises(ArtifactError, match="not a readable OpenVINO IR"):
        open_runner("openvino", junk).activate()
    with pytest.raises(ArtifactError, match="not found"):
        open_runner("openvino", tmp_path / "missing.xml").activate()


def test_bf16_is_refused_where_the_cpu_would_emulate_it(ov_run, fake_data, monkeypatch, tmp_path):
    from vggdeploy.bench.matrix import plan_cases

    _no_native_bf16(monkeypatch, tmp_path)
    out = tmp_path / "model.bf16.xml"
    with pytest.raises(BackendUnavailableError, match="emulated"):
        build_openvino(ov_run, out, precision="bf16", data_dir=fake_data)
    assert not out.exists() and not out.with_suffix(".bin").exists()
    cases = plan_cases(ov_run, backends=["torch"], precisions=["bf16"], device="cpu")
    assert cases[0].skip and "emulated" in cases[0].skip


def test_bf16_ir_is_judged_and_refused_on_a_cpu_without_bf16(
    ov_run, fake_data, monkeypatch, tmp_path
):
    refusal = cpu_mod.cpu_features().bf16_refusal()
    if refusal:
        pytest.skip(f"no BF16 IR can be built on this CPU: {refusal}")
    ir = build_openvino(ov_run, tmp_path / "model.bf16.xml", precision="bf16", data_dir=fake_data)
    _, facts = read_ir_info(ir)
    assert facts["precision"] == "bf16" and facts["inference_precision"] == "bf16"
    ts = facts["verification"]["test_set"]
    assert ts["accuracy_drop_pt"] <= ts["max_accuracy_drop_pt"] + 1e-9
    with open_runner("openvino", ir) as runner:
        assert runner.settings(1)["INFERENCE_PRECISION_HINT"] == "bf16"
    _no_native_bf16(monkeypatch, tmp_path)  # the same file moved to a CPU without BF16
    with pytest.raises(BackendUnavailableError, match="emulated"):
        open_runner("openvino", ir).activate()


def test_int8_nncf_is_calibrated_on_the_train_split_and_judged(ov_run, fake_data, monkeypatch):
    import vggdeploy.data as data_mod
    from vggdeploy.export.quantize import DEFAULT_CALIB_SIZE

    splits: list[str] = []
    real = data_mod.load_split
    monkeypatch.setattr(
        data_mod, "load_split", lambda s, *a, **k: splits.append(s) or real(s, *a, **k)
    )
    ir = build_openvino(ov_run, precision="int8", data_dir=fake_data)
    assert splits[0] == "train" and "test" in splits  # calibrated on train, judged on test
    _, facts = read_ir_info(ir)
    assert facts["calibration"]["split"] == "train"
    assert facts["calibration"]["size"] == DEFAULT_CALIB_SIZE
    assert facts["verification"]["tolerance"]["max_accuracy_drop_pt"] == 1.0
    assert "FakeQuantize" in ir.read_text()  # the IR really is quantized


def test_int8_that_loses_accuracy_is_refused_and_nothing_is_written(
    ov_run, fp32_ir, fake_data, monkeypatch, tmp_path
):
    """A "quantized" model whose every prediction moved to another class (the checkpoint's own
    IR, its logits rolled by one class) fails the test-set comparison: refused, exit 7, no file.
    The test split is labelled with the checkpoint's own answers, so FP32 scores 100 % and the
    damaged model 0 % on any machine (the tiny model is near chance on the synthetic labels,
    where a loss would not show)."""
    import openvino as ov

    from vggdeploy.artifacts.checkpoint import read_spec
    from vggdeploy.data import load_split, preprocess
    from vggdeploy.data.idx import write_idx

    data = tmp_path / "data"
    shutil.copytree(fake_data, data)
    test = load_split("test", data)
    spec = read_spec(ov_run)
    answers = _torch_logits(ov_run, preprocess(test.images, spec)).argmax(1).astype(np.uint8)
    write_idx(data / "t10k-labels-idx1-ubyte.gz", answers, compress=True)

    damaged = ov.Core().read_model(str(fp32_ir))
    result = damaged.get_results()[0]
    rolled = ov.opset13.roll(result.input_value(0), np.int64([1]), np.int64([1]))
    result.input(0).replace_source_output(rolled.output(0))
    damaged.validate_nodes_and_infer_types()
    monkeypatch.setattr("vggdeploy.export.openvino._nncf_int8", lambda *a, **k: damaged)
    out = tmp_path / "out" / "model.int8.xml"
    with pytest.raises(VerificationError) as info:
        build_openvino(ov_run, out, precision="int8", data_dir=data)
    assert info.value.exit_code == 7 and "not written" in info.value.message
    assert "test accuracy 0.00% is 100.00 pt below FP32" in info.value.message
    assert not out.parent.exists() or not any(out.parent.iterdir())


def test_ir_is_stale_when_the_checkpoint_changes(ov_run, fake_data, tmp_path):
    from vggdeploy.backends.freshness import check_fresh, verdict

    run = tmp_path / "run"
    shutil.copytree(ov_run, run, ignore=shutil.ignore_patterns("openvino"))
    ir = build_openvino(run, precision="fp32", verify=False)
    assert verdict(ir).fresh
    retrain(run)
    v = verdict(ir)
    assert v.stale and "--backend openvino" in v.action
    with pytest.raises(ArtifactError, match="stale"):
        check_fresh(ir)
    with pytest.raises(ArtifactError, match="stale"):  # model.onnx is stale too: no IR from it
        build_openvino(run, tmp_path / "again.xml", precision="fp32", verify=False)


def test_cli_build_engine_openvino_and_its_refusals(ov_run, tmp_path, fake_data):
    run = tmp_path / "run"
    shutil.copytree(ov_run, run, ignore=shutil.ignore_patterns("openvino"))
    base = ["build-engine", str(run), "--backend", "openvino"]
    assert main([*base, "--no-verify", "-o", str(tmp_path / "m.xml")]) == 0
    assert (tmp_path / "m.bin").is_file()
    for extra in (["--max-batch", "4"], ["--fp16"], ["--workspace", "1G"], ["--device", "cuda"]):
        assert main([*base, *extra]) == 2, extra
    assert main(["build-engine", str(run), "--backend", "inductor", "--int8-source", "qdq"]) == 2
    assert main([*base, "-o", str(tmp_path / "m.onnx")]) == 2


def test_missing_openvino_names_the_extra(fp32_ir: Path, monkeypatch):
    monkeypatch.setitem(sys.modules, "openvino", None)  # import openvino -> ImportError
    with pytest.raises(MissingDependencyError) as info:
        open_runner("openvino", fp32_ir).activate()
    assert info.value.exit_code == 5 and "vggdeploy[openvino]" in (info.value.hint or "")


def test_bench_reports_hints_and_ceiling_shares(ov_run, fp32_ir, fake_data, tmp_path, monkeypatch):
    from vggdeploy.bench.run import BenchConfig, run_bench

    monkeypatch.setenv("VGGDEPLOY_CACHE", str(tmp_path / "cache"))
    cfg = BenchConfig(
        run=ov_run, backends=["openvino"], precisions=["fp32", "bf16"], batch_sizes=[1, 32],
        iters=3, repeats=1, warmup=1, threads=2, device="cpu", data_dir=str(fake_data),
        limit_test=64,
    )  # fmt: skip
    results = run_bench(cfg)
    bf16 = [r for r in results["rows"] if r["backend"] == "openvino" and r["precision"] == "bf16"]
    if not cpu_mod.cpu_features().native_bf16:  # no BF16 IR can be built here: said, not omitted
        assert bf16 and all(r["status"] == "skipped" for r in bf16)
    rows = [r for r in results["rows"] if r["backend"] == "openvino" and r["precision"] == "fp32"]
    assert [r["status"] for r in rows] == ["ok", "ok"]
    first, second = (r["runner_settings"] for r in rows)
    assert first["hint"] == "latency" and "hint_probe_ms" not in first  # batch 1: nothing to split
    assert second["hint"] in HINTS and set(second["hint_probe_ms"]) == set(HINTS)
    assert second["hint"] == min(HINTS, key=second["hint_probe_ms"].get)  # the faster one
    assert all(r["runner_settings"]["INFERENCE_PRECISION_HINT"] == "f32" for r in rows)
    assert all(r["ceiling_share"] and r["ceiling_share"] > 0 for r in rows)
    assert rows[0]["artifact_mb"] * 1e6 >= fp32_ir.with_suffix(".bin").stat().st_size
    env = results["environment"]
    assert set(env["ceilings"]["precisions"]) == {"fp32", "bf16", "int8"}
    assert env["ceilings_vs_formula"]["measured_fp32_flops"] > 0
    assert "native_bf16" in env["cpu"]["features"]


def test_triton_repo_serves_an_ir_through_the_openvino_backend(fp32_ir: Path, tmp_path: Path):
    from google.protobuf import text_format
    from tritonclient.grpc import model_config_pb2

    from vggdeploy.serve.triton import build_triton_repo

    said: list[str] = []
    (folder,) = build_triton_repo(fp32_ir, tmp_path / "repo", log=said.append)
    assert len(said) == 1 and said[0].startswith("warning:") and "HINT_BF16" in said[0]
    assert folder.name.endswith("_openvino_fp32")
    assert (folder / "1" / "model.xml").read_bytes() == fp32_ir.read_bytes()
    assert (folder / "1" / "model.bin").read_bytes() == fp32_ir.with_suffix(".bin").read_bytes()
    config = text_format.Parse(
        (folder / "config.pbtxt").read_text(), model_config_pb2.ModelConfig()
    )
    assert config.backend == "openvino" and not config.platform
    assert config.default_model_filename == "model.xml"
    assert config.instance_group[0].kind == model_config_pb2.ModelInstanceGroup.KIND_CPU
    params = {k: v.string_value for k, v in config.parameters.items()}
    # only keys Triton's OpenVINO backend reads; it has none for f32, so the config says so
    assert params == {"PERFORMANCE_HINT": "LATENCY"}
    head = (folder / "config.pbtxt").read_text().split("name:")[0]
    assert head.startswith("# ") and "f32" in head and "BF16" in head
    with pytest.raises(UsageError, match="alone"):
        build_triton_repo(fp32_ir, tmp_path / "repo2", onnx=fp32_ir)
    with pytest.raises(UsageError, match="gpu"):
        build_triton_repo(fp32_ir, tmp_path / "repo3", kind="gpu")


@pytest.mark.parametrize("precision", sorted({*INFERENCE_PRECISION, "int8"}))
@pytest.mark.parametrize("hint", HINTS)
@pytest.mark.parametrize("threads", [None, 1, 3])
def test_triton_openvino_parameters_are_keys_the_backend_reads(precision, hint, threads):
    """Every IR precision x hint x threads the runner compiles with maps onto parameters that
    Triton's OpenVINO backend reads, with values it accepts (render_config refuses others), and
    an f32-judged IR carries the note that the backend cannot keep f32 on BF16 CPUs."""
    from vggdeploy.serve.triton import _openvino_parameters
    from vggdeploy.serve.triton_config import OPENVINO_PARAMETERS, check_parameter

    config = compile_config(precision, {}, hint, threads)
    params, notes = _openvino_parameters(config, Path("model.xml"))
    for key, value in params:
        check_parameter("openvino", key, value)
        assert key in OPENVINO_PARAMETERS
    got = dict(params)
    assert got["PERFORMANCE_HINT"] == hint.upper()
    assert got.get("INFERENCE_NUM_THREADS") == (str(threads) if threads else None)
    bf16 = config["INFERENCE_PRECISION_HINT"] == "bf16"
    assert (got.get("HINT_BF16") == "YES") == bf16
    assert bool(notes) == (not bf16)


@pytest.mark.parametrize(
    "key, value",
    [("INFERENCE_PRECISION_HINT", "f32"), ("HINT_BF16", "NO"), ("PERFORMANCE_HINT", "fast"),
     ("INFERENCE_NUM_THREADS", "-1"), ("NUM_STREAMS", "many"), ("ENFORCE_BF16", "YES")],
)  # fmt: skip
def test_render_config_refuses_parameters_the_openvino_backend_ignores(key, value):
    from vggdeploy.models import make_spec
    from vggdeploy.serve.triton_config import TritonModel, render_config

    model = TritonModel(name="m", platform="openvino", artifact=Path("m.xml"),
                        filename="model.xml", spec=make_spec("vgg-mini28"), max_batch=8,
                        parameters=((key, value),))  # fmt: skip
    with pytest.raises(ValueError, match=key):
        render_config(model)


@pytest.mark.parametrize("slow", HINTS)
def test_auto_keeps_the_hint_that_measured_faster(fp32_ir: Path, slow: str, monkeypatch):
    """hint=auto times both hints on the first call of a batch-size bucket and keeps the faster:
    here one hint is made 20 ms slower per call, so auto must keep the other, for the whole
    bucket and only for it."""
    import time

    from vggdeploy.backends.openvino import OpenVINORunner

    real = OpenVINORunner._run_hint

    def slowed(self, hint, batch):
        if hint == slow:
            time.sleep(0.02)
        return real(self, hint, batch)

    monkeypatch.setattr(OpenVINORunner, "_run_hint", slowed)
    fast = next(h for h in HINTS if h != slow)
    x = calibration_batch(read_ir_info(fp32_ir)[0], 5, seed=3)
    with open_runner("openvino", fp32_ir, hint="auto", threads=2) as runner:
        assert runner.hint_for(5) is None and "not yet" in runner.settings(5)["hint"]
        first = runner.infer(x)
        assert runner.hint_for(5) == runner.hint_for(8) == fast  # bucket 5..8
        assert runner.hint_for(9) is None and runner.hint_for(1) == "latency"
        probe = runner.settings(5)["hint_probe_ms"]
        assert probe[slow] > probe[fast] + 10
        np.testing.assert_allclose(runner.infer(x), first, rtol=1e-5, atol=1e-5)
