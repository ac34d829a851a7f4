"""BYOL: Grill et al., "Bootstrap Your Own Latent: A New Approach to Self-Supervised Learning",
NeurIPS 2020.

Online: encoder -> projector (D -> 4096 BN ReLU -> 256) -> predictor
(256 -> 4096 -> 256). Target: EMA copies of encoder and projector (tau 0.996,
cosine schedule to 1). Loss: 2 - 2cos(prediction, stop-grad(target
projection)), symmetrised over the two views.
"""

from __future__ import annotations

from engine.registry import register
from engine.ssl.base import PredictorMethod, s4_defaults
from engine.ssl.heads import byol_predictor, byol_projector
from engine.ssl.losses import BYOLLoss

DEFAULTS = s4_defaults(1e-4, 1e-4, 1e-3, 1e-4, momentum=0.996, proj_hidden=4096, proj_dim=256, pred_hidden=4096)


@register("ssl", "byol", label="BYOL", defaults=DEFAULTS, paper="Grill et al., NeurIPS 2020 (arXiv:2006.07733)",
          description="Predict an EMA target network's projection of the other view (no negatives).")
class BYOL(PredictorMethod):
    """BYOL around ``encoder`` (settings: ``DEFAULTS``); target networks: ``target_encoder``/``target_projector``."""

    DEFAULTS = DEFAULTS

    def build_heads(self, feature_dim, hp):
        """BYOL projector, predictor and the symmetric 2 - 2cos loss."""
        return (byol_projector(feature_dim, int(hp["proj_hidden"]), int(hp["proj_dim"])),
                byol_predictor(int(hp["proj_dim"]), int(hp["pred_hidden"])), BYOLLoss())
