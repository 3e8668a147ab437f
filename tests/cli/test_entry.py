"""The `vggdeploy` entry point: closed pipes, SIGTERM, NO_COLOR, strict JSON, stdin and FIFOs."""

from __future__ import annotations

import io
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vggdeploy.cli import EXIT_TERMINATED, main
from vggdeploy.errors import UsageError

from conftest import make_images

ROOT = Path(__file__).resolve().parents[2]


def _cli(*args: str, **kw) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "vggdeploy", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        **kw,
    )


def _strict_json(text: str):
    def refuse(name: str):
        raise ValueError(f"non-standard JSON constant {name}")

    return json.loads(text, parse_constant=refuse)


@pytest.mark.parametrize("read_first", [False, True], ids=["pipe-to-true", "pipe-to-head"])
def test_closed_stdout_ends_quietly(tiny_run: Path, tmp_path: Path, read_first: bool) -> None:
    """`vggdeploy predict ... | true` and `| head -1`: exit 0 and nothing on stderr (was: exit 1
    when the reader was gone before the output)."""
    np.save(tmp_path / "many.npy", make_images(1500, seed=8)[0])  # ~800 kB of JSON, > a pipe
    proc = _cli("predict", str(tiny_run), str(tmp_path / "many.npy"), "--json")
    try:
        if read_first:
            assert proc.stdout.readline().strip() == b"["
        proc.stdout.close()  # the reader goes away
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 0, err.decode()
    assert err.decode().strip() == ""


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_sigterm_is_handled_like_sigint(tiny_run: Path, tmp_path: Path) -> None:
    """SIGTERM while `predict` waits on its input: a message and exit 143, no traceback."""
    fifo = tmp_path / "slow.png"
    os.mkfifo(fifo)
    proc = _cli("predict", str(tiny_run), str(fifo))
    writer = None
    try:
        deadline = time.monotonic() + 120
        while writer is None:  # the FIFO opens for writing once predict opens it for reading
            try:
                writer = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            except OSError:
                assert proc.poll() is None, proc.stderr.read().decode()
                assert time.monotonic() < deadline, "predict never opened its input"
                time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
        if writer is not None:
            os.close(writer)
    assert proc.returncode == EXIT_TERMINATED == 143, err.decode()
    assert "terminated" in err.decode() and "Traceback" not in err.decode()
    assert out == b""


def test_no_color_is_honoured_for_errors(monkeypatch, capsys) -> None:
    import click._compat

    monkeypatch.setattr(click._compat, "isatty", lambda stream: True)  # as on a terminal
    argv = ["summary", "--preset", "nope"]
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert main(argv) == 2
    assert "\x1b[" in capsys.readouterr().err  # red on a terminal ...
    monkeypatch.setenv("NO_COLOR", "1")
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "\x1b[" not in err and "error: unknown preset 'nope'" in err  # ... unless NO_COLOR


def test_json_output_is_strict_and_stdin_is_read(tiny_run, tmp_path, monkeypatch, capsys):
    images = make_images(3, seed=9)[0]
    buf = io.BytesIO()
    Image.fromarray(images[0]).save(buf, "PNG")
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(buf.getvalue())))
    np.save(tmp_path / "b.npy", images[1:])
    assert main(["predict", str(tiny_run), "-", str(tmp_path / "b.npy"), "--json"]) == 0
    records = _strict_json(capsys.readouterr().out)
    assert [r["source"] for r in records] == [
        "<stdin>",
        f"{tmp_path / 'b.npy'}[0]",
        f"{tmp_path / 'b.npy'}[1]",
    ]
    assert all(0.0 <= r["probability"] <= 1.0 for r in records)


def test_sigterm_handler_is_restored(tiny_run: Path) -> None:
    before = signal.getsignal(signal.SIGTERM)
    assert main(["summary"]) == 0
    assert signal.getsignal(signal.SIGTERM) is before
    with pytest.raises(UsageError):  # --debug re-raises: the handler is restored on that path too
        main(["--debug", "summary", "--preset", "nope"])
    assert signal.getsignal(signal.SIGTERM) is before


def test_readme_exit_code_table_matches_the_code() -> None:
    from vggdeploy.cli import EXIT_INTERRUPTED
    from vggdeploy.errors import EXIT_CODES

    text = (ROOT / "README.md").read_text()
    section = text.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    cells = [line.split("|")[1].strip() for line in section.splitlines() if line.startswith("|")]
    rows = {int(c) for c in cells if c.isdigit()}
    assert rows == {0, *EXIT_CODES, EXIT_INTERRUPTED, EXIT_TERMINATED}


def test_suggested_commands_are_shell_quoted(tiny_run: Path, tmp_path: Path, capsys) -> None:
    import shutil

    spaced = tmp_path / "my run's copy"
    shutil.copytree(tiny_run, spaced)
    (spaced / "model.onnx").unlink(missing_ok=True)
    assert main(["triton-repo", str(spaced), "-o", str(tmp_path / "repo")]) == 4
    err = capsys.readouterr().err
    assert f"vggdeploy export {shlex.quote(str(spaced))}" in err, err
    assert main(["predict", str(tiny_run), str(spaced)]) == 2  # a directory given as an image
    assert f"e.g. {shlex.quote(str(spaced))}/*.png" in capsys.readouterr().err
