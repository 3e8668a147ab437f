"""`vggdeploy debug-precision` end to end: the compact table, the summary, the files."""

from __future__ import annotations

import json
import shutil

import onnx

from vggdeploy.cli import main


def test_cli_fp16_with_sensitivity(debug_run, fake_data, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(debug_run, run)
    conv = next(n for n in onnx.load(str(run / "model.onnx")).graph.node if n.op_type == "Conv")
    argv = ["debug-precision", str(run), "--precision", "fp16", "--images", "64",
            "--data-dir", str(fake_data), "--sensitivity", "--layers", conv.output[0]]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "layer" in out and "SNR dB" in out and conv.name in out
    assert "no layer falls below 20 dB SNR" in out
    assert "keep nothing in FP32" in out  # a healthy FP16 variant meets the target as is
    report = json.loads((run / "debug" / "fp16.json").read_text())
    assert report["images"] == 64 and report["precision"] == "fp16"
    sens = report["sensitivity"]
    assert [r["layer"] for r in sens["layers"]] == [conv.name]
    assert sens["recommended_keep_fp32"] == [] and sens["baseline_meets_target"] is True
    assert (run / "debug" / "fp16.png").stat().st_size > 0
