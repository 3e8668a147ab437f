"""The precision stage reads the previous stage's artifact once: `export --precision int8` on a run
whose model.onnx is up to date reuses it (no FP32 export) and reads model.onnx, the checkpoint and
the test split once each; a stale model.onnx is exported again, never silently used."""

from __future__ import annotations

import builtins
import io
import json
import shutil
from collections import Counter
from pathlib import Path

import onnx
import pytest

import vggdeploy.artifacts.checkpoint
import vggdeploy.data
import vggdeploy.export.onnx
from vggdeploy.cli import main
from vggdeploy.export.pipeline import export_variants

from conftest import VARIANTS_EXPORT


@pytest.fixture
def run(exported_variants, tmp_path: Path) -> Path:
    """A copy of the session's exported run: model.onnx is up to date and verified."""
    dst = tmp_path / "run"
    shutil.copytree(exported_variants["fp32"].path.parent, dst)
    return dst


class Reads:
    """Counts Python-level opens per file name and calls of the stage's loaders."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.files: Counter[str] = Counter()
        self.calls: Counter[str] = Counter()
        self.splits: list[str] = []
        real_open = builtins.open

        def counting_open(file, mode="r", *a, **k):
            if isinstance(file, (str, Path)) and "r" in mode:
                self.files[Path(file).name] += 1
            return real_open(file, mode, *a, **k)

        monkeypatch.setattr(builtins, "open", counting_open)
        monkeypatch.setattr(io, "open", counting_open)  # pathlib reads through io.open
        self._count(monkeypatch, vggdeploy.export.onnx, "to_onnx")
        self._count(monkeypatch, vggdeploy.artifacts.checkpoint, "read_checkpoint")
        real_split = vggdeploy.data.load_split

        def recording_split(split, *a, **k):
            self.splits.append(split)
            return real_split(split, *a, **k)

        monkeypatch.setattr(vggdeploy.data, "load_split", recording_split)

    def _count(self, monkeypatch: pytest.MonkeyPatch, module, name: str) -> None:
        real = getattr(module, name)

        def counted(*a, **k):
            self.calls[name] += 1
            return real(*a, **k)

        monkeypatch.setattr(module, name, counted)


def _cli(run: Path, fake_data: Path, *extra: str) -> list[str]:
    return [
        "export",
        str(run),
        "--data-dir",
        str(fake_data),
        "--max-batch",
        str(VARIANTS_EXPORT["max_batch"]),
        "--no-simplify",
        "--calib-size",
        str(VARIANTS_EXPORT["calib_size"]),
        *extra,
    ]


def test_int8_on_up_to_date_run_reads_each_input_once(
    run, exported_variants, fake_data, monkeypatch, capsys
):
    before = (run / "model.onnx").read_bytes()
    reads = Reads(monkeypatch)
    assert main(_cli(run, fake_data, "--precision", "int8")) == 0
    assert "model.onnx is up to date" in capsys.readouterr().out
    assert reads.calls["to_onnx"] == 0  # the FP32 exporter did not run
    assert reads.calls["read_checkpoint"] == 1
    assert reads.files["model.onnx"] == 1
    assert reads.files["model.safetensors"] == 1 and reads.files["model.json"] == 1
    assert reads.splits.count("test") == 1 and reads.splits.count("train") == 1
    assert reads.files["t10k-images-idx3-ubyte.gz"] == 1
    assert (run / "model.onnx").read_bytes() == before
    # the same variants, judged the same way, as in the session's `export --precision all`
    for tag in ("int8", "int8-cpu"):
        got = json.loads((run / f"model.{tag}.report.json").read_text())
        want = exported_variants[tag].report
        assert got["written"] is True
        assert got["verification"]["test_set"] == want["verification"]["test_set"]
        # PyTorch's reference logits may differ in the last bits with the process's thread count;
        # max_rel divides by logits near zero, which turns those bits into ~1e-4 relative (seen
        # on an AMX Xeon: 0.1394851 against 0.1394900). Same variant, same judge: equal to 1e-3.
        rows = zip(got["verification"]["batches"], want["verification"]["batches"], strict=True)
        for g, w in rows:
            assert g == pytest.approx(w, rel=1e-3, abs=1e-6)


def test_precision_all_reads_each_input_once(run, fake_data, monkeypatch):
    """fp32 among the precisions exports model.onnx again: once, from the checkpoint read once."""
    monkeypatch.setattr(  # the real exporter is covered in test_export.py; its result suffices
        vggdeploy.export.onnx,
        "to_onnx",
        lambda *a, **k: (onnx.load(str(run / "model.onnx")), "test"),
    )
    reads = Reads(monkeypatch)
    assert main(_cli(run, fake_data, "--precision", "all")) == 0
    assert reads.calls["to_onnx"] == 1 and reads.calls["read_checkpoint"] == 1
    assert reads.files["model.safetensors"] == 1
    assert reads.splits.count("test") == 1 and reads.splits.count("train") == 1
    assert reads.files["t10k-images-idx3-ubyte.gz"] == 1


def _new_weights(run: Path) -> None:
    import torch

    from vggdeploy.artifacts.checkpoint import load_checkpoint, save_checkpoint

    model, spec = load_checkpoint(run)
    with torch.no_grad():
        next(model.parameters()).mul_(1 + 2**-20)  # new bytes, same outputs
    save_checkpoint(run, model, spec)


def _replace_model(run: Path) -> None:
    m = onnx.load(str(run / "model.onnx"))
    m.doc_string = "edited by hand"
    onnx.save(m, str(run / "model.onnx"))


def _unverified(run: Path) -> None:
    path = run / "model.report.json"
    report = json.loads(path.read_text())
    path.write_text(json.dumps({**report, "verification": None}))


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (_new_weights, "made from checkpoint sha256"),
        (_replace_model, "sha256 differs"),
        (_unverified, "not verified"),
        (lambda run: (run / "model.report.json").unlink(), "unreadable"),
        (lambda run: (run / "model.onnx").unlink(), "does not exist"),
    ],
    ids=["checkpoint-changed", "model-replaced", "unverified", "no-report", "no-model"],
)
def test_stale_model_onnx_is_exported_again(run, fake_data, monkeypatch, change, reason):
    stand_in = onnx.load(str(run / "model.onnx"))  # the exporter's output; test_export covers it
    change(run)
    reads = Reads(monkeypatch)
    monkeypatch.setattr(vggdeploy.export.onnx, "to_onnx", lambda *a, **k: (stand_in, "test"))
    log: list[str] = []
    export_variants(
        run,
        precisions="fp16",
        data_dir=fake_data,
        **{k: v for k, v in VARIANTS_EXPORT.items() if k != "calib_size"},
        log=log.append,
    )
    assert any("model.onnx is exported again" in m and reason in m for m in log), log
    assert reads.calls["read_checkpoint"] == 1
    props = {p.key: p.value for p in onnx.load(str(run / "model.onnx")).metadata_props}
    weights = (run / "model.safetensors").read_bytes()
    weights_sha = vggdeploy.artifacts.checkpoint.sha256_bytes(weights)
    assert props["vggdeploy.checkpoint_sha256"] == weights_sha
    assert json.loads((run / "model.report.json").read_text())["verification"]["passed"]


def test_other_export_settings_export_again(run, fake_data, monkeypatch):
    stand_in = onnx.load(str(run / "model.onnx"))
    monkeypatch.setattr(vggdeploy.export.onnx, "to_onnx", lambda *a, **k: (stand_in, "test"))
    log: list[str] = []
    export_variants(
        run, precisions="fp16", data_dir=fake_data, max_batch=8, simplify=False, log=log.append
    )
    assert any("max_batch 16, requested 8" in m for m in log), log
    assert json.loads((run / "model.report.json").read_text())["max_batch"] == 8


def test_export_into_a_folder_another_process_writes_is_refused(run: Path, capsys) -> None:
    """Two writers of one run folder (export + export, export + build) are excluded by the run
    lock: the second one fails at once with exit 8 and changes nothing."""
    import subprocess
    import sys

    hold = (
        "import sys; from vggdeploy.runlock import run_lock\n"
        "with run_lock(sys.argv[1], 'build-engine'):\n"
        "    print('locked', flush=True); sys.stdin.read()\n"
    )
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file() and p.suffix != ".lock"}
    holder = subprocess.Popen(
        [sys.executable, "-c", hold, str(run)], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        assert holder.stdout.readline().strip() == b"locked"
        code = main(["export", str(run), "--precision", "int8", "--target", "cpu"])
        assert code == 8
        assert f"is in use by PID {holder.pid} (build-engine" in capsys.readouterr().err
    finally:
        holder.kill()
        holder.wait()
    after = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file() and p.name in before}
    assert after == before


def test_build_engine_on_a_run_another_process_writes_is_refused(run: Path, capsys) -> None:
    """export + build-engine on one run folder: the build waits for no one and changes nothing."""
    import subprocess
    import sys

    hold = (
        "import sys; from vggdeploy.runlock import run_lock\n"
        "with run_lock(sys.argv[1], 'export'):\n"
        "    print('locked', flush=True); sys.stdin.read()\n"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", hold, str(run)], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        assert holder.stdout.readline().strip() == b"locked"
        code = main(["build-engine", str(run), "--backend", "inductor", "-o", str(run / "m.pt2")])
        assert code == 8
        assert f"is in use by PID {holder.pid} (export" in capsys.readouterr().err
        assert not (run / "m.pt2").exists()
    finally:
        holder.kill()
        holder.wait()
