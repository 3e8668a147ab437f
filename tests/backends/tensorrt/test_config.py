"""The builder configuration alone (config.create_config), on the recording double.

The same cases (tests/trt_config_check.py) run against real TensorRT in tests/gpu; here the double
of each flavour answers the getters. What is proven: every option reaches the config, nothing else
is set (no precision flag), and making a config needs no network and builds nothing."""

from __future__ import annotations

import pytest
from trt_config_check import CASES, CHW, INPUT, check_config
from trt_double import make_tensorrt

from vggdeploy.backends.tensorrt.config import create_config
from vggdeploy.errors import UsageError


@pytest.mark.parametrize("flavour", ["10", "11"])
@pytest.mark.parametrize("case", list(CASES))
def test_config_reads_back_the_options(flavour, case, tmp_path):
    trt = make_tensorrt(flavour)
    builder = trt.Builder(trt.Logger())
    check_config(trt, builder, CASES[case], tmp_path)
    made_by = trt.recorder.names()
    assert "create_network" not in made_by and "build_serialized_network" not in made_by


def test_only_the_asked_for_settings_are_made(tmp_path):
    """The defaults case sets exactly the profile and the verbosity - TensorRT's defaults stay."""
    trt = make_tensorrt("11")
    create_config(
        trt, trt.Builder(trt.Logger()), input_name=INPUT, chw=CHW, min_batch=1, opt_batch=1,
        max_batch=1,
    )  # fmt: skip
    config_calls = [n for n in trt.recorder.names() if n.startswith("config.")]
    assert config_calls == ["config.add_optimization_profile", "config.profiling_verbosity="]


def test_progress_monitor_forwards_builder_phases(tmp_path):
    trt = make_tensorrt("10")
    events = []
    made = create_config(
        trt, trt.Builder(trt.Logger()), input_name=INPUT, chw=CHW, min_batch=1, opt_batch=1,
        max_batch=1, progress=events.append,
    )  # fmt: skip
    made.monitor.phase_start("Building engine", None, 2)
    assert made.monitor.step_complete("Building engine", 0) is True
    made.monitor.phase_finish("Building engine")
    assert [(e.kind, e.done, e.total) for e in events] == [
        ("start", 0, 2),
        ("step", 1, 2),
        ("finish", 2, 2),
    ]


def test_hardware_level_missing_in_this_tensorrt_is_a_usage_error():
    trt = make_tensorrt("10", "10.0.1")
    type.__delattr__(trt.HardwareCompatibilityLevel, "SAME_COMPUTE_CAPABILITY")  # as in 10.0
    with pytest.raises(UsageError, match="SAME_COMPUTE_CAPABILITY is missing in 10.0.1"):
        create_config(
            trt, trt.Builder(trt.Logger()), input_name=INPUT, chw=CHW, min_batch=1, opt_batch=1,
            max_batch=1, hardware_compat="same-cc",
        )  # fmt: skip
