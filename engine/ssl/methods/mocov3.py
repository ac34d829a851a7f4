"""MoCo v3: Chen, Xie, He, "An Empirical Study of Training Self-Supervised Vision Transformers",
ICCV 2021.

Query path: encoder -> projector (3 layers, hidden 4096, out 256, BN) ->
predictor (2 layers). Key path: momentum encoder + projector (m 0.99, cosine
schedule to 1; ``target_encoder`` / ``target_projector``). Loss: symmetrised
InfoNCE, tau 0.2, scaled by 2 tau as in the official code
(:class:`~engine.ssl.losses.MoCoV3Loss`); negatives are the other images of
the batch (no queue in v3).
"""

from __future__ import annotations

from engine.registry import register
from engine.ssl.base import PredictorMethod, s4_defaults
from engine.ssl.heads import mocov3_predictor, mocov3_projector
from engine.ssl.losses import MoCoV3Loss

DEFAULTS = s4_defaults(1e-3, 1e-4, 3e-3, 5e-4, momentum=0.99, temperature=0.2, proj_hidden=4096, proj_dim=256,
                       pred_hidden=4096)


@register("ssl", "mocov3", label="MoCo v3", defaults=DEFAULTS, paper="Chen, Xie, He, ICCV 2021 (arXiv:2104.02057)",
          description="Contrastive against a momentum key encoder (symmetric InfoNCE, tau 0.2).")
class MoCoV3(PredictorMethod):
    """MoCo v3 around ``encoder`` (settings: ``DEFAULTS``)."""

    DEFAULTS = DEFAULTS

    def build_heads(self, feature_dim, hp):
        """MoCo v3 projector (3 layers), predictor (2 layers) and the symmetric InfoNCE."""
        return (mocov3_projector(feature_dim, int(hp["proj_hidden"]), int(hp["proj_dim"])),
                mocov3_predictor(int(hp["proj_dim"]), int(hp["pred_hidden"])), MoCoV3Loss(hp["temperature"]))
