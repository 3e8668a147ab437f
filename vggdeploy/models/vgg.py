"""VGG as in d2l (``vgg_block`` + ``VGG``) with torchvision-compatible state-dict keys.

``features`` is one flat ``nn.Sequential`` (conv [bn] relu ... maxpool per block) and
``classifier`` is Linear/ReLU/Dropout triples ending in a Linear, so the keys are
``features.N.*`` and ``classifier.N.*`` exactly as in ``torchvision.models.vgg*``: torchvision
weights load with ``load_state_dict(strict=True)``.
"""

from __future__ import annotations

import torch
from torch import nn

from vggdeploy.spec import ModelSpec


def vgg_block(
    num_convs: int, out_channels: int, *, in_channels: int, batch_norm: bool = False
) -> nn.Sequential:
    """``num_convs`` x (3x3 conv, padding 1 [+ BN] + ReLU), then 2x2 max pool with stride 2."""
    layers: list[nn.Module] = []
    for _ in range(num_convs):
        layers.append(nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1))
        if batch_norm:
            layers.append(nn.BatchNorm2d(out_channels))
        layers.append(nn.ReLU(inplace=True))
        in_channels = out_channels
    layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
    return nn.Sequential(*layers)


class VGG(nn.Module):
    def __init__(
        self,
        conv_arch: tuple[tuple[int, int], ...],
        *,
        in_channels: int = 1,
        num_classes: int = 10,
        input_size: tuple[int, int] = (224, 224),
        batch_norm: bool = False,
        classifier: tuple[int, ...] = (4096, 4096),
        dropout: float = 0.5,
        init: str = "xavier",
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = in_channels
        for num_convs, out_channels in conv_arch:
            layers.extend(
                vgg_block(num_convs, out_channels, in_channels=channels, batch_norm=batch_norm)
            )
            channels = out_channels
        self.features = nn.Sequential(*layers)
        stages = len(conv_arch)
        self.feature_shape = (channels, input_size[0] >> stages, input_size[1] >> stages)
        head: list[nn.Module] = []
        width = channels * self.feature_shape[1] * self.feature_shape[2]
        for hidden in classifier:
            head += [nn.Linear(width, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout)]
            width = hidden
        head.append(nn.Linear(width, num_classes))
        self.classifier = nn.Sequential(*head)
        self.reset_parameters(init)

    @classmethod
    def from_spec(cls, spec: ModelSpec) -> VGG:
        return cls(
            spec.arch.conv_arch,
            in_channels=spec.input.channels,
            num_classes=spec.num_classes,
            input_size=(spec.input.height, spec.input.width),
            batch_norm=spec.arch.batch_norm,
            classifier=spec.arch.classifier,
            dropout=spec.arch.dropout,
            init=spec.arch.init,
        )

    def reset_parameters(self, init: str) -> None:
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                if init == "xavier":  # d2l: nn.init.xavier_uniform_ on conv and linear weights
                    nn.init.xavier_uniform_(m.weight)
                elif isinstance(m, nn.Conv2d):  # torchvision's VGG init
                    nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                else:
                    nn.init.normal_(m.weight, 0.0, 0.01)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        return self.classifier(torch.flatten(x, 1))


def build_model(spec: ModelSpec) -> VGG:
    return VGG.from_spec(spec)


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def layer_shapes(spec: ModelSpec, batch: int = 1) -> list[tuple[str, str, tuple[int, ...]]]:
    """(name, layer type, output shape) per layer, computed on the meta device (no memory)."""
    with torch.device("meta"):
        model = build_model(spec)
    model.eval()
    rows: list[tuple[str, str, tuple[int, ...]]] = []
    x = torch.empty(spec.input.shape(batch), device="meta")
    for i, layer in enumerate(model.features):
        x = layer(x)
        rows.append((f"features.{i}", type(layer).__name__, tuple(x.shape)))
    x = torch.flatten(x, 1)
    rows.append(("flatten", "Flatten", tuple(x.shape)))
    for i, layer in enumerate(model.classifier):
        x = layer(x)
        rows.append((f"classifier.{i}", type(layer).__name__, tuple(x.shape)))
    return rows


def count_flops(spec: ModelSpec) -> int:
    """FLOPs of one forward pass at batch 1, counted as 2 x multiply-accumulates (conv + linear)."""
    macs = 0
    h, w, cin = spec.input.height, spec.input.width, spec.input.channels
    for num_convs, cout in spec.arch.conv_arch:
        for _ in range(num_convs):
            macs += 9 * cin * cout * h * w
            cin = cout
        h, w = h // 2, w // 2
    width = cin * h * w
    for hidden in (*spec.arch.classifier, spec.num_classes):
        macs += width * hidden
        width = hidden
    return 2 * macs


def model_stats(spec: ModelSpec) -> dict[str, int]:
    with torch.device("meta"):
        model = build_model(spec)
    return {"params": count_params(model), "flops": count_flops(spec)}
