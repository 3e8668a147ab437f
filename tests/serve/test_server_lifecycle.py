"""`vggdeploy serve` start and stop: ready means ready, refusals before start with their exit codes,
SIGTERM / Ctrl-C drain in-flight requests and leave no process, shared memory or temp folder."""

from __future__ import annotations

import os
import re
import signal
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pytriton", reason="the serve extra: pip install 'vggdeploy[serve]'")
pytest.importorskip("tritonclient.grpc")
from server_helpers import copy_model, fashion_test_images, infer, png_bytes  # noqa: E402

from vggdeploy.cli import EXIT_INTERRUPTED, EXIT_TERMINATED, main  # noqa: E402
from vggdeploy.serve.inputs import to_batch  # noqa: E402
from vggdeploy.serve.launch import free_ports, start_server  # noqa: E402
from vggdeploy.serve.predictor import load  # noqa: E402

READY_TIMEOUT_S = 90
IN_FLIGHT_MARGIN_S = 0.05
IN_FLIGHT_CLIENTS = 8
# what Triton answers to a request that arrives once it is stopping
STOPPING = r"Server is stopping|unknown model|UNAVAILABLE|Socket closed|failed to connect"


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    return copy_model(tmp_path / "fmnist-default")


@pytest.fixture
def isolated_env(tmp_path: Path) -> dict[str, str]:
    """TMPDIR and the cache home of the server are folders of this test (checked empty after)."""
    env = dict(os.environ)
    for key in ("TMPDIR", "XDG_CACHE_HOME"):
        (tmp_path / key).mkdir()
        env[key] = str(tmp_path / key)
    return env


def descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (from /proc's parent links)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def assert_no_leftovers(
    pids: set[int], shm_before: set[str], tmp_before: set[str], env: dict[str, str]
) -> None:
    deadline = time.monotonic() + 5  # orphans get a moment to finish exiting
    while any(alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [p for p in pids if alive(p)], "processes of the server are still running"
    assert set(os.listdir("/dev/shm")) - shm_before == set(), "shared memory left behind"
    for key in ("TMPDIR", "XDG_CACHE_HOME"):
        assert list(Path(env[key]).iterdir()) == [], f"left in {key}"
    # this TMPDIR is too long for the server's Unix sockets: its workspace went to /tmp
    assert serve_folders() == tmp_before, "a vggdeploy-serve-* folder was left in /tmp"


def serve_folders() -> set[str]:
    return {p.name for p in Path("/tmp").glob("vggdeploy-serve-*")}


def test_ready_means_ready_then_sigterm_drains(model_dir, isolated_env) -> None:
    """Poll /v2/health/ready from the start: the first 'ready' is followed at once by a correct
    answer. Then SIGTERM with requests in flight: all finish correctly, exit 143, no leftovers."""
    images = fashion_test_images(160)
    with load(model_dir) as predictor:
        want = predictor.predict([png_bytes(im) for im in images]).class_ids
        tensors = to_batch(images, predictor.spec)[0]
    shm_before, tmp_before = set(os.listdir("/dev/shm")), serve_folders()
    server = start_server(model_dir, env=isolated_env)
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not health_ready(server):
            assert server.proc.poll() is None, server.text()
            assert time.monotonic() < deadline, "never ready"
            time.sleep(0.01)
        got = infer(server, "grpc", image=[png_bytes(images[0])])  # immediately after ready
        assert int(got["class_id"][0, 0]) == int(want[0])
        server.wait_ready(10)
        assert "ready: model 'fmnist-default'" in server.text()
        assert "HTTP     http://127.0.0.1:" in server.text()
        pids = descendants(server.pid)
        assert pids, "tritonserver should run as a child of vggdeploy serve"

        outcomes = in_flight_then_signal(server, tensors, want, signal.SIGTERM)
        code = server.proc.wait(timeout=60)
    finally:
        if server.proc.poll() is None:
            server.kill_group()
    assert code == EXIT_TERMINATED, server.text()
    # sent well before the signal: in the server, so drained and answered; sent just before it
    # (the request may reach the server after it): answered, or refused as the server stops
    early = [o for o in outcomes if o[0] < -IN_FLIGHT_MARGIN_S]
    assert early and all(o[2] == "ok" for o in early), [o for o in early if o[2] != "ok"]
    assert any(o[1] > 0 for o in early), "no request was in flight at the signal"
    late = [o for o in outcomes if o[0] >= -IN_FLIGHT_MARGIN_S and o[2] != "ok"]
    assert all(re.search(STOPPING, o[2]) for o in late), late
    assert_no_leftovers(pids | {server.pid}, shm_before, tmp_before, isolated_env)


def test_ctrl_c_exits_130_without_leftovers(model_dir, isolated_env) -> None:
    shm_before, tmp_before = set(os.listdir("/dev/shm")), serve_folders()
    server = start_server(model_dir, env=isolated_env)
    try:
        server.wait_ready(READY_TIMEOUT_S)
        pids = descendants(server.pid)
        code = server.stop(signal.SIGINT, timeout_s=60)
    finally:
        if server.proc.poll() is None:
            server.kill_group()
    assert code == EXIT_INTERRUPTED, server.text()
    assert_no_leftovers(pids | {server.pid}, shm_before, tmp_before, isolated_env)


def in_flight_then_signal(server, tensors, want, sig) -> list[tuple[float, float, str]]:
    """8 clients send 64-image requests in a loop (so that several wait in the server's queue);
    the signal goes once 8 were answered. Returns (sent, finished, outcome) per request, times
    relative to the signal; the tensors are ready before the clock starts."""
    t_signal: list[float] = []
    outcomes: list[tuple[float, float, str]] = []
    answered = threading.Semaphore(0)

    def client(c: int) -> None:
        for r in range(60):  # bounded; the server goes away long before
            if t_signal and time.monotonic() > t_signal[0] + 0.05:
                return
            rows = np.arange(64) + (c * 7 + r) % (len(tensors) - 64)
            sent = time.monotonic()
            try:
                got = infer(server, "grpc", tensor=tensors[rows], outputs=("class_id",))
                outcome = "ok" if np.array_equal(got["class_id"][:, 0], want[rows]) else "wrong"
            except Exception as exc:
                outcome = f"error {exc}"[:160]
            outcomes.append((sent, time.monotonic(), outcome))
            answered.release()

    threads = [threading.Thread(target=client, args=(c,)) for c in range(IN_FLIGHT_CLIENTS)]
    for t in threads:
        t.start()
    for _ in range(8):
        assert answered.acquire(timeout=60)
    t_signal.append(time.monotonic())
    os.kill(server.pid, sig)
    for t in threads:
        t.join(timeout=90)
    assert not any(t.is_alive() for t in threads)
    t0 = t_signal[0]
    return [(s - t0, d - t0, o) for s, d, o in outcomes]


def health_ready(server) -> bool:
    try:
        url = f"http://{server.http_url}/v2/health/ready"
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError):
        return False


# ---- refused before start ------------------------------------------------------------------------
def serve_main(capsys, *argv: str) -> tuple[int, str]:
    http, grpc, metrics = free_ports(3)
    ports = ["--http-port", str(http), "--grpc-port", str(grpc), "--metrics-port", str(metrics)]
    code = main(["serve", *argv, *ports])
    return code, capsys.readouterr().err


def test_port_in_use_is_refused_before_start(model_dir, capsys) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code = main(["serve", str(model_dir), "--http-port", str(port)])
    err = capsys.readouterr().err
    assert code == 2
    assert f"--http-port {port} is already in use" in err


def test_same_port_twice_is_refused(model_dir, capsys) -> None:
    (port,) = free_ports(1)
    code = main(["serve", str(model_dir), "--http-port", str(port), "--grpc-port", str(port)])
    assert code == 2
    assert "both" in capsys.readouterr().err


def test_artifact_that_cannot_load_is_refused(model_dir, capsys) -> None:
    (model_dir / "model.safetensors").write_bytes(b"not safetensors")
    code, err = serve_main(capsys, str(model_dir))
    assert code == 4, err
    assert "model.safetensors" in err or str(model_dir) in err


def test_missing_artifact_is_refused(tmp_path, capsys) -> None:
    code, err = serve_main(capsys, str(tmp_path / "nowhere"))
    assert code == 4
    assert "not found" in err


def test_bad_model_name_is_refused(model_dir, capsys) -> None:
    code, err = serve_main(capsys, str(model_dir), "--model-name", "a/b")
    assert code == 2
    assert "--model-name" in err


def test_missing_extra_exits_5_with_the_install_command(model_dir, capsys, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "pytriton", None)  # import pytriton -> ImportError
    code, err = serve_main(capsys, str(model_dir))
    assert code == 5
    assert "pip install 'vggdeploy[serve]'" in err
