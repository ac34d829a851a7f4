"""SimCLR: Chen, Kornblith, Norouzi, Hinton, "A Simple Framework for Contrastive Learning of Visual
Representations", ICML 2020.

encoder f -> projection head g (S4: D -> 512 -> 128; S1: 512 -> 256 -> 128,
``proj_hidden=256``) -> NT-Xent over the 2N views of a batch (tau 0.5).
"""

from __future__ import annotations

import torch

from engine.registry import register
from engine.ssl.base import SSLMethod, forward_views, s4_defaults
from engine.ssl.heads import simclr_head
from engine.ssl.losses import NTXentLoss

DEFAULTS = s4_defaults(3e-4, 1e-6, 1e-3, 1e-3, temperature=0.5, proj_hidden=512, proj_dim=128, head_bn=False)


@register("ssl", "simclr", label="SimCLR", defaults=DEFAULTS, paper="Chen et al., ICML 2020 (arXiv:2002.05709)",
          description="Contrastive: two views of an image attract, other images repel (NT-Xent, tau 0.5).")
class SimCLR(SSLMethod):
    """SimCLR around ``encoder`` (settings: ``DEFAULTS``)."""

    DEFAULTS = DEFAULTS
    n_views = 2

    def __init__(self, encoder, **hparams):
        super().__init__(encoder, **hparams)
        hp = self.hparams
        self.head = simclr_head(encoder.feature_dim, int(hp["proj_hidden"]), int(hp["proj_dim"]), bool(hp["head_bn"]))
        self.criterion = NTXentLoss(hp["temperature"])

    def training_step(self, views: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        """NT-Xent of the projections of the two views."""
        z1, z2 = forward_views(lambda x: self.head(self.encoder.forward_features(x)), views[:2])
        return {"loss": self.criterion(z1, z2)}
