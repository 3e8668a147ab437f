"""README's accepted-inputs tables are the contract in code (vggdeploy/serve/inputs/contract.py),
and the contract's rows are what the readers raise: one home per fact."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from vggdeploy.errors import UsageError
from vggdeploy.models.presets import make_spec
from vggdeploy.serve.inputs import to_batch
from vggdeploy.serve.inputs.contract import (
    LAYOUT_ROWS,
    ROWS,
    VALUE_ROWS,
    parse_markdown,
    render_markdown,
)

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
SPEC = make_spec("vgg-mini")


def test_readme_holds_the_rendered_contract() -> None:
    text = README.read_text(encoding="utf-8")
    assert render_markdown() in text, "README is stale: run scripts/render_inputs_table.py"
    parsed = parse_markdown(text)
    assert list(parsed) == [r.key for r in (*VALUE_ROWS, *LAYOUT_ROWS)]
    for key, (refused, reading) in parsed.items():
        assert (refused, reading) == (ROWS[key].refused, ROWS[key].reading), key


def test_render_script_check_mode() -> None:
    script = ROOT / "scripts" / "render_inputs_table.py"
    proc = subprocess.run([sys.executable, str(script), "--check"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


# one input per refusal row: the error's hint is the row's fix, word for word
REFUSALS = {
    "int-wide": np.full((28, 28), 256, np.int32),
    "float-negative": np.full((28, 28), -0.5, np.float32),
    "float-over-1": np.arange(784, dtype=np.float64).reshape(28, 28),
    "not-finite": np.full((28, 28), np.nan, np.float32),
    "other-dtype": np.zeros((28, 28), np.complex64),
    "dim": np.arange(784).reshape(28, 28).astype(np.uint8) % 31,
    "blank": np.full((28, 28), 9, np.uint8),
    "small": np.arange(28 * 7, dtype=np.uint8).reshape(28, 7),
    "CHW-or-NHW": np.zeros((3, 28, 28), np.uint8),
    "other-shape": np.zeros((28,), np.uint8),
}


@pytest.mark.parametrize("key", sorted(k for k, r in ROWS.items() if r.refused))
def test_every_refusal_row_gives_its_fix(key: str) -> None:
    if key == "preprocessed-mismatch":
        bad, stated = np.zeros((1, 1, 28, 28), np.float32), True
    else:
        bad, stated = REFUSALS[key], False
    with pytest.raises(UsageError) as info:
        to_batch(bad, SPEC, preprocessed=stated)
    assert info.value.hint == ROWS[key].reading and info.value.exit_code == 2
    assert info.value.message.startswith("images")  # names the input
