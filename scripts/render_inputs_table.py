"""Write README's accepted-inputs tables from vggdeploy/serve/inputs/contract.py (the one home of
the contract). Usage: .venv/bin/python scripts/render_inputs_table.py [--check]

--check exits 1 when README differs (tests/serve/test_inputs_contract.py checks the same)."""

from __future__ import annotations

import sys
from pathlib import Path

from vggdeploy.serve.inputs.contract import BEGIN, END, render_markdown

README = Path(__file__).resolve().parents[1] / "README.md"


def rendered(text: str) -> str:
    start, stop = text.index(BEGIN), text.index(END) + len(END)
    return text[:start] + render_markdown() + text[stop:]


def main(argv: list[str]) -> int:
    text = README.read_text(encoding="utf-8")
    new = rendered(text)
    if "--check" in argv:
        if new != text:
            print("README's accepted-inputs tables differ from the contract: run "
                  "scripts/render_inputs_table.py", file=sys.stderr)  # fmt: skip
            return 1
        return 0
    README.write_text(new, encoding="utf-8")
    print(f"wrote the accepted-inputs tables into {README}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
