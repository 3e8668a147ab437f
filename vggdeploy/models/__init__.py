"""VGG model zoo: ``vgg_block``, ``VGG`` and the preset registry."""

from .presets import DEFAULT_PRESET, PRESETS, make_spec, preset_names
from .vgg import VGG, build_model, count_flops, layer_shapes, model_stats, vgg_block

__all__ = [
    "DEFAULT_PRESET",
    "PRESETS",
    "VGG",
    "build_model",
    "count_flops",
    "layer_shapes",
    "make_spec",
    "model_stats",
    "preset_names",
    "vgg_block",
]
