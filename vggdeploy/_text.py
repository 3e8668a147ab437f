"""Text that vggdeploy did not write (class names, file names, layer names, library messages)
on its way into an output: one rule to escape it and one rule for names that enter a model.

* :func:`escape`: every character that could move the cursor, end a record or hide text - the
  Unicode categories Cc (control: newline, tab, ESC of ANSI sequences, ...), Cf (format: bidi
  overrides, zero-width joiners), Zl/Zp (line/paragraph separators) and the unassigned/surrogate
  ones - becomes a visible ``\\xNN`` / ``\\uNNNN`` escape. Backslashes stay as they are, so
  escaping twice changes nothing (a message may quote an already escaped name). Terminal
  tables, CSV, report.md and messages pass foreign text through it, so every machine format
  keeps one record per item and nothing printed can forge a row.
* :func:`md_cell`: :func:`escape` plus the Markdown table separator ``|``.
* :func:`label_problem`: a class name must be printable text a line-based format can hold as is
  (``labels.txt`` of Triton has one name per line): refused where names enter (ModelSpec).
"""

from __future__ import annotations

import unicodedata

_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Co", "Cs", "Cn"})
MAX_LABEL_LEN = 256


def _unsafe(ch: str) -> bool:
    return unicodedata.category(ch) in _UNSAFE_CATEGORIES


def escape(text: object) -> str:
    """``text`` with every unsafe character (see module doc) as a visible escape."""
    s = str(text)
    if not any(_unsafe(c) for c in s):
        return s  # idempotent: escaping an escaped text changes nothing
    out = []
    for c in s:
        if _unsafe(c):
            code = ord(c)
            out.append(
                f"\\x{code:02x}"
                if code < 0x100
                else f"\\u{code:04x}"
                if code < 0x10000
                else f"\\U{code:08x}"
            )
        else:
            out.append(c)
    return "".join(out)


def escape_lines(text: object) -> str:
    """:func:`escape` on each line of ``text``, keeping its line breaks (messages of several
    lines that quote foreign names)."""
    return "\n".join(escape(line) for line in str(text).split("\n"))


def md_cell(text: object) -> str:
    """``text`` safe inside one Markdown table cell."""
    return escape(text).replace("|", "\\|")


def label_problem(name: str) -> str | None:
    """Why ``name`` cannot be a class name, or None."""
    if not name or not name.strip():
        return "is empty"
    if name != name.strip():
        return "starts or ends with white space"
    if len(name) > MAX_LABEL_LEN:
        return f"is longer than {MAX_LABEL_LEN} characters"
    bad = [c for c in name if _unsafe(c) or (unicodedata.category(c).startswith("Z") and c != " ")]
    if bad:
        return f"contains the non-printing character(s) {escape(''.join(dict.fromkeys(bad)))}"
    return None


__all__ = ["MAX_LABEL_LEN", "escape", "escape_lines", "label_problem", "md_cell"]
