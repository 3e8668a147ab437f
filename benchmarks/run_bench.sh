#!/usr/bin/env bash
# Reproduce benchmarks/results/<machine>/ (see benchmarks/BENCHMARKS.md). Arguments go to run_bench.py.
# PYTHON defaults to the project's venv if there is one, else python3.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
python="${PYTHON:-}"
if [[ -z "$python" ]]; then
  if [[ -x "$root/.venv/bin/python" ]]; then python="$root/.venv/bin/python"; else python=python3; fi
fi
export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}"
exec "$python" "$here/run_bench.py" "$@"
