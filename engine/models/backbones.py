"""ImageNet backbones through timm, wrapped in the :class:`HistoModel` interface.

Each backbone is built with ``timm.create_model(arch, pretrained=False,
num_classes=0)``, so its output is the pooled pre-logits feature vector (for
ViT the normed ``[CLS]`` token); the classifier is ours (:func:`mlp_head`).
Pretrained weights are loaded afterwards by :mod:`engine.models.weights`.

Pretrained tags: torchvision's ImageNet-1k weights (``*.tv_in1k``) for
ResNet and VGG, as the S1/S2 studies used; timm's only/standard tags for
MobileNet; for S3's backbones the ImageNet-21k -> 1k fine-tuned weights
(``tf_efficientnetv2_s.in21k_ft_in1k``, ``vit_base_patch16_224.augreg2_in21k_ft_in1k``).
Grad-CAM target layers follow pytorch-grad-cam's README (ResNet
``layer4[-1]``, VGG ``features[-1]``, ViT ``blocks[-1].norm1`` plus a
reshape transform).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Callable

import timm
import torch
from torch import nn

from engine.models.base import PretrainedPart, SingleBackboneModel, module_group
from engine.registry import register

#: A timm model. Its submodules are reached by attribute name (``m.layer4``, ``m.blocks``), which
#: ``nn.Module.__getattr__`` types as ``Tensor | Module``: the helpers below take it untyped.
TimmNet = Any


def _with_params(*modules: nn.Module | None) -> list[nn.Module]:
    return [m for m in modules if m is not None and any(True for _ in m.parameters())]


def resnet_blocks(m: TimmNet) -> list[nn.Module]:
    """ResNet (He et al. 2016): stem, layer1..layer4."""
    return [module_group(m.conv1, m.bn1), m.layer1, m.layer2, m.layer3, m.layer4]


def vgg_blocks(m: TimmNet) -> list[nn.Module]:
    """VGG (Simonyan & Zisserman 2015): the 5 conv stages (split after each MaxPool), then fc6/fc7."""
    stages: list[nn.Module] = []
    current: list[nn.Module] = []
    for layer in m.features:
        current.append(layer)
        if isinstance(layer, nn.MaxPool2d):
            stages.append(nn.Sequential(*current))
            current = []
    if current:
        stages.append(nn.Sequential(*current))
    return stages + [m.pre_logits]


def efficientnet_blocks(m: TimmNet) -> list[nn.Module]:
    """EfficientNet/MobileNet: stem, each stage of ``blocks``, then the final 1x1 conv.

    This is torchvision's ``features`` indexing (EfficientNetV2 paper, Table 4:
    stage 0 stem, stages 1-6, stage 7 Conv1x1), so S3's "last 3 stages" are
    stages 5, 6 and the final conv.
    """
    tail = _with_params(getattr(m, "conv_head", None), getattr(m, "bn2", None), getattr(m, "norm_head", None))
    return [module_group(m.conv_stem, m.bn1), *m.blocks, module_group(*tail)]


def vit_blocks(m: TimmNet) -> list[nn.Module]:
    """ViT (Dosovitskiy et al. 2021): patch embedding, then the encoder blocks.

    The final norm goes with the last block, so ``{"last": 4}`` is exactly
    the last 4 encoder blocks (S3 phase 2).
    """
    last = module_group(m.blocks[-1], *_with_params(m.norm, getattr(m, "fc_norm", None)))
    return [module_group(m.patch_embed), *m.blocks[:-1], last]


def resnet_cam(m: TimmNet) -> nn.Module:
    """ResNet: the last bottleneck/basic block of ``layer4``."""
    return m.layer4[-1]


def vgg_cam(m: TimmNet) -> nn.Module:
    """VGG: the last layer of ``features`` (the 5th stage's output)."""
    return m.features[-1]


def head_conv_cam(m: TimmNet) -> nn.Module:
    """EfficientNet/MobileNetV2: the final 1x1 conv block's BN + activation (``bn2``)."""
    return m.bn2


def last_stage_cam(m: TimmNet) -> nn.Module:
    """MobileNetV3: the last stage (its 1x1 ``conv_head`` runs after pooling, on a 1x1 map)."""
    return m.blocks[-1]


def vit_cam(m: TimmNet) -> nn.Module:
    """ViT: ``norm1`` of the last encoder block (pytorch-grad-cam's recommendation)."""
    return m.blocks[-1].norm1


class TokensToGrid:
    """pytorch-grad-cam ``reshape_transform`` for ViTs: tokens ``[B, P+N, C]`` -> ``[B, C, h, w]``.

    Drops the ``num_prefix_tokens`` ([CLS]) and lays the patch tokens on the
    ``grid`` (inferred as a square when the token count differs).
    """

    def __init__(self, grid: tuple[int, int], num_prefix_tokens: int = 1) -> None:
        self.grid = tuple(grid)
        self.num_prefix_tokens = num_prefix_tokens

    def __call__(self, tokens: torch.Tensor) -> torch.Tensor:
        patches = tokens[:, self.num_prefix_tokens:, :]
        h, w = self.grid
        if h * w != patches.shape[1]:
            h = w = int(round(patches.shape[1] ** 0.5))
        return patches.reshape(patches.shape[0], h, w, patches.shape[2]).permute(0, 3, 1, 2)


@dataclass(frozen=True)
class TimmArch:
    """How one registry model maps onto timm: architecture, weights tag, blocks, CAM layer."""

    arch: str
    tag: str
    family: str
    blocks: Callable[[nn.Module], list[nn.Module]]
    cam_layer: Callable[[nn.Module], nn.Module]
    description: str
    is_vit: bool = False


TIMM_MODELS: dict[str, TimmArch] = {
    "resnet18": TimmArch("resnet18", "resnet18.tv_in1k", "resnet", resnet_blocks,
                         resnet_cam, "ResNet-18 (S1 SimCLR encoder, 512-d)"),
    "resnet50": TimmArch("resnet50", "resnet50.tv_in1k", "resnet", resnet_blocks,
                         resnet_cam, "ResNet-50 (S1 transfer learning, 2048-d)"),
    "resnet101": TimmArch("resnet101", "resnet101.tv_in1k", "resnet", resnet_blocks,
                          resnet_cam, "ResNet-101 (S2 transfer learning, 2048-d)"),
    "vgg16": TimmArch("vgg16", "vgg16.tv_in1k", "vgg", vgg_blocks,
                      vgg_cam, "VGG-16 (S1 comparison, 4096-d)"),
    "mobilenetv2": TimmArch("mobilenetv2_100", "mobilenetv2_100.ra_in1k", "mobilenet", efficientnet_blocks,
                            head_conv_cam, "MobileNetV2 1.0 (S1 comparison, S2 from scratch, 1280-d)"),
    "mobilenetv3": TimmArch("mobilenetv3_large_100", "mobilenetv3_large_100.ra_in1k", "mobilenet",
                            efficientnet_blocks, last_stage_cam, "MobileNetV3-Large 1.0 (1280-d)"),
    "efficientnetv2_s": TimmArch("tf_efficientnetv2_s", "tf_efficientnetv2_s.in21k_ft_in1k", "efficientnet",
                                 efficientnet_blocks, head_conv_cam, "EfficientNetV2-S (S3 branch, 1280-d)"),
    "vit_b16": TimmArch("vit_base_patch16_224", "vit_base_patch16_224.augreg2_in21k_ft_in1k", "vit",
                        vit_blocks, vit_cam, "ViT-B/16 (S3 branch, 768-d [CLS])", True),
}


def create_timm_backbone(arch: TimmArch, image_size: int = 224, in_chans: int = 3) -> tuple[nn.Module, dict[str, Any]]:
    """A randomly initialised timm backbone without classifier, and the kwargs it was built with.

    ResNets are built with ``zero_init_last=False`` (torchvision's default, which the studies used): timm
    otherwise zeroes the last BatchNorm gamma of every residual block, so a frozen random encoder (the
    "random" arm of a probe or label-efficiency study) would output zero from every residual branch.
    """
    kwargs: dict[str, Any] = {"in_chans": in_chans}
    if arch.is_vit:
        kwargs["img_size"] = image_size
    if arch.family == "resnet":
        kwargs["zero_init_last"] = False
    return timm.create_model(arch.arch, pretrained=False, num_classes=0, **kwargs), kwargs


def timm_feature_dim(backbone: TimmNet) -> int:
    """Width of a timm model's pooled pre-logits output."""
    return int(getattr(backbone, "head_hidden_size", None) or backbone.num_features)


def vit_reshape_transform(vit: TimmNet) -> TokensToGrid:
    """The :class:`TokensToGrid` matching a timm ViT's patch grid and prefix tokens."""
    return TokensToGrid(tuple(vit.patch_embed.grid_size), int(getattr(vit, "num_prefix_tokens", 1)))


class TimmModel(SingleBackboneModel):
    """A timm backbone (``self.backbone``) plus our classifier head (``self.head``)."""

    def __init__(self, name: str, arch: TimmArch, num_classes: int = 2, binary_single_logit: bool = True,
                 head_hidden: int | None = None, dropout: float = 0.0, image_size: int = 224,
                 in_chans: int = 3) -> None:
        backbone, kwargs = create_timm_backbone(arch, image_size, in_chans)
        super().__init__(name, timm_feature_dim(backbone))
        self.backbone = backbone
        self.arch = arch
        self._timm_kwargs = kwargs
        self.reset_classifier(num_classes, binary_single_logit, head_hidden, dropout)

    def backbone_blocks(self) -> dict[str, list[nn.Module]]:
        """Stages of the backbone, input to output (see the ``*_blocks`` functions)."""
        return {"backbone": self.arch.blocks(self.backbone)}

    def cam_target_layer(self) -> nn.Module:
        """pytorch-grad-cam's recommended target layer for this family."""
        return self.arch.cam_layer(self.backbone)

    @property
    def cam_reshape_transform(self) -> TokensToGrid | None:
        """Tokens -> grid for ViTs, None for CNNs."""
        return vit_reshape_transform(self.backbone) if self.arch.is_vit else None

    def pretrained_parts(self) -> dict[str, PretrainedPart]:
        """The backbone and the timm weights tag it can be initialised from."""
        return {"backbone": PretrainedPart(self.backbone, self.name, self.arch.tag, dict(self._timm_kwargs))}


def _factory(name: str, num_classes: int = 2, *, binary_single_logit: bool = True, head_hidden: int | None = None,
             dropout: float = 0.0, image_size: int = 224, in_chans: int = 3) -> SingleBackboneModel:
    return TimmModel(name, TIMM_MODELS[name], num_classes, binary_single_logit, head_hidden, dropout,
                     image_size, in_chans)


for _name, _arch in TIMM_MODELS.items():
    _fn = functools.partial(_factory, _name)
    _fn.__doc__ = f"{_arch.description}: timm ``{_arch.arch}``, ImageNet weights ``{_arch.tag}``."
    register("model", _name, family=_arch.family, default_size=224, pretrained_tag=_arch.tag,
             timm_arch=_arch.arch, description=_arch.description)(_fn)
