"""The one interface every registry model implements: :class:`HistoModel`.

Modelled on timm's models (``forward_features`` / ``forward_head`` /
``reset_classifier``), so CAM, embeddings, SSL and export never special-case
a backbone. A model is split into *backbone parts* (one for most models,
``effnet`` and ``vit`` for the S3 hybrid) and a *head* (classifier, plus the
S3 fusion block); freezing, learning-rate groups and Grad-CAM targets are
expressed in those terms.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from torch import nn

from engine.errors import ConfigError
from engine.models import trainable


def num_outputs_for(num_classes: int, binary_single_logit: bool = True) -> int:
    """Logits a head needs: 1 for a binary task with a single logit (BCE), else ``num_classes``."""
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise ConfigError(f"A classifier needs at least 2 classes, got {num_classes!r}.")
    return 1 if (num_classes == 2 and binary_single_logit) else num_classes


def mlp_head(in_dim: int, num_outputs: int, hidden: int | None = None, dropout: float = 0.0) -> nn.Sequential:
    """Classifier head: ``[Dropout] -> Linear`` or ``[Dropout] -> Linear(hidden) -> ReLU -> Linear``.

    ``dropout`` acts on the features entering the head (timm's ``drop_rate``);
    ``hidden`` gives S1's transfer head "GAP -> Dense 128 ReLU -> Dense 1".
    """
    if not 0.0 <= float(dropout) < 1.0:
        raise ConfigError(f"model.dropout must be in [0, 1), got {dropout}.")
    layers: list[nn.Module] = [nn.Dropout(dropout)] if dropout > 0 else []
    if hidden:
        if hidden < 1:
            raise ConfigError(f"model.head_hidden must be a positive width, got {hidden}.")
        layers += [nn.Linear(in_dim, hidden), nn.ReLU(inplace=True)]
        in_dim = hidden
    layers.append(nn.Linear(in_dim, num_outputs))
    return nn.Sequential(*layers)


def module_group(*modules: nn.Module) -> nn.Module:
    """Several sibling modules seen as one block (a view: nothing is re-registered)."""
    return modules[0] if len(modules) == 1 else nn.ModuleList(modules)


#: Default of :meth:`HistoModel.reset_classifier`: keep the current head's hidden width and dropout.
SAME_HEAD = object()


@dataclass
class PretrainedPart:
    """A backbone part that ImageNet weights exist for (see :mod:`engine.models.weights`).

    ``registry_name`` names the local file looked for (``<registry_name>.safetensors``),
    ``timm_tag`` the timm/Hugging Face weights and ``timm_kwargs`` the
    arguments the part was built with (``img_size``, ``in_chans``).
    """

    module: nn.Module
    registry_name: str
    timm_tag: str
    timm_kwargs: dict[str, Any] = field(default_factory=dict)


class HistoModel(nn.Module):
    """Base class of every classifier in the model registry.

    Subclasses set ``self.head`` through :meth:`reset_classifier` and
    implement :meth:`forward_features`, :meth:`backbone_parts`,
    :meth:`backbone_blocks` and :meth:`cam_target_layer`.

    Frozen BatchNorm: :meth:`train` puts every BatchNorm layer whose
    parameters are all frozen into eval mode, so a frozen backbone keeps its
    ImageNet running statistics (Keras does the same for ``trainable=False``
    layers, which the S1 transfer recipe relied on). Call
    :meth:`apply_frozen_bn_eval` after changing ``requires_grad`` by hand.
    """

    def __init__(self, name: str, feature_dim: int) -> None:
        super().__init__()
        self.name = name
        self._feature_dim = int(feature_dim)
        self.num_classes = 0
        self.binary_single_logit = True
        self._num_outputs = 0
        self.weights_report: Any = None  # set by create_model when weights are loaded

    # -- sizes -------------------------------------------------------------
    @property
    def feature_dim(self) -> int:
        """Width of :meth:`forward_features`' output."""
        return self._feature_dim

    @property
    def num_outputs(self) -> int:
        """Number of logits (1 for binary single-logit, else ``num_classes``)."""
        return self._num_outputs

    # -- to implement --------------------------------------------------------
    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled features ``[B, feature_dim]`` of images ``x`` ``[B, C, H, W]``."""
        raise NotImplementedError

    def backbone_parts(self) -> dict[str, nn.Module]:
        """The backbone modules by part name, e.g. ``{"backbone": ...}``."""
        raise NotImplementedError

    def backbone_blocks(self) -> dict[str, list[nn.Module]]:
        """Per backbone part, its blocks/stages ordered from input to output."""
        raise NotImplementedError

    def cam_target_layer(self) -> nn.Module:
        """The layer Grad-CAM hooks: the last conv block (ViT: last block's ``norm1``)."""
        raise NotImplementedError

    @property
    def cam_reshape_transform(self) -> Callable[[torch.Tensor], torch.Tensor] | None:
        """None for CNNs; for ViTs a callable turning tokens ``[B, 1+N, C]`` into ``[B, C, h, w]``."""
        return None

    def pretrained_parts(self) -> dict[str, PretrainedPart]:
        """Backbone parts with ImageNet weights (empty for models trained from scratch)."""
        return {}

    def build_head(self, num_outputs: int, head_hidden: int | None, dropout: float) -> nn.Module:
        """A new classifier for ``feature_dim`` features (see :func:`mlp_head`)."""
        return mlp_head(self.feature_dim, num_outputs, head_hidden, dropout)

    def head_modules(self) -> list[nn.Module]:
        """Modules that count as "head" for freezing and learning rates."""
        return [self.head]

    # -- forward ---------------------------------------------------------------
    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        """Logits ``[B, num_outputs]`` from pooled features."""
        return self.head(features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``forward_head(forward_features(x))``."""
        return self.forward_head(self.forward_features(x))

    def reset_classifier(self, num_classes: int, binary_single_logit: bool = True,
                         head_hidden: Any = SAME_HEAD, dropout: Any = SAME_HEAD) -> None:
        """Replace the classifier with a fresh one for ``num_classes`` classes.

        Binary tasks with ``binary_single_logit`` get one logit (BCE), others
        ``num_classes`` logits (cross-entropy). The new head is trainable and
        lives on the device/dtype of the existing parameters. ``head_hidden`` and
        ``dropout`` default to those of the current head, so a model rebuilt from
        its config (which passes its own, e.g. ``basic_cnn`` spends ``head_hidden``
        on its Dense layer) gets the same head again.
        """
        head_hidden = getattr(self, "_head_hidden", None) if head_hidden is SAME_HEAD else head_hidden
        dropout = getattr(self, "_head_dropout", 0.0) if dropout is SAME_HEAD else dropout
        self._head_hidden, self._head_dropout = head_hidden, dropout
        outputs = num_outputs_for(num_classes, binary_single_logit)
        ref = next(iter(self.backbone_parts().values())).parameters()
        ref_param = next(ref, None)
        head = self.build_head(outputs, head_hidden, float(dropout or 0.0))
        if ref_param is not None:
            head = head.to(device=ref_param.device, dtype=ref_param.dtype)
        self.head = head
        self.num_classes, self.binary_single_logit, self._num_outputs = num_classes, binary_single_logit, outputs

    # -- training helpers --------------------------------------------------------
    def set_trainable(self, spec: Any) -> None:
        """Choose what trains: ``"head"``, ``"all"``, ``{"last": N}`` or per part ``{"vit": {"last": 4}}``.

        See :func:`engine.models.trainable.set_trainable` for the rules.
        """
        trainable.set_trainable(self, spec)
        self.train(self.training)

    def param_groups(self, lr_head: float, lr_backbone: float | None = None) -> list[dict[str, Any]]:
        """Optimizer groups ``"head"`` and ``"backbone"`` of trainable parameters (empty groups left out)."""
        return trainable.param_groups(self, lr_head, lr_head if lr_backbone is None else lr_backbone)

    def apply_frozen_bn_eval(self) -> None:
        """Put BatchNorm layers whose parameters are all frozen into eval mode."""
        trainable.frozen_bn_eval(self)

    def train(self, mode: bool = True) -> "HistoModel":
        """``nn.Module.train``, keeping frozen BatchNorm layers in eval mode."""
        super().train(mode)
        if mode:
            self.apply_frozen_bn_eval()
        return self

    def extra_repr(self) -> str:
        return f"name={self.name!r}, feature_dim={self.feature_dim}, num_outputs={self.num_outputs}"


class SingleBackboneModel(HistoModel):
    """A :class:`HistoModel` whose whole feature extractor is ``self.backbone``."""

    backbone: nn.Module

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled features ``[B, feature_dim]`` from ``self.backbone``."""
        return self.backbone(x)

    def backbone_parts(self) -> dict[str, nn.Module]:
        """``{"backbone": self.backbone}``."""
        return {"backbone": self.backbone}
