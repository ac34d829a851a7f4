"""S3 hybrid: EfficientNetV2-S + ViT-B/16 features, a fusion block and a classifier.

Exactly as ``shared/reference/methods.md`` (S3, "Model") describes it:

- EfficientNetV2-S (Tan & Le 2021) features -> global average pool -> flatten (1280);
- ViT-B/16 (Dosovitskiy et al. 2021) with its head removed, [CLS] output (768);
- concatenate (d = 2048);
- fusion block: LayerNorm(d) -> Linear(d, 1024) -> GELU -> LayerNorm(1024)
  -> Dropout 0.6 -> Linear(1024, 1024);
- classifier: LayerNorm(1024) -> Linear(1024, 512) -> GELU -> Dropout 0.7
  -> Linear(512, 2) (two logits + cross-entropy in the study: pass
  ``binary_single_logit=False``, as the S3 preset does).

The fusion block counts as head: ``set_trainable("head")`` trains fusion +
classifier with both backbones frozen (S3 phase 1). ``pretrained="imagenet"``
initialises both backbones. ``forward_features`` returns the concatenated
``d``-dim vector; ``forward_head`` applies fusion then classifier.
"""

from __future__ import annotations

import torch
from torch import nn

from engine.errors import ConfigError
from engine.models.backbones import (
    TIMM_MODELS,
    create_timm_backbone,
    efficientnet_blocks,
    timm_feature_dim,
    vit_blocks,
)
from engine.models.base import HistoModel, PretrainedPart
from engine.registry import register

FUSION_DIM = 1024
CLASSIFIER_HIDDEN = 512
FUSION_DROPOUT = 0.6
CLASSIFIER_DROPOUT = 0.7
PART_MODELS = {"effnet": "efficientnetv2_s", "vit": "vit_b16"}


def fusion_block(in_dim: int, dim: int = FUSION_DIM) -> nn.Sequential:
    """S3 fusion: LayerNorm -> Linear(in, dim) -> GELU -> LayerNorm(dim) -> Dropout 0.6 -> Linear(dim, dim)."""
    return nn.Sequential(nn.LayerNorm(in_dim), nn.Linear(in_dim, dim), nn.GELU(), nn.LayerNorm(dim),
                         nn.Dropout(FUSION_DROPOUT), nn.Linear(dim, dim))


def s3_classifier(num_outputs: int, in_dim: int = FUSION_DIM, hidden: int = CLASSIFIER_HIDDEN,
                  dropout: float = 0.0) -> nn.Sequential:
    """S3 classifier: LayerNorm -> Linear(in, hidden) -> GELU -> Dropout 0.7 -> Linear(hidden, outputs).

    ``dropout`` > 0 adds a Dropout on the classifier's input (not in S3).
    """
    if not 0.0 <= dropout < 1.0 or hidden < 1:
        raise ConfigError(f"hybrid head: dropout must be in [0, 1) and head_hidden positive ({dropout}, {hidden}).")
    layers: list[nn.Module] = [nn.Dropout(dropout)] if dropout > 0 else []
    layers += [nn.LayerNorm(in_dim), nn.Linear(in_dim, hidden), nn.GELU(), nn.Dropout(CLASSIFIER_DROPOUT),
               nn.Linear(hidden, num_outputs)]
    return nn.Sequential(*layers)


class HybridEffNetViT(HistoModel):
    """S3 hybrid EfficientNetV2-S + ViT-B/16 classifier (parts ``effnet`` and ``vit``)."""

    def __init__(self, num_classes: int = 2, binary_single_logit: bool = False, head_hidden: int | None = None,
                 dropout: float = 0.0, image_size: int = 224, in_chans: int = 3) -> None:
        effnet, effnet_kwargs = create_timm_backbone(TIMM_MODELS["efficientnetv2_s"], image_size, in_chans)
        vit, vit_kwargs = create_timm_backbone(TIMM_MODELS["vit_b16"], image_size, in_chans)
        super().__init__("hybrid_effnetv2s_vitb16", timm_feature_dim(effnet) + timm_feature_dim(vit))
        self.effnet = effnet
        self.vit = vit
        self._part_kwargs = {"effnet": effnet_kwargs, "vit": vit_kwargs}
        self.fusion = fusion_block(self.feature_dim)
        self.reset_classifier(num_classes, binary_single_logit, head_hidden, dropout)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """``cat(effnet pooled features, ViT [CLS])``, ``[B, 1280 + 768]``."""
        return torch.cat([self.effnet(x), self.vit(x)], dim=1)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        """Fusion block, then the classifier."""
        return self.head(self.fusion(features))

    def build_head(self, num_outputs: int, head_hidden: int | None, dropout: float) -> nn.Module:
        """The S3 classifier (``head_hidden`` replaces its 512 width when given)."""
        return s3_classifier(num_outputs, FUSION_DIM, head_hidden or CLASSIFIER_HIDDEN, dropout)

    def head_modules(self) -> list[nn.Module]:
        """Fusion block and classifier: both train while the backbones are frozen."""
        return [self.fusion, self.head]

    def backbone_parts(self) -> dict[str, nn.Module]:
        """``{"effnet": ..., "vit": ...}``."""
        return {"effnet": self.effnet, "vit": self.vit}

    def backbone_blocks(self) -> dict[str, list[nn.Module]]:
        """EfficientNetV2-S stages (stem, 6 stages, 1x1 conv) and ViT (patch embedding, 12 blocks)."""
        return {"effnet": efficientnet_blocks(self.effnet), "vit": vit_blocks(self.vit)}

    def cam_target_layer(self) -> nn.Module:
        """The EfficientNet branch's last conv block (``conv_head`` -> BN + SiLU, i.e. ``bn2``)."""
        return self.effnet.get_submodule("bn2")

    def pretrained_parts(self) -> dict[str, PretrainedPart]:
        """Both backbones, each with its own ImageNet weights (and local file name)."""
        modules = self.backbone_parts()
        return {part: PretrainedPart(modules[part], reg, TIMM_MODELS[reg].tag, dict(self._part_kwargs[part]))
                for part, reg in PART_MODELS.items()}


@register("model", "hybrid_effnetv2s_vitb16", family="hybrid", default_size=224,
          pretrained_tag="+".join(TIMM_MODELS[m].tag for m in PART_MODELS.values()), parts=dict(PART_MODELS),
          recipe={"binary_single_logit": False},
          description="S3 hybrid EfficientNetV2-S + ViT-B/16 with fusion block (two logits in S3).")
def hybrid_effnetv2s_vitb16(num_classes: int = 2, *, binary_single_logit: bool = True,
                            head_hidden: int | None = None, dropout: float = 0.0, image_size: int = 224,
                            in_chans: int = 3) -> HistoModel:
    """S3 hybrid; S3 itself uses ``binary_single_logit=False`` (2 logits, cross-entropy)."""
    return HybridEffNetViT(num_classes, binary_single_logit, head_hidden, dropout, image_size, in_chans)
