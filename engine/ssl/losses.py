"""Loss functions of the SSL methods (lightly's ``loss/`` package), pure torch, single process.

All losses compute in float32 (safe under fp16 autocast) with
``log_softmax`` / ``cross_entropy``, so large logits do not overflow.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from engine.errors import ConfigError


def _check_temperature(name: str, value: float) -> float:
    value = float(value)
    if not value > 0:
        raise ConfigError(f"{name} must be > 0, got {value}.")
    return value


class NTXentLoss(nn.Module):
    """NT-Xent, the normalised temperature-scaled cross-entropy of SimCLR.

    Chen, Kornblith, Norouzi, Hinton, "A Simple Framework for Contrastive
    Learning of Visual Representations", ICML 2020, Eq. 1:
    ``l(i, j) = -log exp(sim(z_i, z_j)/tau) / sum_{k != i} exp(sim(z_i, z_k)/tau)``
    averaged over all 2N anchors of the batch (both views), with cosine
    similarity ``sim``. Temperature 0.5 (methods.md S1/S4).
    """

    def __init__(self, temperature: float = 0.5) -> None:
        super().__init__()
        self.temperature = _check_temperature("temperature", temperature)

    def forward(self, z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
        """Loss of projections ``z1``, ``z2`` ``[N, d]`` of the two views (row i of each = one image)."""
        n = z1.shape[0]
        z = F.normalize(torch.cat([z1, z2]).float(), dim=1)
        logits = z @ z.T / self.temperature
        logits.fill_diagonal_(float("-inf"))  # k != i
        targets = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
        return F.cross_entropy(logits, targets)


def byol_regression(p: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """BYOL's ``||p/|p| - z/|z|||^2 = 2 - 2 cos(p, z)``, batch mean; ``z`` is not back-propagated."""
    return (2.0 - 2.0 * F.cosine_similarity(p.float(), z.detach().float(), dim=-1, eps=1e-6)).mean()


class BYOLLoss(nn.Module):
    """Symmetrised BYOL loss (Grill et al., "Bootstrap Your Own Latent", NeurIPS 2020, Eq. 2-3).

    ``L = (2 - 2cos(q(z1), sg(z2'))) + (2 - 2cos(q(z2), sg(z1')))`` where ``q``
    are the online predictions and ``z'`` the target projections.
    """

    def forward(self, p1: torch.Tensor, p2: torch.Tensor, z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
        """Online predictions ``p1, p2`` of views 1, 2 against target projections ``z2, z1``."""
        return byol_regression(p1, z2) + byol_regression(p2, z1)


class DINOLoss(nn.Module):
    """DINO self-distillation loss (Caron et al., "Emerging Properties in Self-Supervised Vision
    Transformers", ICCV 2021, Algorithm 1).

    ``H(t, s) = -sum softmax((t - c)/tau_t) * log_softmax(s/tau_s)`` averaged over
    every (teacher global view, student view) pair of different views. The
    centre ``c`` is an EMA (momentum 0.9) of the teacher outputs' batch mean;
    ``tau_s = 0.1``, ``tau_t = 0.04``. The teacher temperature can warm up
    linearly from ``warmup_teacher_temp`` over the first
    ``warmup_fraction`` of training (DINO: 0.04 -> 0.07 over 30 epochs).
    """

    center: torch.Tensor  # a buffer

    def __init__(self, out_dim: int, student_temp: float = 0.1, teacher_temp: float = 0.04,
                 center_momentum: float = 0.9, warmup_teacher_temp: float | None = None,
                 warmup_fraction: float = 0.0) -> None:
        super().__init__()
        self.student_temp = _check_temperature("student_temp", student_temp)
        self.teacher_temp = _check_temperature("teacher_temp", teacher_temp)
        self.warmup_teacher_temp = _check_temperature(
            "warmup_teacher_temp", teacher_temp if warmup_teacher_temp is None else warmup_teacher_temp)
        self.warmup_fraction = float(warmup_fraction)
        self.center_momentum = float(center_momentum)
        self.register_buffer("center", torch.zeros(1, int(out_dim)))

    def teacher_temp_at(self, progress: float) -> float:
        """Teacher temperature at training progress ``progress`` in [0, 1]."""
        if self.warmup_fraction <= 0 or progress >= self.warmup_fraction:
            return self.teacher_temp
        t = max(progress, 0.0) / self.warmup_fraction
        return self.warmup_teacher_temp + t * (self.teacher_temp - self.warmup_teacher_temp)

    def forward(self, teacher_out: list[torch.Tensor], student_out: list[torch.Tensor],
                progress: float = 1.0, update_center: bool = True) -> torch.Tensor:
        """Loss of ``student_out`` (all views, globals first) against ``teacher_out`` (the global views).

        Student view ``v`` and teacher view ``i`` are the same view when
        ``v == i``; those pairs are skipped. Updates the centre afterwards.
        """
        temp = self.teacher_temp_at(progress)
        teacher = [F.softmax((t.detach().float() - self.center) / temp, dim=-1) for t in teacher_out]
        student = [F.log_softmax(s.float() / self.student_temp, dim=-1) for s in student_out]
        total, pairs = torch.zeros(()), 0
        for i, t in enumerate(teacher):
            for v, s in enumerate(student):
                if v == i:
                    continue
                total = total + torch.sum(-t * s, dim=-1).mean()
                pairs += 1
        if pairs == 0:
            raise ConfigError("DINO needs at least two views (two global crops).")
        if update_center:
            self.update_center(teacher_out)
        return total / pairs

    @torch.no_grad()
    def update_center(self, teacher_out: list[torch.Tensor]) -> None:
        """``c = m c + (1 - m) mean(teacher outputs)`` over the batch and the global views."""
        batch_center = torch.cat([t.detach().float() for t in teacher_out]).mean(dim=0, keepdim=True)
        self.center.mul_(self.center_momentum).add_(batch_center, alpha=1.0 - self.center_momentum)


def info_nce(q: torch.Tensor, k: torch.Tensor, temperature: float) -> torch.Tensor:
    """InfoNCE of queries ``q`` against keys ``k`` ``[N, d]``: key ``i`` is query ``i``'s positive,
    the other keys of the batch its negatives (MoCo v3's ``contrastive_loss`` without the
    ``2 tau`` factor)."""
    q, k = F.normalize(q.float(), dim=1), F.normalize(k.detach().float(), dim=1)
    logits = q @ k.T / temperature
    return F.cross_entropy(logits, torch.arange(q.shape[0], device=q.device))


class MoCoV3Loss(nn.Module):
    """Symmetrised InfoNCE of MoCo v3 (Chen, Xie, He, "An Empirical Study of Training
    Self-Supervised Vision Transformers", ICCV 2021, Algorithm 1), tau 0.2 (S4).

    ``L = ctr(q1, k2) + ctr(q2, k1)`` with ``ctr(q, k) = 2 tau * InfoNCE(q, k)``:
    the official code multiplies the cross-entropy by ``2 * tau`` so that the
    gradient scale does not depend on the temperature; we do the same (the
    loss values are therefore ``2 tau`` times the plain InfoNCE). Keys come
    from the momentum encoder and carry no gradient; negatives are the other
    keys of the batch (single process, no all-gather).
    """

    def __init__(self, temperature: float = 0.2, scale_by_temperature: bool = True) -> None:
        super().__init__()
        self.temperature = _check_temperature("temperature", temperature)
        self.scale = 2.0 * self.temperature if scale_by_temperature else 1.0

    def forward(self, q1: torch.Tensor, q2: torch.Tensor, k1: torch.Tensor, k2: torch.Tensor) -> torch.Tensor:
        """Queries ``q1, q2`` (online predictor outputs) against keys ``k2, k1`` (momentum projections)."""
        return self.scale * (info_nce(q1, k2, self.temperature) + info_nce(q2, k1, self.temperature))
