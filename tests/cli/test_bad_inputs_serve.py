"""Bad inputs of `vggdeploy serve`, all refused before a server starts (contract: badinput.py).

The numeric cases are generated from the command's own click options (every `Number` option:
below its minimum, above its maximum, NaN, a fraction, text); the others name each way a start
can be refused: a port in use (each port option), one port twice, a model name Triton or the
Unix socket paths refuse, an unknown backend or device, a missing, corrupt or stale artifact.
"""

from __future__ import annotations

import math
import shutil
import socket
from pathlib import Path

import pytest
from badinput import Case, run_case

from vggdeploy.cli import options
from vggdeploy.cli.serve import serve

COMMITTED_MODEL = Path(__file__).resolve().parents[1] / "assets" / "vgg-mini-default"
PORT_OPTIONS = ("--http-port", "--grpc-port", "--metrics-port")


@pytest.fixture
def ctx(tmp_path):
    run = tmp_path / "served"
    run.mkdir()
    for name in ("model.json", "model.safetensors"):
        shutil.copy2(COMMITTED_MODEL / name, run / name)
    return {"tmp": tmp_path, "run": run}


def _serve(c: dict, *extra: str, artifact: Path | None = None) -> list[str]:
    return ["serve", str(artifact or c["run"]), *extra]


def _number_cases() -> list[Case]:
    cases = []
    for param in serve.params:
        kind = getattr(param, "type", None)
        if not isinstance(kind, options.Number):
            continue
        opt = param.opts[0]
        bad: list[tuple[str, str]] = [("nan", "not a valid integer"), ("abc", "not a valid")]
        if kind.kind is int:
            bad.append(("1.5", "not a valid integer"))
        if kind.min is not None:
            bad.append((str(int(kind.min) - 1), f">= {int(kind.min)}"))
        if kind.max is not None and math.isfinite(kind.max):
            bad.append((str(int(kind.max) + 1), f"<= {int(kind.max)}"))
        for value, message in bad:
            cases.append(
                Case(
                    f"serve{opt}={value}",
                    f"serve {opt} {value}",
                    lambda c, o=opt, v=value: _serve(c, o, v),
                    2,
                    f"{opt}.*{message}",
                )
            )
    return cases


def _busy_port(c: dict) -> int:
    """A port something listens on while the case runs (kept open in ctx)."""
    if "busy" not in c:
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen()
        c["busy"] = s
    return c["busy"].getsockname()[1]


def _corrupt(c: dict) -> None:
    (c["run"] / "model.safetensors").write_bytes(b"\0" * 64)


def _stale_onnx(c: dict) -> None:
    from onnx_artifacts import export_fp32

    export_fp32(c["run"])
    weights = c["run"] / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-4] + b"\1\1\1\1")


CASES = _number_cases() + [
    *(
        Case(
            f"serve{opt}-in-use",
            f"serve {opt} on a port something listens on",
            lambda c, o=opt: _serve(c, o, str(_busy_port(c))),
            2,
            f"{opt} \\d+ is already in use",
        )
        for opt in PORT_OPTIONS
    ),
    Case(
        "serve-same-port-twice",
        "serve --http-port P --grpc-port P",
        lambda c: _serve(c, "--http-port", "18555", "--grpc-port", "18555"),
        2,
        "--http-port and --grpc-port are both 18555",
    ),
    Case(
        "serve-model-name-slash",
        "serve --model-name a/b",
        lambda c: _serve(c, "--model-name", "a/b"),
        2,
        "--model-name 'a/b' is not a valid Triton model name",
    ),
    Case(
        "serve-model-name-too-long",
        "serve --model-name of 120 characters",
        lambda c: _serve(c, "--model-name", "m" * 120),
        2,
        "--model-name .* too long.*Unix socket",
    ),
    Case(
        "serve-backend-unknown",
        "serve --backend tflite",
        lambda c: _serve(c, "--backend", "tflite"),
        2,
        "--backend",
    ),
    Case(
        "serve-backend-without-artifact",
        "serve RUN --backend openvino (no IR in the run folder)",
        lambda c: _serve(c, "--backend", "openvino"),
        4,
        "no openvino model .* in the run folder(.|\n)*build-engine",
    ),
    Case(
        "serve-device-nonsense",
        "serve --device gpu7",
        lambda c: _serve(c, "--device", "gpu7"),
        2,
        "gpu7",
    ),
    Case(
        "serve-missing-artifact",
        "serve a path that does not exist",
        lambda c: _serve(c, artifact=c["tmp"] / "nowhere"),
        4,
        "model not found: .*nowhere",
    ),
    Case(
        "serve-corrupt-checkpoint",
        "serve a run folder whose weights are not safetensors",
        lambda c: _serve(c),
        4,
        "model.safetensors",
        setup=_corrupt,
    ),
    Case(
        "serve-stale-onnx",
        "serve an ONNX model older than its run's checkpoint",
        lambda c: _serve(c, artifact=c["run"] / "model.onnx"),
        4,
        "stale artifact",
        setup=_stale_onnx,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, ctx: dict, capsys) -> None:
    pytest.importorskip("pytriton", reason="the serve extra: pip install 'vggdeploy[serve]'")
    try:
        run_case(case, ctx, capsys)
    finally:
        if "busy" in ctx:
            ctx["busy"].close()


def test_case_ids_are_unique() -> None:
    assert len({c.id for c in CASES}) == len(CASES)
