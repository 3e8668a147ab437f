"""VGG model zoo: ``vgg_block``, ``VGG`` and the preset registry.

The preset registry is plain data; the torch modules load on first use, so that importing the
presets (the CLI's help texts do) does not import torch."""

from vggdeploy.models.presets import DEFAULT_PRESET, PRESETS, make_spec, preset_names

_TORCH_NAMES = ("VGG", "build_model", "count_flops", "layer_shapes", "model_stats", "vgg_block")


def __getattr__(name: str):
    if name in _TORCH_NAMES:
        from vggdeploy.models import vgg

        return getattr(vgg, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["DEFAULT_PRESET", "PRESETS", "make_spec", "preset_names", *_TORCH_NAMES]
