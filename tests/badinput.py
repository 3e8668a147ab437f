"""The bad-input sweep's machinery: run a CLI case, check the contract, record a report row.

Contract for every case: the expected non-zero exit code, a message that names the culprit, no
Python traceback (unless --debug), protected files byte-for-byte unchanged and no temp files
left behind. `python scripts/bad_inputs_report.py` runs the sweep and writes docs/BAD_INPUTS.md
from the recorded rows, so the table is produced by the tests, never by hand.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from vggdeploy.cli import main

REPORT_ENV = "VGGDEPLOY_BAD_INPUT_ROWS"  # a JSON-lines file the sweep appends its rows to


@dataclass
class Case:
    id: str
    what: str  # the bad input, in words
    argv: Callable[[dict], list[str]]  # ctx (tmp, fake_data, tiny_run, ...) -> CLI arguments
    code: int
    message: str  # regex the error output must match
    protect: Callable[[dict], list[Path]] = field(default=lambda ctx: [])
    setup: Callable[[dict], None] = field(default=lambda ctx: None)


def _digest(paths: list[Path]) -> dict[str, str | None]:
    return {
        str(p): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else None for p in paths
    }


def run_case(case: Case, ctx: dict, capsys) -> None:
    case.setup(ctx)
    argv = case.argv(ctx)
    protected = case.protect(ctx)
    before = _digest(protected)
    code = main(argv)
    captured = capsys.readouterr()
    err = captured.err
    assert code == case.code, f"{case.id}: exit {code}, expected {case.code}\n{err}"
    assert re.search(case.message, err, re.S), f"{case.id}: message {case.message!r} not in\n{err}"
    assert "Traceback" not in err, f"{case.id}: traceback shown\n{err}"
    assert _digest(protected) == before, f"{case.id}: a protected file changed"
    tmp_root = Path(ctx["tmp"])
    leftovers = [p for p in tmp_root.rglob("*.tmp")]
    assert not leftovers, f"{case.id}: temp files left: {leftovers}"
    record(case, argv, code, err, ctx)


def _normalise(text: str, ctx: dict) -> str:
    for key in ("tmp", "fake_data", "tiny_run"):
        if key in ctx:
            text = text.replace(str(ctx[key]), f"<{key}>")
    return text


def record(case: Case, argv: list[str], code: int, err: str, ctx: dict) -> None:
    path = os.environ.get(REPORT_ENV)
    if not path:
        return
    lines = [ln.strip() for ln in err.strip().splitlines() if ln.strip()]
    row = {
        "id": case.id,
        "what": case.what,
        "command": _normalise("vggdeploy " + " ".join(argv), ctx),
        "exit": code,
        "message": _normalise(" ".join(lines)[:300], ctx),
        "protected": len(case.protect(ctx)),
    }
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(row) + "\n")


def train_argv(ctx: dict, *extra: str, out: str = "out", data: str = "fake_data") -> list[str]:
    """`vggdeploy train` on 64 images for one epoch. ``out``: "run" is the tiny trained run, else a
    folder under the case's tmp; ``data``: "copy" is the case's own copy of the dataset."""
    target = ctx["tiny_run"] if out == "run" else ctx["tmp"] / out
    source = str(ctx["tmp"] / "data") if data == "copy" else str(ctx[data])
    return ["train", "--out", str(target), "--data-dir", source, "--epochs", "1",
            "--limit-train", "64", "--limit-test", "64", *extra]  # fmt: skip
