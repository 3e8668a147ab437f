"""Every command's --device goes through the one parser (backends/base.py:parse_device): a
malformed device is exit 2 naming --device and the valid forms, never a torch traceback.

The commands are found by walking the click group for a ``device`` option, so a new command
with --device is covered without editing this file."""

from __future__ import annotations

import click
import pytest

from vggdeploy.backends.base import parse_device
from vggdeploy.cli import COMMANDS, cli, main
from vggdeploy.errors import UsageError
from vggdeploy.train.config import TrainConfig

BAD = ("gpu", "cuda:x", "cuda0", "cuda:-1", "cpu:0", "tpu", "cuda:1.5", "-")


def _device_commands() -> list[str]:
    ctx = click.Context(cli)
    return [
        name
        for name in sorted(COMMANDS)
        if any(p.name == "device" for p in cli.get_command(ctx, name).params)
    ]


def _argv(name: str, tmp) -> list[str]:  # noqa: ANN001
    """The command with its required arguments (files that need not exist: the device is
    checked before any file is read)."""
    run = tmp / "run"
    if name == "train":
        return ["train", "--out", str(tmp / "out")]
    if name == "build-engine":
        return ["build-engine", str(run / "model.onnx")]
    return [name, str(run)]


def test_the_commands_with_device_are_found() -> None:
    assert {"train", "bench", "build-engine"} <= set(_device_commands())


@pytest.mark.parametrize("bad", BAD, ids=[repr(b) for b in BAD])  # "gpu" is a marker name
@pytest.mark.parametrize("name", _device_commands())
def test_bad_device_is_exit_2_naming_the_option(name, bad, tmp_path, capsys) -> None:
    extra = [["--backend", "inductor"], []] if name == "build-engine" else [[]]
    for more in extra:
        code = main([*_argv(name, tmp_path), *more, "--device", bad])
        err = capsys.readouterr().err
        assert code == 2, err
        assert "--device" in err and "cpu, cuda, cuda:N or auto" in err, err
        assert "Traceback" not in err
        assert not (tmp_path / "out").exists()  # nothing written


@pytest.mark.parametrize("bad", BAD, ids=[repr(b) for b in BAD])  # "gpu" is a marker name
def test_train_config_refuses_a_bad_device_from_python(bad) -> None:
    with pytest.raises(UsageError, match="--device"):
        TrainConfig(device=bad)


@pytest.mark.parametrize("given", ["cpu", "CPU", "cuda", "cuda:1", "1", " cuda:0 "])
def test_train_config_keeps_the_parsed_device(given) -> None:
    assert TrainConfig(device=given).device == str(parse_device(given))
