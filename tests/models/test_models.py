import pytest
import torch

from vggdeploy.cli import main
from vggdeploy.errors import UsageError
from vggdeploy.models import PRESETS, VGG, build_model, layer_shapes, make_spec, model_stats
from vggdeploy.models.vgg import vgg_block


def test_seed_vgg11_shapes_match_d2l():
    """The seeds' VGG-11 at 1x1x224x224 prints exactly these block and classifier shapes."""
    spec = make_spec("d2l-vgg11")
    rows = layer_shapes(spec)
    pools = [shape for _, kind, shape in rows if kind == "MaxPool2d"]
    assert pools == [
        (1, 64, 112, 112),
        (1, 128, 56, 56),
        (1, 256, 28, 28),
        (1, 512, 14, 14),
        (1, 512, 7, 7),
    ]
    linears = [shape for _, kind, shape in rows if kind in ("Flatten", "Linear")]
    assert linears == [(1, 25088), (1, 4096), (1, 4096), (1, 10)]


def test_real_forward_matches_meta_shapes():
    spec = make_spec()
    model = build_model(spec).eval()
    out = model(torch.zeros(spec.input.shape(3)))
    assert out.shape == (3, 10)
    assert layer_shapes(spec, 3)[-1][2] == (3, 10)


def test_vgg_block_layout():
    blk = vgg_block(2, 8, in_channels=3, batch_norm=True)
    kinds = [type(m).__name__ for m in blk]
    assert kinds == ["Conv2d", "BatchNorm2d", "ReLU", "Conv2d", "BatchNorm2d", "ReLU", "MaxPool2d"]
    assert blk(torch.zeros(1, 3, 8, 8)).shape == (1, 8, 4, 4)


def _torchvision_keys(cfg, batch_norm, num_classes=1000):
    """State-dict keys/shapes of torchvision.models.vgg (make_layers + classifier), rebuilt here."""
    shapes, idx, cin = {}, 0, 3
    for v in cfg:
        if v == "M":
            idx += 1
            continue
        shapes[f"features.{idx}.weight"] = (v, cin, 3, 3)
        shapes[f"features.{idx}.bias"] = (v,)
        idx += 1
        if batch_norm:
            for name in ("weight", "bias", "running_mean", "running_var"):
                shapes[f"features.{idx}.{name}"] = (v,)
            shapes[f"features.{idx}.num_batches_tracked"] = ()
            idx += 1
        idx += 1  # ReLU
        cin = v
    for i, (o, n) in zip(
        (0, 3, 6), ((4096, 512 * 49), (4096, 4096), (num_classes, 4096)), strict=True
    ):
        shapes[f"classifier.{i}.weight"] = (o, n)
        shapes[f"classifier.{i}.bias"] = (o,)
    return shapes


CFG_A = [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"]
CFG_D = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]


@pytest.mark.parametrize(
    "preset,cfg,bn",
    [
        ("vgg11", CFG_A, False),
        ("vgg11_bn", CFG_A, True),
        ("vgg16", CFG_D, False),
        ("vgg16_bn", CFG_D, True),
    ],
)
def test_torchvision_state_dict_loads_strict(preset, cfg, bn):
    spec = make_spec(preset, in_channels=3, num_classes=1000)
    with torch.device("meta"):
        model = VGG.from_spec(spec)
        state = {
            k: torch.empty(s, dtype=torch.long if k.endswith("num_batches_tracked") else None)
            for k, s in _torchvision_keys(cfg, bn).items()
        }
    assert set(model.state_dict()) == set(state)
    model.load_state_dict(state, strict=True, assign=True)


def test_presets_are_valid_and_counted():
    for name in PRESETS:
        stats = model_stats(make_spec(name))
        assert stats["params"] > 0 and stats["flops"] > 0
    # d2l VGG-11 at 224: the well-known ~7.6 GMACs of conv + 123.6 M classifier MACs.
    assert model_stats(make_spec("d2l-vgg11"))["flops"] == 15_094_464_512


def test_unknown_preset_lists_valid_ones():
    with pytest.raises(UsageError) as err:
        make_spec("vgg99")
    assert "vgg-mini" in str(err.value) and "d2l-vgg11" in str(err.value)


def test_input_too_small_is_rejected():
    with pytest.raises(UsageError, match="too small"):
        make_spec("vgg11", input_size=16)


def test_cli_models_and_summary(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "vgg-mini" in out and "d2l-vgg11" in out and "GFLOPs" in out
    assert main(["summary", "--preset", "d2l-vgg11"]) == 0
    out = capsys.readouterr().out
    assert "[1, 512, 7, 7]" in out and "[1, 25088]" in out and "[1, 10]" in out
    assert main(["summary", "--preset", "nope"]) == 2
