"""The engine-compatibility policy: every case of compat_cases.json through the Python checker.

The same table runs through the C++ checker (vgg_common_selftest, tests/cpp/test_aoti.py), so
Python and C++ accept and refuse exactly the same plans. Each case is judged twice here: by the
policy function and end to end by ``check_engine`` on a stand-in plan whose sidecar records the
case's build facts.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from engine_fakes import stand_in_engine

from vggdeploy.backends.tensorrt.compat import CASES_FILE, REASONS, judge
from vggdeploy.backends.tensorrt.sidecar import DeviceInfo, check_engine
from vggdeploy.errors import ArtifactError
from vggdeploy.models import make_spec

TABLE = json.loads(CASES_FILE.read_text())
CASES = TABLE["cases"]


def test_table_cites_nvidia_and_covers_every_reason_and_decision():
    assert "docs.nvidia.com/deeplearning/tensorrt" in TABLE["$comment"]
    assert {c["reason"] for c in CASES} == set(REASONS)
    assert {c["expect"] for c in CASES} == {"accept", "warn", "refuse"}
    assert len({c["name"] for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_policy(case):
    built, here = case["built"], case["runtime"]
    verdict = judge(
        built_version=built["tensorrt"],
        version_compatible=built["version_compatible"],
        hardware_compat=built["hardware_compat"],
        built_gpu=built["gpu"],
        built_cc=tuple(built["compute_capability"]),
        runtime_version=here["tensorrt"],
        runtime_gpu=here["gpu"],
        runtime_cc=tuple(here["compute_capability"]),
    )
    assert (verdict.decision, verdict.reason) == (case["expect"], case["reason"])


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_check_engine_follows_the_table(case, tmp_path: Path, caplog):
    built, here = case["built"], case["runtime"]
    engine = stand_in_engine(
        tmp_path / "m.engine",
        make_spec(),
        trt_version=built["tensorrt"],
        device=DeviceInfo(built["gpu"], tuple(built["compute_capability"])),
        version_compatible=built["version_compatible"],
        hardware_compat=built["hardware_compat"],
    )
    device = DeviceInfo(here["gpu"], tuple(here["compute_capability"]))
    if case["expect"] == "refuse":
        with pytest.raises(ArtifactError) as err:
            check_engine(engine, trt_version=here["tensorrt"], device=device)
        assert str(engine) in err.value.message and "vggdeploy build-engine" in err.value.hint
        return
    with caplog.at_level(logging.WARNING):
        check_engine(engine, trt_version=here["tensorrt"], device=device)
    warned = "not recommend moving plans between GPU models" in caplog.text
    assert warned == (case["expect"] == "warn")
