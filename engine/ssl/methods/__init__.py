"""SSL methods registered as kind ``"ssl"``: SimCLR, BYOL, DINO, MoCo v3 (methods.md S4).

``create_method(name, encoder, **hparams)`` builds one; ``names("ssl")``
lists them in registration order. Each method's registry metadata holds
``label``, ``paper``, ``description`` and ``defaults`` (S4's optimiser
settings, temperatures, momentum and widths, plus the downstream
``probe_lr`` / ``finetune_lr``).
"""

from typing import Any

from engine import registry
from engine.ssl.methods import simclr  # noqa: F401
from engine.ssl.methods import byol  # noqa: F401
from engine.ssl.methods import dino  # noqa: F401
from engine.ssl.methods import mocov3  # noqa: F401
# Loop-based methods registered by other modules (DeepCluster) are imported below this line.
from engine.ssl import deepcluster  # noqa: F401  (registers "deepcluster", loop "deepcluster")


def create_method(name: str, encoder, **hparams: Any):
    """Build SSL method ``name`` around ``encoder`` (``registry.create("ssl", name, encoder=..., **hparams)``)."""
    return registry.create("ssl", name, encoder=encoder, **hparams)


__all__ = ["create_method"]
