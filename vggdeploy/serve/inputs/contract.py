"""The accepted-inputs contract: how every dtype, value range, layout and image mode is read.

This module is the one home of the contract. README "Accepted inputs" is rendered from these
tables (:func:`render_markdown`; a test keeps the two equal) and the property test
(tests/serve/test_inputs_property.py) reads README's copy and checks that every generated encoding
of a real test image is answered with the class of its canonical uint8 reading, or refused with
the row's fix. The readers in this package raise refusals with :func:`refuse`, so the message a
user sees carries the row's fix word for word.

Every input is read in exactly one documented way, or refused (exit 2). The thresholds come from
the real Fashion-MNIST test set (10,000 images, measured 2026-12-02): every image's brightest pixel
is 254 or 255 and every image holds a 0 pixel; the median of the outermost pixel ring is at most 91
(all images) and at least 164 once inverted (255 - v).
"""

from __future__ import annotations

from dataclasses import dataclass

from vggdeploy.errors import UsageError

# An image whose brightest pixel stays under 1/8 of its type's full scale was scaled wrongly
# (a 0..1 image cast to integers, 8-bit values in a uint16 array, floats divided by 255 twice):
# no real Fashion-MNIST image comes near (brightest pixel >= 254 of 255).
DIM_LIMIT = 32  # of 255
# Light background: the median of the outermost pixel ring at or above this (of 255). Real test
# images: at most 91 (0 of 10,000 flagged); inverted ones: at least 164 (10,000 of 10,000).
LIGHT_BORDER = 128
MIN_SIDE = 8  # smaller images would be enlarged more than 3.5x: too little to classify
CHANNELS_LAST = (1, 2, 3, 4)  # gray, gray + alpha, RGB, RGBA
CHANNELS_FIRST = (1, 3, 4)  # gray + alpha channels-first (2 x H x W) is 2 grayscale images
FLOAT_TOLERANCE = 0.5 / 255  # floats may stray half a gray level outside 0..1 (interpolation)
# A preprocessed tensor may exceed its normalisation's range by this share of the range.
PREPROCESSED_SLACK = 0.01

EIGHT_BIT_MODES = (
    "L", "LA", "La", "P", "PA", "RGB", "RGBA", "RGBa", "RGBX", "CMYK", "YCbCr", "HSV", "LAB",
)  # fmt: skip
SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N")
INT_DTYPES = ("int8", "int16", "int32", "int64", "uint32", "uint64")
FLOAT_DTYPES = ("float16", "float32", "float64")


@dataclass(frozen=True)
class Row:
    """One line of the contract: inputs of ``kind`` with ``values`` are read as ``reading``, or
    refused with the fix ``reading`` when ``refused``."""

    key: str
    kind: str
    values: str
    reading: str
    refused: bool = False

    @property
    def outcome(self) -> str:
        return f"**refused**: {self.reading}" if self.refused else self.reading


_MODES_8 = ", ".join(EIGHT_BIT_MODES)
_INTS = ", ".join(INT_DTYPES)
_FLOATS = ", ".join(FLOAT_DTYPES)
_DIM_FIX = (
    "scale it to its type's full range: uint8 0..255 (a 0..1 image: multiply by 255 before "
    ".astype(numpy.uint8)), uint16 0..65535 (8-bit values in uint16: .astype(numpy.uint8)), "
    "floats 0..1"
)

# dtype / image mode x value range -> reading (the README table "What the values mean").
VALUE_ROWS: tuple[Row, ...] = (
    Row(
        "uint8",
        f"uint8 arrays; Pillow images and files in modes {_MODES_8}",
        "0..255",
        "8-bit pixels. Colour: Pillow's conversion to RGB (RGBA where transparent), transparent "
        "pixels composited onto black, then ITU-R 601 luma (Pillow's `L`)",
    ),
    Row("bool", "bool arrays; Pillow mode 1", "False, True", "1-bit: False = 0, True = 255"),
    Row(
        "uint16",
        "uint16 arrays; Pillow modes I;16, I;16L, I;16B, I;16N (16-bit PNG, TIFF)",
        "0..65535",
        "16-bit pixels, scaled to 8 bits: round(v / 257)",
    ),
    Row("int", f"{_INTS} arrays; Pillow mode I", "0..255", "8-bit pixels (the same values)"),
    Row(
        "int-wide",
        f"{_INTS} arrays; Pillow mode I",
        "a value < 0 or > 255",
        "16-bit pixels: pass them as uint16 (.astype(numpy.uint16)); others: scale to 0..255 and "
        "pass .astype(numpy.uint8)",
        refused=True,
    ),
    Row(
        "float",
        f"{_FLOATS} arrays; torch float tensors (bfloat16 too); Pillow mode F",
        "0..1",
        "pixel intensities, torchvision ToTensor's range: round(v × 255)",
    ),
    Row(
        "float-negative",
        f"{_FLOATS} arrays; torch float tensors (bfloat16 too); Pillow mode F",
        "a value < 0",
        "a normalised tensor? say so: predict(x, preprocessed=True) or `vggdeploy predict "
        "--preprocessed`; float images must lie in 0..1",
        refused=True,
    ),
    Row(
        "float-over-1",
        f"{_FLOATS} arrays; torch float tensors (bfloat16 too); Pillow mode F",
        "a value > 1, none < 0",
        "float images lie in 0..1 (ToTensor's range): divide 0..255 values by 255, or pass "
        ".astype(numpy.uint8)",
        refused=True,
    ),
    Row(
        "not-finite",
        "float arrays and tensors",
        "NaN or ±Inf",
        "drop or repair the images holding NaN/Inf (check what produced them)",
        refused=True,
    ),
    Row(
        "preprocessed",
        "float arrays with preprocessed=True (CLI `--preprocessed`)",
        "N×C×H×W of the model input, within the range its normalisation gives pixels 0..255",
        "the model's input tensor, used as it is",
    ),
    Row(
        "preprocessed-mismatch",
        "float arrays with preprocessed=True (CLI `--preprocessed`)",
        "another shape or dtype; values outside that range; no value as dark as pixel "
        f"{DIM_LIMIT}; a padding model's border not normalised black",
        "pass the output of vggdeploy.data.preprocess for this model, or drop preprocessed=True "
        "and pass the images",
        refused=True,
    ),
    Row(
        "other-dtype",
        "complex, object, string, void and datetime arrays; other Pillow modes",
        "any",
        "pass uint8 pixels (.astype(numpy.uint8)) or one of the types above",
        refused=True,
    ),
    Row(
        "dim",
        "any image, after the reading above",
        f"brightest pixel under {DIM_LIMIT} of 255 (1/8 of full scale)",
        _DIM_FIX,
        refused=True,
    ),
    Row(
        "blank",
        "any image",
        "every pixel equal",
        "check that the right file/array was passed; a blank image has no class",
        refused=True,
    ),
    Row(
        "small",
        "any image",
        f"a side under {MIN_SIDE} pixels",
        f"pass images of at least {MIN_SIDE}x{MIN_SIDE} pixels",
        refused=True,
    ),
    Row(
        "light-background",
        "any image",
        f"median of its outermost pixel ring ≥ {LIGHT_BORDER} of 255",
        "answered as it is (never inverted), with a warning in Predictions.warnings and on "
        "stderr: the model knows light garments on black",
    ),
)

# array shape -> images (the README table "Array layouts"; also .npy files and torch tensors).
LAYOUT_ROWS: tuple[Row, ...] = (
    Row("HW", "2-D", "H×W", "one grayscale image"),
    Row(
        "HWC",
        "3-D, last axis 1, 2, 3 or 4",
        "H×W×C",
        "one image: gray, gray + alpha, RGB, RGBA (a 28×28×3 array is ONE image)",
    ),
    Row(
        "NHW",
        "3-D, first axis not 3 or 4, last axis not 1-4",
        "N×H×W",
        "N grayscale images (1×H×W: one image)",
    ),
    Row(
        "CHW-or-NHW",
        "3-D, first axis 3 or 4, last axis not 1-4",
        "3×H×W, 4×H×W",
        "say which: 1×C×H×W (x[None]) or H×W×C for one colour image, N×1×H×W (x[:, None]) "
        "for grayscale images",
        refused=True,
    ),
    Row("NHWC", "4-D, last axis 1, 2, 3 or 4", "N×H×W×C", "N images, channels last"),
    Row(
        "NCHW",
        "4-D, axis 1 is 1, 3 or 4, last axis not 1-4",
        "N×C×H×W",
        "N images, channels first (a torch DataLoader batch)",
    ),
    Row(
        "other-shape",
        "any other shape (1-D, 5-D, other channel counts, no pixels)",
        "-",
        "pass H×W, H×W×C, N×H×W, N×H×W×C or N×C×H×W with C = 1 (gray), 3 (RGB) or 4 (RGBA); "
        "C = 2 (gray + alpha) channels last",
        refused=True,
    ),
)

ROWS: dict[str, Row] = {r.key: r for r in (*VALUE_ROWS, *LAYOUT_ROWS)}
assert len(ROWS) == len(VALUE_ROWS) + len(LAYOUT_ROWS), "contract keys must be unique"


def refuse(key: str, message: str) -> UsageError:
    """The UsageError of refusal row ``key``: ``message`` names the input, the hint is the fix."""
    row = ROWS[key]
    assert row.refused, key
    return UsageError(message, hint=row.reading)


# README rendering: the block between these markers is generated (scripts/render_inputs_table.py
# writes it; tests/serve/test_inputs_contract.py compares it).
BEGIN = "<!-- inputs-contract:begin (generated from vggdeploy/serve/inputs/contract.py) -->"
END = "<!-- inputs-contract:end -->"


def _table(rows: tuple[Row, ...], head: tuple[str, str, str]) -> list[str]:
    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    lines = [f"| row | {head[0]} | {head[1]} | {head[2]} |", "| --- | --- | --- | --- |"]
    lines += [
        f"| `{r.key}` | {cell(r.kind)} | {cell(r.values)} | {cell(r.outcome)} |" for r in rows
    ]
    return lines


def render_markdown() -> str:
    """README's generated block: the two tables, between the BEGIN/END markers."""
    lines = [
        BEGIN,
        "",
        "What the values mean (by dtype or image mode, then value range):",
        "",
        *_table(VALUE_ROWS, ("input", "values", "read as")),
        "",
        "Array layouts (numpy arrays, `.npy` files, torch tensors; any dtype above):",
        "",
        *_table(LAYOUT_ROWS, ("array", "shape", "read as")),
        "",
        END,
    ]
    return "\n".join(lines)


def parse_markdown(text: str) -> dict[str, tuple[bool, str]]:
    """Row key -> (refused, reading or fix), parsed from README's block (the property test's
    view of the contract)."""
    start, stop = text.index(BEGIN), text.index(END)
    rows: dict[str, tuple[bool, str]] = {}
    for line in text[start:stop].splitlines():
        if not line.startswith("| `"):
            continue
        cells = [c.strip().replace("\\|", "|") for c in line.strip("|").split(" | ")]
        key, outcome = cells[0].strip("`"), cells[-1]
        refused = outcome.startswith("**refused**: ")
        rows[key] = (refused, outcome.removeprefix("**refused**: "))
    return rows


__all__ = [
    "CHANNELS_FIRST",
    "CHANNELS_LAST",
    "DIM_LIMIT",
    "LAYOUT_ROWS",
    "LIGHT_BORDER",
    "MIN_SIDE",
    "ROWS",
    "VALUE_ROWS",
    "Row",
    "parse_markdown",
    "refuse",
    "render_markdown",
]
