"""The bad-input sweep's context: where a case may write, the fake dataset and a tiny trained run
(a file that needs more, e.g. exported variants, defines its own ``ctx``)."""

from __future__ import annotations

import pytest


@pytest.fixture
def ctx(tmp_path, fake_data, tiny_run):
    return {"tmp": tmp_path, "fake_data": fake_data, "tiny_run": tiny_run}
