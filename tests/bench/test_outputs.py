"""Bench outputs: all-or-nothing publication, strict JSON, writability checked before measuring,
and a terminal table that fits 80 columns without cutting a number."""

from __future__ import annotations

import copy
import errno
import json
import re
import shutil
from pathlib import Path

import pytest
from rich.console import Console

from vggdeploy.bench import report
from vggdeploy.bench.report import rich_table, write_outputs
from vggdeploy.bench.run import BenchConfig, run_bench
from vggdeploy.errors import OutputError, UsageError


def strict_loads(text: str):
    def refuse(token: str):
        raise ValueError(f"non-standard JSON token {token}")

    return json.loads(text, parse_constant=refuse)


@pytest.fixture(scope="module")
def results(_trained_run: Path, fake_data: Path, tmp_path_factory) -> dict:
    run = tmp_path_factory.mktemp("bench-out") / "run"
    shutil.copytree(_trained_run, run)
    cfg = BenchConfig(
        run=run,
        backends=["torch"],
        precisions=["fp32"],
        batch_sizes=[1, 2],
        warmup=0,
        iters=2,
        repeats=1,
        threads=1,
        limit_test=16,
        data_dir=str(fake_data),
    )
    return run_bench(cfg)


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def test_a_full_disk_mid_write_leaves_the_previous_outputs_whole(results, tmp_path, monkeypatch):
    out = tmp_path / "bench"
    write_outputs(results, out)
    before = _snapshot(out)
    assert {"results.json", "report.md", "accuracy.png"} <= set(before)

    newer = copy.deepcopy(results)
    newer["created"] = "2099-01-01T00:00:00+00:00"
    real = report.write_text

    def full_disk(path, text):
        if Path(path).name == "report.md":  # the last file: JSON, CSV and plots are already out
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(path, text)

    monkeypatch.setattr(report, "write_text", full_disk)
    with pytest.raises(OutputError) as info:
        write_outputs(newer, out)
    assert info.value.exit_code == 8 and "No space left" in str(info.value)
    assert str(out) in str(info.value)
    assert _snapshot(out) == before  # no new JSON beside old plots
    from vggdeploy.artifacts.written import RECORD

    hidden = [p.name for p in out.iterdir() if p.name.startswith(".")]
    assert hidden == [RECORD]  # no stage left; the record of what bench wrote (unchanged)


def test_outputs_are_published_together_and_stale_plots_go(results, tmp_path):
    out = tmp_path / "bench"
    write_outputs(results, out)
    (out / "notes.txt").write_text("the user's own file")
    without_accuracy = {**copy.deepcopy(results), "accuracy": []}
    paths = write_outputs(without_accuracy, out)
    assert "accuracy.png" not in paths and not (out / "accuracy.png").exists()  # not stale
    assert (out / "notes.txt").read_text() == "the user's own file"  # only bench's own files
    assert strict_loads((out / "results.json").read_text())["accuracy"] == []


def test_results_json_is_strict_json_with_null_for_undefined_numbers(results, tmp_path):
    doc = copy.deepcopy(results)
    doc["rows"][0]["speedup_vs_torch_fp32"] = float("nan")
    doc["accuracy"][0]["max_abs_diff"] = float("inf")
    doc["accuracy"][0]["cosine_min"] = float("-inf")
    paths = write_outputs(doc, tmp_path / "bench")
    data = strict_loads(paths["json"].read_text())
    assert data["rows"][0]["speedup_vs_torch_fp32"] is None
    assert data["accuracy"][0]["max_abs_diff"] is None
    assert data["accuracy"][0]["cosine_min"] is None
    assert data["rows"][1]["latency_ms"]["p50"] == results["rows"][1]["latency_ms"]["p50"]


def test_cli_checks_the_output_folder_before_measuring(results, tmp_path, monkeypatch, capsys):
    from vggdeploy.bench import progress
    from vggdeploy.cli import main

    def must_not_run(cfg):
        raise AssertionError("measured although the results could not be written")

    monkeypatch.setattr(progress, "run_bench", must_not_run)
    (tmp_path / "f").write_text("a file")
    argv = ["bench", results["run"], "--backends", "torch", "--out", str(tmp_path / "f" / "b")]
    assert main(argv) == 8
    assert "bench output folder" in capsys.readouterr().err


def test_absurd_batch_is_refused_before_loading_data(results):
    cfg = BenchConfig(run=Path(results["run"]), backends=["torch"], batch_sizes=[1, 10**9])
    with pytest.raises(UsageError, match=r"--batch-sizes 1000000000: .* GiB.*memory") as info:
        run_bench(cfg)  # no data_dir: refused before the dataset is looked for
    assert "at most" in info.value.hint


def _wide(results: dict) -> dict:
    """Numbers as long as real ones get: a big batch, a tiny latency, a long artifact name."""
    doc = copy.deepcopy(results)
    for row in doc["rows"]:
        row["variant"] = "model.int8-cpu.tensorrt-ep.extra-long-name"
        row["batch"] = 65536
        row["throughput_ips"] = 5461333333.3
        row["latency_ms"]["p50"] = 1234.5678
        row["artifact_mb"] = 12345.67
    doc["rows"][-1]["status"], doc["rows"][-1]["reason"] = "failed", "RuntimeError: " + "x" * 200
    return doc


@pytest.mark.parametrize("width", [80, 100])
def test_terminal_table_fits_the_terminal_and_keeps_every_number_whole(results, width):
    doc = _wide(results)
    console = Console(width=width, record=True, color_system=None)
    table, _notes = rich_table(doc, width=width)
    console.print(table)
    text = console.export_text()
    assert max(len(line) for line in text.splitlines()) <= width
    assert "…" not in text
    for row in doc["rows"][:-1]:
        for value in (
            str(row["batch"]),
            f"{row['latency_ms']['p50']:.3f}",
            f"{row['throughput_ips']:.0f}",
            f"{row['speedup_vs_torch_fp32']:.2f}",
        ):
            assert re.search(rf"(?<![\d.]){re.escape(value)}(?![\d.])", text), value


def test_wide_terminal_keeps_every_column(results):
    console = Console(width=200, record=True, color_system=None)
    table, _ = rich_table(results, width=200)
    console.print(table)
    header = console.export_text()
    for col in ("backend", "prec", "variant", "p50 ms", "p99 ms", "MB", "status"):
        assert col in header
