"""Momentum (EMA) target networks for BYOL, DINO and MoCo v3.

Grill et al., "Bootstrap Your Own Latent", NeurIPS 2020 (Eq. 1 and the cosine
schedule of tau in section 3.2); Caron et al., "Emerging Properties in
Self-Supervised Vision Transformers" (DINO), ICCV 2021; Chen, Xie, He, "An
Empirical Study of Training Self-Supervised Vision Transformers" (MoCo v3),
ICCV 2021. Same helpers as lightly's ``models/utils.py``.
"""

from __future__ import annotations

import copy
import math

from typing import TypeVar

import torch
from torch import nn

ModuleT = TypeVar("ModuleT", bound=nn.Module)


def deactivate_requires_grad(module: nn.Module) -> nn.Module:
    """Freeze every parameter of ``module`` (a target network is never trained by gradients)."""
    for p in module.parameters():
        p.requires_grad_(False)
    return module


def frozen_copy(module: ModuleT) -> ModuleT:
    """A deep copy of ``module`` with ``requires_grad`` off: the initial EMA target (BYOL: target = online at start)."""
    copied = copy.deepcopy(module)
    deactivate_requires_grad(copied)
    return copied


@torch.no_grad()
def update_momentum(target: nn.Module, online: nn.Module, m: float) -> None:
    """EMA of parameters: ``target = m * target + (1 - m) * online`` (BYOL Eq. 1).

    Buffers (BatchNorm statistics) are not averaged: each network keeps its
    own, as in the reference implementations.
    """
    targets: list[torch.Tensor] = list(target.parameters())
    online_params = [p.detach() for p in online.parameters()]
    if all(t.dtype == o.dtype and t.device == o.device for t, o in zip(targets, online_params)):
        torch._foreach_lerp_(targets, online_params, 1.0 - m)  # one fused update, not 2 kernels per tensor
        return
    for t, o in zip(targets, online_params):
        t.mul_(m).add_(o.to(t.dtype), alpha=1.0 - m)


def cosine_schedule(step: int, total_steps: int, base: float, final: float = 1.0) -> float:
    """Cosine ramp from ``base`` (step 0) to ``final`` (last step): BYOL's
    ``tau = 1 - (1 - tau_base) * (cos(pi k / K) + 1) / 2``."""
    if total_steps <= 1:
        return final if step > 0 else base
    t = min(max(step / (total_steps - 1), 0.0), 1.0)
    return final - (final - base) * (math.cos(math.pi * t) + 1.0) / 2.0
