#!/usr/bin/env bash
# The test suite: set-up, then pytest. Slow and GPU tests are skipped (reasons shown);
# pass --run-slow / --run-gpu to include them. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m pytest -q "$@"
