"""Run ``vggdeploy serve`` in a child process and wait until it is ready (tests, benchmarks).

Every wait is bounded; :meth:`ServerProcess.stop` signals the server (SIGTERM by default, so it
drains) and, if it has not exited within the timeout, kills its whole process group (the child
runs in a session of its own, so a terminal's Ctrl-C never reaches it by accident).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

READY_PREFIX = "ready: model"


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """``count`` distinct ports the OS reports free now (bound to port 0, then released)."""
    socks = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((host, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


@dataclass
class ServerProcess:
    proc: subprocess.Popen[str]
    http_port: int
    grpc_port: int
    metrics_port: int
    host: str = "127.0.0.1"
    output: list[str] = field(default_factory=list)  # stdout and stderr lines, in order
    _ready: threading.Event = field(default_factory=threading.Event)

    @property
    def http_url(self) -> str:
        return f"{self.host}:{self.http_port}"

    @property
    def grpc_url(self) -> str:
        return f"{self.host}:{self.grpc_port}"

    @property
    def pid(self) -> int:
        return self.proc.pid

    def text(self) -> str:
        return "".join(self.output)

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.output.append(line)
            if line.startswith(READY_PREFIX):
                self._ready.set()

    def wait_ready(self, timeout_s: float) -> None:
        """Return once the server printed its ready line; RuntimeError (with its output) if it
        exited or did not get ready within ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while not self._ready.wait(0.05):
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"vggdeploy serve exited with {self.proc.returncode}:\n{self.text()}"
                )
            if time.monotonic() > deadline:
                self.stop(timeout_s=10)
                raise RuntimeError(f"vggdeploy serve not ready after {timeout_s} s:\n{self.text()}")

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 60) -> int:
        """Signal the server, wait for its exit code; kill its process group after timeout_s."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                with _suppress_lookup():
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        return int(self.proc.returncode)

    def kill_group(self) -> None:
        """Last resort for a teardown: SIGKILL to every process of the server's session."""
        with _suppress_lookup():
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)


class _suppress_lookup:
    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type, exc, tb) -> bool:  # type: ignore[no-untyped-def]
        return exc_type is not None and issubclass(exc_type, (ProcessLookupError, PermissionError))


def start_server(
    artifact: str | os.PathLike[str],
    *,
    args: Sequence[str] = (),
    host: str = "127.0.0.1",
    ports: Sequence[int] | None = None,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
) -> ServerProcess:
    """Start ``python -m vggdeploy serve ARTIFACT`` on free (or given) ports; not yet ready."""
    http, grpc, metrics = ports or free_ports(3, host)
    cmd = [
        sys.executable,
        "-m",
        "vggdeploy",
        "serve",
        str(Path(artifact)),
        "--host",
        host,
        "--http-port",
        str(http),
        "--grpc-port",
        str(grpc),
        "--metrics-port",
        str(metrics),
        *args,
    ]
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=dict(env) if env is not None else None,
        cwd=cwd,
        start_new_session=True,
    )
    server = ServerProcess(proc, http, grpc, metrics, host)
    threading.Thread(target=server._pump, name="serve-output", daemon=True).start()
    return server


__all__ = ["READY_PREFIX", "ServerProcess", "free_ports", "start_server"]
