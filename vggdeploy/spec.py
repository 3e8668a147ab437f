"""ModelSpec: the one description every artifact carries (checkpoint JSON, ONNX metadata, sidecar).

It holds everything a loader needs to rebuild the network and feed it correctly: the architecture,
the input tensor, the preprocessing and the class names. ``provenance`` carries free-form facts
(metrics, training config, data and source hashes) that do not change what the network computes;
:meth:`ModelSpec.fingerprint` ignores it, so two artifacts "match" when their structural part does.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from vggdeploy.errors import ArtifactError

SPEC_FORMAT = "vggdeploy.modelspec"
SPEC_VERSION = 1

FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
# Mean / std of the Fashion-MNIST training images scaled to [0, 1].
FASHION_MNIST_MEAN = 0.2860
FASHION_MNIST_STD = 0.3530

PREPROCESS_MODES = ("pad", "resize", "none")
INIT_SCHEMES = ("xavier", "kaiming")


@dataclass(frozen=True)
class Preprocess:
    """uint8 image (source_size) -> float32 CHW tensor of the model's input size.

    Steps, in order (the C++ runners document the same): 1) ``pad`` zero-pads symmetrically
    (extra pixel right/bottom) or ``resize`` does bilinear interpolation (half-pixel centres,
    no antialiasing) to the input size; 2) multiply by ``scale``; 3) subtract ``mean`` and
    divide by ``std`` per channel; grayscale is repeated when the model takes 3 channels.
    """

    source_size: tuple[int, int] = (28, 28)
    mode: str = "pad"
    scale: float = 1.0 / 255.0
    mean: tuple[float, ...] = (FASHION_MNIST_MEAN,)
    std: tuple[float, ...] = (FASHION_MNIST_STD,)


@dataclass(frozen=True)
class InputSpec:
    channels: int
    height: int
    width: int
    name: str = "input"
    dtype: str = "float32"

    def shape(self, batch: int | str = "batch") -> tuple[Any, ...]:
        return (batch, self.channels, self.height, self.width)


@dataclass(frozen=True)
class Architecture:
    """VGG as data: ``conv_arch`` is d2l's tuple of (num_convs, out_channels) per block."""

    conv_arch: tuple[tuple[int, int], ...]
    batch_norm: bool = False
    classifier: tuple[int, ...] = (4096, 4096)  # hidden widths of the fully connected head
    dropout: float = 0.5
    init: str = "xavier"


@dataclass(frozen=True)
class ModelSpec:
    preset: str
    arch: Architecture
    input: InputSpec
    num_classes: int
    preprocess: Preprocess = field(default_factory=Preprocess)
    class_names: tuple[str, ...] = ()
    output_name: str = "logits"
    provenance: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    # ---- derived -----------------------------------------------------------------------------
    @property
    def feature_size(self) -> tuple[int, int]:
        """Spatial size after the last pooling layer."""
        n = len(self.arch.conv_arch)
        return (self.input.height >> n, self.input.width >> n)

    @property
    def feature_channels(self) -> int:
        return self.arch.conv_arch[-1][1]

    def structural_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.to_dict().items() if k in _STRUCTURAL_KEYS}

    def fingerprint(self) -> str:
        """sha256 of the structural part (what the network computes and how it is fed)."""
        blob = json.dumps(self.structural_dict(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()

    def with_provenance(self, **items: Any) -> ModelSpec:
        merged = dict(self.provenance)
        merged.update(items)
        return replace(self, provenance=merged)

    # ---- validation --------------------------------------------------------------------------
    def validate(self) -> ModelSpec:
        def bad(msg: str) -> ArtifactError:
            return ArtifactError(f"invalid ModelSpec ({self.preset!r}): {msg}")

        if not self.arch.conv_arch:
            raise bad("conv_arch is empty")
        for i, blk in enumerate(self.arch.conv_arch):
            if len(blk) != 2 or blk[0] < 1 or blk[1] < 1:
                raise bad(f"conv_arch[{i}] = {blk!r}; need (num_convs >= 1, out_channels >= 1)")
        if self.input.channels < 1 or self.input.height < 1 or self.input.width < 1:
            raise bad(f"input shape {self.input.shape()} has a non-positive dimension")
        fh, fw = self.feature_size
        if fh < 1 or fw < 1:
            raise bad(
                f"input {self.input.height}x{self.input.width} is too small for "
                f"{len(self.arch.conv_arch)} pooling stages "
                f"(need at least {2 ** len(self.arch.conv_arch)})"
            )
        if self.num_classes < 1:
            raise bad(f"num_classes must be >= 1, got {self.num_classes}")
        if self.class_names and len(self.class_names) != self.num_classes:
            raise bad(f"{len(self.class_names)} class names for {self.num_classes} classes")
        if not 0.0 <= self.arch.dropout < 1.0:
            raise bad(f"dropout must be in [0, 1), got {self.arch.dropout}")
        if any(w < 1 for w in self.arch.classifier):
            raise bad(f"classifier widths must be >= 1, got {self.arch.classifier}")
        if self.arch.init not in INIT_SCHEMES:
            raise bad(f"init must be one of {INIT_SCHEMES}, got {self.arch.init!r}")
        p = self.preprocess
        if p.mode not in PREPROCESS_MODES:
            raise bad(f"preprocess.mode must be one of {PREPROCESS_MODES}, got {p.mode!r}")
        if len(p.mean) not in (1, self.input.channels) or len(p.std) != len(p.mean):
            raise bad("preprocess mean/std must have 1 or `channels` entries, and the same count")
        numbers = {"mean": p.mean, "std": p.std, "scale": (p.scale,)}
        for what, values in numbers.items():
            if not all(math.isfinite(v) for v in values):
                raise bad(f"preprocess {what} {list(values)} is not finite (NaN or Infinity)")
        if any(s <= 0 for s in p.std):
            raise bad("preprocess std must be > 0")
        if p.scale <= 0:
            raise bad(f"preprocess scale must be > 0, got {p.scale}")
        if p.mode == "pad" and (
            p.source_size[0] > self.input.height or p.source_size[1] > self.input.width
        ):
            raise bad(f"cannot pad {p.source_size} to the smaller input {self.input.shape()[2:]}")
        if p.mode == "none" and tuple(p.source_size) != (self.input.height, self.input.width):
            raise bad("preprocess mode 'none' needs source_size equal to the input size")
        return self

    # ---- serialisation -----------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON form; provenance items (metrics, training, data, ...) become top-level keys."""
        d = asdict(self)
        provenance = d.pop("provenance")
        d["arch"]["conv_arch"] = [list(b) for b in self.arch.conv_arch]
        out = {"format": SPEC_FORMAT, "version": SPEC_VERSION, **d}
        for key, value in provenance.items():
            if key not in out:
                out[key] = value
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, data: Any, *, source: str = "ModelSpec") -> ModelSpec:
        def bad(msg: str) -> ArtifactError:
            return ArtifactError(
                f"{source}: not a valid vggdeploy ModelSpec: {msg}",
                hint="re-create the artifact with this version of vggdeploy (train/export again)",
            )

        if not isinstance(data, dict):
            raise bad(f"expected a JSON object, got {type(data).__name__}")
        if data.get("format") != SPEC_FORMAT:
            raise bad(f"'format' is {data.get('format')!r}, expected {SPEC_FORMAT!r}")
        version = data.get("version")
        if not isinstance(version, int) or version > SPEC_VERSION or version < 1:
            raise bad(f"unsupported version {version!r} (this vggdeploy reads <= {SPEC_VERSION})")
        try:
            arch = data["arch"]
            inp = data["input"]
            pre = data.get("preprocess", {})
            spec = cls(
                preset=str(data["preset"]),
                arch=Architecture(
                    conv_arch=tuple((int(n), int(c)) for n, c in arch["conv_arch"]),
                    batch_norm=_as_bool(arch.get("batch_norm", False)),
                    classifier=tuple(int(w) for w in arch.get("classifier", ())),
                    dropout=float(arch.get("dropout", 0.5)),
                    init=str(arch.get("init", "xavier")),
                ),
                input=InputSpec(
                    channels=int(inp["channels"]),
                    height=int(inp["height"]),
                    width=int(inp["width"]),
                    name=str(inp.get("name", "input")),
                    dtype=str(inp.get("dtype", "float32")),
                ),
                num_classes=int(data["num_classes"]),
                preprocess=Preprocess(
                    source_size=tuple(int(v) for v in pre.get("source_size", (28, 28))),  # type: ignore[arg-type]
                    mode=str(pre.get("mode", "pad")),
                    scale=float(pre.get("scale", 1 / 255)),
                    mean=tuple(float(v) for v in pre.get("mean", (FASHION_MNIST_MEAN,))),
                    std=tuple(float(v) for v in pre.get("std", (FASHION_MNIST_STD,))),
                ),
                class_names=tuple(str(c) for c in data.get("class_names", ())),
                output_name=str(data.get("output_name", "logits")),
                provenance={k: v for k, v in data.items() if k not in _STRUCTURAL_KEYS},
            )
        except KeyError as exc:
            raise bad(f"missing field {exc}") from exc
        except (TypeError, ValueError) as exc:
            raise bad(str(exc)) from exc
        if len(spec.preprocess.source_size) != 2:
            raise bad("preprocess.source_size must have 2 entries")
        try:
            return spec.validate()
        except ArtifactError as exc:
            raise bad(exc.message) from exc

    @classmethod
    def from_json(cls, text: str | bytes, *, source: str = "ModelSpec") -> ModelSpec:
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ArtifactError(
                f"{source}: not valid JSON ({exc})",
                hint="the file is corrupt or truncated; re-create it (train/export again)",
            ) from exc
        return cls.from_dict(data, source=source)


_STRUCTURAL_KEYS = frozenset(
    {
        "format",
        "version",
        "preset",
        "arch",
        "input",
        "num_classes",
        "preprocess",
        "class_names",
        "output_name",
    }
)


def _as_bool(v: Any) -> bool:
    if isinstance(v, bool):
        return v
    raise TypeError(f"expected true/false, got {v!r}")


def check_same_model(a: ModelSpec, b: ModelSpec, *, a_name: str, b_name: str) -> None:
    """Raise ArtifactError when two artifacts describe different networks or inputs."""
    if a.fingerprint() == b.fingerprint():
        return
    da, db = a.structural_dict(), b.structural_dict()
    diffs = [k for k in sorted(set(da) | set(db)) if da.get(k) != db.get(k)]
    raise ArtifactError(
        f"{a_name} and {b_name} describe different models (differs in: {', '.join(diffs)})",
        hint="rebuild the derived artifact from the same checkpoint (export / build-engine again)",
    )


def check_graph_shapes(
    spec: ModelSpec,
    source: Any,
    input_shape: Any,
    output_shape: Any,
) -> None:
    """The graph of ``source`` must take the input and produce the classes its ModelSpec says.

    ``input_shape`` is (N, C, H, W) and ``output_shape`` (N, classes); a dimension that is not an
    int (a symbolic name, None) is dynamic and matches anything. A contradiction means the file
    was edited or assembled from parts of two models: ArtifactError (exit 4) naming it, at load,
    before any image is blamed for it."""
    want_in = (spec.input.channels, spec.input.height, spec.input.width)

    def fixed(dims: Any) -> list[Any]:
        return [
            d if isinstance(d, int) and not isinstance(d, bool) and d >= 0 else None for d in dims
        ]

    problems = []
    got_in = fixed(input_shape or ())
    if len(got_in) != 4:
        problems.append(f"the graph's input has {len(got_in)} dimensions, not 4 (N, C, H, W)")
    else:
        for axis, got, want in zip(
            ("channels", "height", "width"), got_in[1:], want_in, strict=True
        ):
            if got is not None and got != want:
                problems.append(f"input {axis} is {got} in the graph but {want} in its ModelSpec")
    got_out = fixed(output_shape or ())
    if len(got_out) != 2:
        problems.append(f"the graph's output has {len(got_out)} dimensions, not 2 (N, classes)")
    elif got_out[1] is not None and got_out[1] != spec.num_classes:
        problems.append(
            f"the graph outputs {got_out[1]} classes but its ModelSpec says {spec.num_classes}"
        )
    if problems:
        raise ArtifactError(
            f"'{source}' contradicts its own ModelSpec: " + "; ".join(problems),
            hint="the file was modified or mixes two models; make it again from the checkpoint",
        )


def batch_memory_bytes(spec: ModelSpec, batch: int) -> int:
    """A lower bound of the memory one FP32 forward pass at ``batch`` needs: the input plus the
    largest (input, output) activation pair of any layer. Real peaks are higher."""
    c, h, w = spec.input.channels, spec.input.height, spec.input.width
    per_image = c * h * w  # the input tensor itself
    largest = 0
    for num_convs, cout in spec.arch.conv_arch:
        for _ in range(num_convs):
            largest = max(largest, (c + cout) * h * w)
            c = cout
        h, w = max(1, h // 2), max(1, w // 2)
    return 4 * batch * (per_image + largest)


def physical_memory_bytes() -> int | None:
    """This machine's physical memory, or None where the OS does not say."""
    import os

    try:
        return int(os.sysconf("SC_PHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):
        return None


def check_batch_memory(spec: ModelSpec, batch: int, option: str) -> None:
    """Refuse (UsageError, exit 2) a batch one forward pass of ``spec`` cannot hold in this
    machine's memory, before any long work, with the limit in the message."""
    from vggdeploy.errors import UsageError

    total = physical_memory_bytes()
    need = batch_memory_bytes(spec, batch)
    if total is None or need <= total:
        return
    fits = max(1, total // max(1, batch_memory_bytes(spec, 1)))
    raise UsageError(
        f"{option} {batch}: one forward pass of this {spec.input.height}x{spec.input.width} model "
        f"needs at least {need / 2**30:,.1f} GiB, more than this machine's "
        f"{total / 2**30:,.1f} GiB of memory",
        hint=f"use a batch of at most {fits:,} (fewer in practice)",
    )
