"""Small CNNs trained from scratch: S1's basic CNN and S2's simple CNN.

Both are written exactly as the studies describe them (see
``shared/reference/methods.md``, S1 "Basic CNN" and S2 "Simple CNN"). Like
timm's VGG, whose pooled features are the output of its fully-connected
``pre_logits`` block, the features of these models are the output of their
last hidden dense layer, so embeddings stay small (256 / 128 values instead
of the 100,352 flattened activations) and the "head" is the final Linear.
"""

from __future__ import annotations

from collections import OrderedDict

from torch import nn

from engine.errors import ConfigError
from engine.models.base import SingleBackboneModel
from engine.registry import register


def conv_block(in_ch: int, out_ch: int, batch_norm: bool) -> nn.Sequential:
    """Conv3x3 (padding 1) -> [BatchNorm] -> ReLU -> MaxPool2."""
    layers: list[nn.Module] = [nn.Conv2d(in_ch, out_ch, kernel_size=3, padding=1)]
    if batch_norm:
        layers.append(nn.BatchNorm2d(out_ch))
    layers += [nn.ReLU(inplace=True), nn.MaxPool2d(2)]
    return nn.Sequential(*layers)


def flat_size(channels: int, image_size: int, num_pools: int) -> int:
    """Values after ``num_pools`` MaxPool2 layers on a square image: ``channels * (size // 2**k)**2``."""
    side = image_size
    for _ in range(num_pools):
        side //= 2
    if side < 1:
        raise ConfigError(f"image_size {image_size} is too small for {num_pools} pooling steps; "
                          f"use >= {2 ** num_pools}.")
    return channels * side * side


class _SequentialCNN(SingleBackboneModel):
    """A CNN whose backbone is one ``nn.Sequential`` of named blocks."""

    def __init__(self, name: str, blocks: "OrderedDict[str, nn.Module]", feature_dim: int, cam_block: str,
                 num_classes: int, binary_single_logit: bool, head_hidden: int | None, dropout: float) -> None:
        super().__init__(name, feature_dim)
        self.backbone = nn.Sequential(blocks)
        self._cam_block = cam_block
        self.reset_classifier(num_classes, binary_single_logit, head_hidden, dropout)

    def backbone_blocks(self) -> dict[str, list[nn.Module]]:
        """The conv blocks then the dense block, input to output."""
        return {"backbone": list(self.backbone.children())}

    def cam_target_layer(self) -> nn.Module:
        """The last conv block (its output is the last 4-D activation)."""
        return getattr(self.backbone, self._cam_block)


class BasicCNN(_SequentialCNN):
    """S1 basic CNN (BreaKHis baseline).

    3 blocks Conv3x3 (32, 64, 128; padding 1) -> BatchNorm -> ReLU -> MaxPool2;
    Flatten; Dense ``hidden`` (256; the study's variant used 128) -> ReLU ->
    Dropout 0.5 (these form the features, ``feature_dim == hidden``); the head
    is Dense -> ``num_outputs`` (1 logit + sigmoid/BCE in the study). The
    flatten size is ``128 * (image_size // 8) ** 2`` (100,352 at 224).
    """

    def __init__(self, num_classes: int = 2, binary_single_logit: bool = True, hidden: int = 256,
                 dropout: float = 0.0, image_size: int = 224, in_chans: int = 3) -> None:
        if hidden < 1:
            raise ConfigError(f"basic_cnn: the Dense layer width (head_hidden) must be positive, got {hidden}.")
        flat = flat_size(128, image_size, 3)
        blocks: OrderedDict[str, nn.Module] = OrderedDict(
            block1=conv_block(in_chans, 32, True),
            block2=conv_block(32, 64, True),
            block3=conv_block(64, 128, True),
            dense=nn.Sequential(nn.Flatten(), nn.Linear(flat, hidden), nn.ReLU(inplace=True),
                                nn.Dropout(0.5)),
        )
        super().__init__("basic_cnn", blocks, hidden, "block3", num_classes, binary_single_logit, None, dropout)
        self.flat_features = flat


class SimpleCNN(_SequentialCNN):
    """S2 simple CNN (small imbalanced 3-class set).

    Conv3x3 3->16 -> ReLU -> MaxPool2 -> Conv3x3 16->32 -> ReLU -> MaxPool2
    (padding 1, so 56x56x32 = 100,352 values at 224) -> FC 512 -> FC 128 ->
    FC ``num_outputs``. Spec-faithful: the study lists no activation between
    the FC layers, so there is none; the three layers then compose to one
    affine map of rank <= 128 (a factorised linear classifier). The features
    are the FC 128 output; the head is the last FC.
    """

    def __init__(self, num_classes: int = 2, binary_single_logit: bool = True, head_hidden: int | None = None,
                 dropout: float = 0.0, image_size: int = 224, in_chans: int = 3) -> None:
        flat = flat_size(32, image_size, 2)
        blocks: OrderedDict[str, nn.Module] = OrderedDict(
            block1=conv_block(in_chans, 16, False),
            block2=conv_block(16, 32, False),
            dense=nn.Sequential(nn.Flatten(), nn.Linear(flat, 512), nn.Linear(512, 128)),
        )
        super().__init__("simple_cnn", blocks, 128, "block2", num_classes, binary_single_logit, head_hidden, dropout)
        self.flat_features = flat


@register("model", "basic_cnn", family="cnn", default_size=224, pretrained_tag=None,
          description="S1 basic CNN: 3 conv blocks (32/64/128) + Dense 256 (head_hidden sets its width).")
def basic_cnn(num_classes: int = 2, *, binary_single_logit: bool = True, head_hidden: int | None = None,
              dropout: float = 0.0, image_size: int = 224, in_chans: int = 3) -> SingleBackboneModel:
    """S1 basic CNN; ``head_hidden`` is the width of its Dense layer (256, or the 128 variant)."""
    return BasicCNN(num_classes, binary_single_logit, head_hidden or 256, dropout, image_size, in_chans)


@register("model", "simple_cnn", family="cnn", default_size=224, pretrained_tag=None,
          description="S2 simple CNN: 2 conv blocks (16/32) + FC 512 -> FC 128 -> FC out.")
def simple_cnn(num_classes: int = 2, *, binary_single_logit: bool = True, head_hidden: int | None = None,
               dropout: float = 0.0, image_size: int = 224, in_chans: int = 3) -> SingleBackboneModel:
    """S2 simple CNN; ``head_hidden`` adds an MLP head on its 128-d features."""
    return SimpleCNN(num_classes, binary_single_logit, head_hidden, dropout, image_size, in_chans)
