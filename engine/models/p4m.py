"""S5's rotation/reflection-equivariant CNN: a P4M group-convolutional network.

Cohen & Welling, "Group Equivariant Convolutional Networks", ICML 2016: the
group P4M = 4 rotations x mirror (8 elements). A lifting convolution
(image -> functions on P4M) and P4M -> P4M group convolutions are ordinary
``conv2d`` calls with a filter bank expanded from the learned filters by
rotating/flipping them (and, for P4M -> P4M, permuting their group axis),
done as one ``gather`` with a precomputed index (GrouPy's approach), so the
network is exactly equivariant. Feature maps are ``[B, C * 8, H, W]`` (channel
``c * 8 + g``), so Grad-CAM and ONNX export see a plain CNN.

Each block: group conv -> BatchNorm shared over the group axis -> ReLU ->
anti-aliased pooling (Zhang, "Making Convolutional Networks Shift-Invariant
Again", ICML 2019: dense 3x3 max, then binomial blur with stride 2). The
blur has 3 taps on odd-sized maps and 4 taps on even-sized ones, so the
sampled grid is symmetric about the centre and pooling commutes with
rotations and flips for every square input size: after mean pooling over the
group and space the features are *exactly* invariant to the 8 rotations /
reflections of the input (tests/test_ssl_backbones.py). Then one FC (the head).
"""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

from engine.errors import ConfigError
from engine.models.base import SingleBackboneModel
from engine.registry import register

#: P4M elements as (mirror, quarter turns); element g acts on a map as rot90^r(flip^m(x)).
ELEMENTS = [(m, r) for m in (0, 1) for r in range(4)]
GROUP_SIZE = len(ELEMENTS)


def act(x: torch.Tensor, g: int) -> torch.Tensor:
    """Element ``g`` of P4M applied to the last two (spatial) dims of ``x``."""
    mirror, turns = ELEMENTS[g]
    if mirror:
        x = x.flip(-1)
    return torch.rot90(x, turns, dims=(-2, -1)) if turns else x


def _cayley() -> tuple[list[list[int]], list[int]]:
    """Product table ``mul[g][h]`` (act(act(x, h), g) == act(x, mul[g][h])) and inverses, from the action."""
    probe = torch.arange(9).reshape(3, 3)
    images = [act(probe, g) for g in range(GROUP_SIZE)]
    def index(y: torch.Tensor) -> int:
        return next(k for k, im in enumerate(images) if torch.equal(im, y))

    mul = [[index(act(act(probe, h), g)) for h in range(GROUP_SIZE)] for g in range(GROUP_SIZE)]
    inv = [mul[g].index(0) for g in range(GROUP_SIZE)]
    return mul, inv


MUL, INV = _cayley()


def filter_index(kernel: int, lifting: bool) -> torch.Tensor:
    """Gather index building the expanded filter bank from the learned one.

    Lifting: ``W[(o, g), i] = act(W[o, i], g)`` -> index ``[G, k, k]`` into ``k*k``.
    Group: ``W[(o, g), (i, h)] = act(W[o, i, g^-1 h], g)`` -> index ``[G, G, k, k]`` into ``G*k*k``.
    """
    k2 = kernel * kernel
    if lifting:
        base = torch.arange(k2).reshape(kernel, kernel)
        return torch.stack([act(base, g) for g in range(GROUP_SIZE)])
    base = torch.arange(GROUP_SIZE * k2).reshape(GROUP_SIZE, kernel, kernel)
    out = []
    for g in range(GROUP_SIZE):
        permuted = base[[MUL[INV[g]][h] for h in range(GROUP_SIZE)]]
        out.append(act(permuted, g))
    return torch.stack(out)


class P4MConv2d(nn.Module):
    """P4M group convolution (``lifting=True``: input is a plain image with ``in_channels`` channels;
    else the input has ``in_channels * 8`` channels). Output ``[B, out_channels * 8, H, W]`` (same size,
    stride 1, odd ``kernel``)."""

    index: torch.Tensor  # a (non-persistent) buffer

    def __init__(self, in_channels: int, out_channels: int, kernel: int = 3, lifting: bool = False) -> None:
        super().__init__()
        if kernel % 2 == 0:
            raise ConfigError("P4M convolutions need an odd kernel size (centred filters).")
        self.in_channels, self.out_channels, self.kernel, self.lifting = in_channels, out_channels, kernel, lifting
        g_in = 1 if lifting else GROUP_SIZE
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, g_in, kernel, kernel))
        nn.init.kaiming_normal_(self.weight.view(out_channels, -1, kernel, kernel), nonlinearity="relu")
        self.register_buffer("index", filter_index(kernel, lifting), persistent=False)

    def expanded_weight(self) -> torch.Tensor:
        """The ordinary conv2d filter bank ``[out * 8, in * g_in, k, k]``."""
        o, i, k = self.out_channels, self.in_channels, self.kernel
        flat = self.weight.reshape(o, i, -1)[:, :, self.index]  # [o, i, G, (G,) k, k]
        if self.lifting:
            return flat.permute(0, 2, 1, 3, 4).reshape(o * GROUP_SIZE, i, k, k)
        return flat.permute(0, 2, 1, 3, 4, 5).reshape(o * GROUP_SIZE, i * GROUP_SIZE, k, k)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Group correlation of ``x`` with the expanded filters (zero padding, size kept)."""
        return F.conv2d(x, self.expanded_weight(), padding=self.kernel // 2)


class GroupBatchNorm(nn.BatchNorm3d):
    """BatchNorm over ``[B, C * 8, H, W]`` with one mean/variance/affine per channel ``C``, shared by
    the 8 group elements (statistics over batch, group and space keep equivariance)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise; the group axis is split off and merged back."""
        b, cg, h, w = x.shape
        return super().forward(x.reshape(b, cg // GROUP_SIZE, GROUP_SIZE, h, w)).reshape(b, cg, h, w)


class AntiAliasedPool(nn.Module):
    """Max-blur pooling (Zhang 2019): dense 3x3 max (stride 1), then a binomial blur with stride 2.

    The blur is [1, 2, 1] on odd sizes and [1, 3, 3, 1] on even sizes (padding 1),
    so the output grid is centred and the pooling commutes with rotations by
    90 degrees and flips. Output side: ``ceil(side / 2)``.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.channels = int(channels)
        for name, taps in (("odd", [1.0, 2.0, 1.0]), ("even", [1.0, 3.0, 3.0, 1.0])):
            kernel = torch.tensor(taps) / sum(taps)  # depthwise kernels, fixed shapes (ONNX export)
            self.register_buffer(f"{name}_h", kernel.view(1, 1, -1, 1).repeat(self.channels, 1, 1, 1),
                                 persistent=False)
            self.register_buffer(f"{name}_w", kernel.view(1, 1, 1, -1).repeat(self.channels, 1, 1, 1),
                                 persistent=False)

    def _blur(self, x: torch.Tensor, dim: int) -> torch.Tensor:
        parity = "odd" if x.shape[dim] % 2 else "even"
        if dim == -2:
            return F.conv2d(x, getattr(self, f"{parity}_h").to(x.dtype), stride=(2, 1), padding=(1, 0),
                            groups=self.channels)
        return F.conv2d(x, getattr(self, f"{parity}_w").to(x.dtype), stride=(1, 2), padding=(0, 1),
                        groups=self.channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, C, H, W] -> [B, C, ceil(H/2), ceil(W/2)]``."""
        x = F.max_pool2d(x, 3, stride=1, padding=1)
        return self._blur(self._blur(x, -2), -1)


class GroupPool(nn.Module):
    """Mean over the 8 group elements and all positions: ``[B, C * 8, H, W] -> [B, C]`` (invariant)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Invariant features."""
        b, cg, h, w = x.shape
        return x.reshape(b, cg // GROUP_SIZE, GROUP_SIZE * h * w).mean(dim=-1)


def p4m_block(in_ch: int, out_ch: int, lifting: bool, kernel: int = 3) -> nn.Sequential:
    """Group conv -> group BatchNorm -> ReLU -> anti-aliased pooling."""
    return nn.Sequential(OrderedDict(conv=P4MConv2d(in_ch, out_ch, kernel, lifting), bn=GroupBatchNorm(out_ch),
                                     relu=nn.ReLU(inplace=True),
                                     pool=AntiAliasedPool(out_ch * GROUP_SIZE)))


class P4MCNN(SingleBackboneModel):
    """S5 equivariant backbone: 3 P4M blocks (lifting + 2 group convs), group/space pooling, 1 FC head.

    ``widths`` are channels per group element (x8 feature maps): the default
    (16, 32, 64) has 128/256/512 maps like a small CNN. Features: ``widths[-1]``
    values, invariant to the 8 rotations/reflections of a square input.
    """

    def __init__(self, num_classes: int = 2, binary_single_logit: bool = True, head_hidden: int | None = None,
                 dropout: float = 0.0, in_chans: int = 3, widths: tuple[int, ...] = (16, 32, 64)) -> None:
        if len(widths) < 2 or min(widths) < 1:
            raise ConfigError(f"p4m_cnn needs at least 2 positive block widths, got {widths}.")
        super().__init__("p4m_cnn", widths[-1])
        blocks: OrderedDict[str, nn.Module] = OrderedDict()
        for i, (cin, cout) in enumerate(zip((in_chans, *widths[:-1]), widths)):
            blocks[f"block{i + 1}"] = p4m_block(cin, cout, lifting=i == 0)
        blocks["pool"] = GroupPool()
        self.backbone = nn.Sequential(blocks)
        self.in_chans = in_chans
        self.reset_classifier(num_classes, binary_single_logit, head_hidden, dropout)

    def backbone_blocks(self) -> dict[str, list[nn.Module]]:
        """The group-conv blocks, input to output."""
        return {"backbone": [m for n, m in self.backbone.named_children() if n.startswith("block")]}

    def cam_target_layer(self) -> nn.Module:
        """The last block (``[B, C * 8, h, w]`` maps)."""
        return self.backbone_blocks()["backbone"][-1]


@register("model", "p4m_cnn", family="equivariant", default_size=224, pretrained_tag=None,
          description="S5 P4M group-equivariant CNN (Cohen & Welling 2016): 3 blocks, rotation/flip-invariant "
                      "features; S5 used 64 px grayscale (in_chans=1).")
def p4m_cnn(num_classes: int = 2, *, binary_single_logit: bool = True, head_hidden: int | None = None,
            dropout: float = 0.0, image_size: int = 224, in_chans: int = 3) -> SingleBackboneModel:
    """S5's P4M CNN; any square ``image_size`` >= 8 works (pooling adapts to the size)."""
    if int(image_size) < 8:
        raise ConfigError(f"p4m_cnn needs images of at least 8 px, got {image_size}.")
    return P4MCNN(num_classes, binary_single_logit, head_hidden, dropout, in_chans)


