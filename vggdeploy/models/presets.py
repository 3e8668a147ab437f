"""Preset registry as plain data: name -> architecture and input defaults.

``make_spec(name, **overrides)`` turns a preset into a validated :class:`ModelSpec`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from vggdeploy.errors import UsageError
from vggdeploy.spec import FASHION_MNIST_CLASSES, Architecture, InputSpec, ModelSpec, Preprocess

# d2l's VGG-11 layout (configuration A of Simonyan & Zisserman).
D2L_CONV_ARCH = ((1, 64), (1, 128), (2, 256), (2, 512), (2, 512))
SEED_WIDTH_RATIO = 4  # the seeds' `small_conv_arch = [(pair[0], pair[1] // ratio) ...]`

_TORCHVISION_CFGS = {
    "vgg11": ((1, 64), (1, 128), (2, 256), (2, 512), (2, 512)),  # A
    "vgg13": ((2, 64), (2, 128), (2, 256), (2, 512), (2, 512)),  # B
    "vgg16": ((2, 64), (2, 128), (3, 256), (3, 512), (3, 512)),  # D
    "vgg19": ((2, 64), (2, 128), (4, 256), (4, 512), (4, 512)),  # E
}

DEFAULT_PRESET = "vgg-mini28"


def _narrow(arch: tuple[tuple[int, int], ...], ratio: int) -> tuple[tuple[int, int], ...]:
    return tuple((n, c // ratio) for n, c in arch)


PRESETS: dict[str, dict[str, Any]] = {
    # The default before vgg-mini28: d2l's layout at 1/4 width with batch norm, 28x28 padded to
    # 32x32, one 256-wide hidden layer (about 50 s per Fashion-MNIST epoch on 2 CPU cores).
    "vgg-mini": dict(
        conv_arch=_narrow(D2L_CONV_ARCH, SEED_WIDTH_RATIO),
        batch_norm=True,
        classifier=(256,),
        dropout=0.5,
        init="kaiming",
        input_size=32,
        mode="pad",
        description="d2l layout at 1/4 width + BN, 32x32 pad",
    ),
    # The default: the first four blocks of vgg-mini on the native 28x28 input (28-14-7-3-1), no
    # dropout; 1.7x vgg-mini's training throughput on 2 CPU cores (benchmarks/TRAINING.md).
    "vgg-mini28": dict(
        conv_arch=_narrow(D2L_CONV_ARCH[:4], SEED_WIDTH_RATIO),
        batch_norm=True,
        classifier=(256,),
        dropout=0.0,
        init="kaiming",
        input_size=28,
        mode="pad",  # "none" at 28x28; --input-size 32 pads like vgg-mini
        description="default: vgg-mini's first 4 blocks at native 28x28, no dropout",
    ),
    # The seeds' exact network: d2l VGG-11, 1x224x224, 4096-wide classifier, Xavier init.
    "d2l-vgg11": dict(
        conv_arch=D2L_CONV_ARCH,
        batch_norm=False,
        classifier=(4096, 4096),
        dropout=0.5,
        init="xavier",
        input_size=224,
        mode="resize",
        description="the seeds' VGG-11 (d2l)",
    ),
    # The seeds' trained network: conv widths divided by 4 (`small_conv_arch`).
    "d2l-vgg11-small": dict(
        conv_arch=_narrow(D2L_CONV_ARCH, SEED_WIDTH_RATIO),
        batch_norm=False,
        classifier=(4096, 4096),
        dropout=0.5,
        init="xavier",
        input_size=224,
        mode="resize",
        description="the seeds' small_conv_arch (ratio 4)",
    ),
}
for _name, _cfg in _TORCHVISION_CFGS.items():
    for _bn in (False, True):
        PRESETS[_name + ("_bn" if _bn else "")] = dict(
            conv_arch=_cfg,
            batch_norm=_bn,
            classifier=(4096, 4096),
            dropout=0.5,
            init="kaiming",
            input_size=224,
            mode="resize",
            description=f"torchvision {_name}{' + BN' if _bn else ''}",
        )


def preset_names() -> list[str]:
    return list(PRESETS)


def make_spec(
    preset: str = DEFAULT_PRESET,
    *,
    in_channels: int = 1,
    num_classes: int = 10,
    input_size: int | None = None,
    class_names: tuple[str, ...] | None = None,
    **arch_overrides: Any,
) -> ModelSpec:
    """Build the ModelSpec of ``preset`` for Fashion-MNIST-like data, with overrides."""
    if preset not in PRESETS:
        raise UsageError(
            f"unknown preset '{preset}'",
            hint=f"valid presets: {', '.join(PRESETS)} (see `vggdeploy models`)",
        )
    cfg = PRESETS[preset]
    size = int(input_size or cfg["input_size"])
    arch = Architecture(
        conv_arch=cfg["conv_arch"],
        batch_norm=cfg["batch_norm"],
        classifier=tuple(cfg["classifier"]),
        dropout=cfg["dropout"],
        init=cfg["init"],
    )
    if arch_overrides:
        unknown = set(arch_overrides) - set(Architecture.__dataclass_fields__)
        if unknown:
            raise UsageError(f"unknown architecture option(s): {', '.join(sorted(unknown))}")
        arch = replace(arch, **arch_overrides)
    mode = cfg["mode"]
    if mode == "pad" and size < 28:
        mode = "resize"
    if size == 28 and mode == "resize":  # "pad" stays: a no-op at 28x28 that lets user images
        mode = "none"  # of other sizes be fitted (serve/inputs.py refuses them for "none")
    if class_names is None:
        class_names = FASHION_MNIST_CLASSES if num_classes == 10 else ()
    mean = (0.2860,) * (1 if in_channels == 1 else in_channels)
    std = (0.3530,) * len(mean)
    spec = ModelSpec(
        preset=preset,
        arch=arch,
        input=InputSpec(channels=in_channels, height=size, width=size),
        num_classes=num_classes,
        preprocess=Preprocess(source_size=(28, 28), mode=mode, mean=mean, std=std),
        class_names=tuple(class_names),
    )
    try:
        return spec.validate()
    except Exception as exc:  # turn a bad override into a usage error
        raise UsageError(str(exc)) from exc
