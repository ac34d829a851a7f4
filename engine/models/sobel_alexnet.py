"""S5's baseline backbone: AlexNet on a fixed Sobel-filtered input (DeepCluster's AlexNet).

Krizhevsky, Sutskever, Hinton, "ImageNet Classification with Deep
Convolutional Neural Networks", NeurIPS 2012; Caron et al., "Deep Clustering
for Unsupervised Learning of Visual Features", ECCV 2018 (AlexNet with
BatchNorm on a fixed Sobel input: grayscale -> x/y gradients, 2 channels).

"5 conv + 3 FC": the backbone is the fixed Sobel layer, the 5 conv blocks
and FC6/FC7 (features = FC7 output, ``head_hidden`` wide, 4096 by default);
FC8 is the head. The Sobel filters are a buffer, not parameters, so no
``set_trainable`` call can train them. Geometry: ``image_size >= 128`` keeps
AlexNet's (11x11 stride-4 stem, 3x3/2 max pools, 6x6 grid before FC6: 224 ->
55 -> 27 -> 13 -> 6); smaller images (S5 used 64 px) get a stride-2 stem,
padded pools (64 -> 32 -> 16 -> 8 -> 4). The grid pooled before FC6 is the conv5 map (6x6 at
224) or, above 8, its largest divisor up to 8 (:func:`fc_grid`), so ONNX export works at any size.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

from engine.errors import ConfigError
from engine.models.base import SingleBackboneModel
from engine.registry import register

SOBEL_X = ((1.0, 0.0, -1.0), (2.0, 0.0, -2.0), (1.0, 0.0, -1.0))


class SobelFilter(nn.Module):
    """Fixed grayscale (channel mean) + Sobel x/y: ``[B, in_chans, H, W] -> [B, 2, H, W]`` (no parameters)."""

    weight: torch.Tensor  # a (non-persistent) buffer

    def __init__(self, in_chans: int = 3) -> None:
        super().__init__()
        gx = torch.tensor(SOBEL_X)
        kernels = torch.stack([gx, gx.T]).unsqueeze(1) / in_chans  # grayscale = mean of channels
        self.register_buffer("weight", kernels.expand(2, in_chans, 3, 3).clone(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x and y gradients of the grayscale image (same size)."""
        return F.conv2d(x, self.weight.to(x.dtype), padding=1)


def conv5_side(image_size: int) -> int:
    """Side of the conv5 map (after its pool) for square ``image_size`` inputs."""
    if image_size >= 128:  # AlexNet: 11x11/4 stem (padding 2), three 3x3/2 pools
        side = (image_size + 4 - 11) // 4 + 1
        for _ in range(3):
            side = (side - 3) // 2 + 1
        return side
    side = (image_size + 1) // 2  # 11x11/2 stem (padding 5), then padded 3x3/2 pools: ceil(side / 2)
    for _ in range(3):
        side = (side + 1) // 2
    return side


def fc_grid(image_size: int) -> int:
    """Grid pooled before FC6: the conv5 side itself up to 8, else its largest divisor up to 8 (adaptive
    pooling by a whole factor exports to ONNX): 224 -> 6 (AlexNet's 6x6), 64 -> 4, 32 -> 2."""
    side = conv5_side(image_size)
    return max(d for d in range(1, min(side, 8) + 1) if side % d == 0)


def _conv(cin: int, cout: int, kernel: int, stride: int, padding: int, pool: nn.Module | None) -> nn.Sequential:
    layers = [nn.Conv2d(cin, cout, kernel, stride, padding), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers, *([pool] if pool is not None else []))


def _fc(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Dropout(0.5), nn.Linear(cin, cout), nn.ReLU(inplace=True))


class SobelAlexNet(SingleBackboneModel):
    """AlexNet-Sobel (see the module docstring); ``fc_width`` is the FC6/FC7 width (= ``feature_dim``)."""

    def __init__(self, num_classes: int = 2, binary_single_logit: bool = True, fc_width: int = 4096,
                 dropout: float = 0.0, image_size: int = 224, in_chans: int = 3) -> None:
        if fc_width < 1:
            raise ConfigError(f"alexnet_sobel: the FC width (head_hidden) must be positive, got {fc_width}.")
        super().__init__("alexnet_sobel", fc_width)
        large = image_size >= 128
        pool = (lambda: nn.MaxPool2d(3, 2)) if large else (lambda: nn.MaxPool2d(3, 2, padding=1))
        grid = fc_grid(image_size)
        blocks = OrderedDict(
            sobel=SobelFilter(in_chans),
            conv1=_conv(2, 96, 11, 4 if large else 2, 2 if large else 5, pool()),
            conv2=_conv(96, 256, 5, 1, 2, pool()),
            conv3=_conv(256, 384, 3, 1, 1, None),
            conv4=_conv(384, 384, 3, 1, 1, None),
            conv5=_conv(384, 256, 3, 1, 1, pool()),
            avgpool=nn.AdaptiveAvgPool2d(grid),
            flatten=nn.Flatten(),
            fc6=_fc(256 * grid * grid, fc_width),
            fc7=_fc(fc_width, fc_width),
        )
        self.backbone = nn.Sequential(blocks)
        self.in_chans = in_chans
        self.reset_classifier(num_classes, binary_single_logit, None, dropout)

    def backbone_blocks(self) -> dict[str, list[nn.Module]]:
        """conv1..conv5, fc6, fc7 (the Sobel layer has nothing to train)."""
        names = ("conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7")
        return {"backbone": [self.backbone.get_submodule(name) for name in names]}

    def cam_target_layer(self) -> nn.Module:
        """The conv5 block."""
        return self.backbone.get_submodule("conv5")


@register("model", "alexnet_sobel", family="alexnet", default_size=224, pretrained_tag=None,
          description="S5 baseline: AlexNet (5 conv + 3 FC, BatchNorm) on a fixed Sobel input "
                      "(head_hidden sets the FC width, 4096 by default).")
def alexnet_sobel(num_classes: int = 2, *, binary_single_logit: bool = True, head_hidden: int | None = None,
                  dropout: float = 0.0, image_size: int = 224, in_chans: int = 3) -> SingleBackboneModel:
    """S5's AlexNet-Sobel; ``head_hidden`` is the width of FC6/FC7 (4096)."""
    return SobelAlexNet(num_classes, binary_single_logit, head_hidden or 4096, dropout, int(image_size),
                        int(in_chans))
