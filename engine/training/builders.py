"""Build the loss, optimizer and LR scheduler a config asks for."""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from engine.errors import ConfigError
from engine.training.config import LossConfig, OptimConfig, ScheduleConfig


class SmoothedBCEWithLogits(nn.Module):
    """BCE on one logit with label smoothing (targets y(1-e)+e/2) and pos_weight."""

    pos_weight: torch.Tensor | None  # a buffer

    def __init__(self, label_smoothing: float = 0.0, pos_weight: torch.Tensor | None = None):
        super().__init__()
        self.label_smoothing = float(label_smoothing)
        self.register_buffer("pos_weight", pos_weight if pos_weight is not None else None)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """``logits``: [B, 1]; ``target``: class indices {0, 1} of shape [B]."""
        y = target.float().view_as(logits)
        if self.label_smoothing:
            y = y * (1 - self.label_smoothing) + 0.5 * self.label_smoothing
        return nn.functional.binary_cross_entropy_with_logits(logits, y, pos_weight=self.pos_weight)


def build_loss(cfg: LossConfig, num_outputs: int, class_weights: torch.Tensor | None) -> nn.Module:
    """BCE for a single-logit head, cross-entropy otherwise; optional 'balanced' weights."""
    if cfg.class_weights not in (None, "none", "balanced"):
        raise ConfigError("loss.class_weights must be null or 'balanced'.")
    if not 0.0 <= cfg.label_smoothing < 1.0:
        raise ConfigError("loss.label_smoothing must be in [0, 1).")
    weights = class_weights if cfg.class_weights == "balanced" else None
    if num_outputs == 1:
        pos_weight = (weights[1] / weights[0]).reshape(1) if weights is not None else None
        return SmoothedBCEWithLogits(cfg.label_smoothing, pos_weight)
    return nn.CrossEntropyLoss(weight=weights, label_smoothing=cfg.label_smoothing)


def build_optimizer(param_groups: list[dict], cfg: OptimConfig) -> torch.optim.Optimizer:
    """Adam, AdamW or SGD over named parameter groups (each with its own lr)."""
    groups = [g for g in param_groups if g["params"]]
    if not groups:
        raise ConfigError("Nothing to train: every layer is frozen in this phase.")
    name = cfg.name.lower()
    if name == "adam":
        return torch.optim.Adam(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if name == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    raise ConfigError(f"Unknown optimizer '{cfg.name}': use adam, adamw or sgd.")


def monitor_mode(metric: str) -> Literal["min", "max"]:
    """'min' for losses, 'max' for every other metric (accuracy, AUC, F1)."""
    return "min" if "loss" in metric else "max"


def build_scheduler(optimizer: torch.optim.Optimizer, cfg: ScheduleConfig, epochs: int):
    """ReduceLROnPlateau, StepLR, cosine annealing, or None; stepped once per epoch."""
    name = (cfg.name or "none").lower()
    if name == "none":
        return None
    if name == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode=monitor_mode(cfg.monitor), factor=cfg.factor, patience=cfg.patience, min_lr=cfg.min_lr
        )
    if name == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=cfg.step_size, gamma=cfg.gamma)
    if name == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, epochs), eta_min=cfg.min_lr)
    raise ConfigError(f"Unknown schedule '{cfg.name}': use none, plateau, step or cosine.")


def step_scheduler(scheduler, metrics: dict, monitor: str) -> None:
    """Advance a scheduler after an epoch (plateau needs the monitored value)."""
    if scheduler is None:
        return
    if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
        if monitor not in metrics:
            raise ConfigError(f"schedule.monitor '{monitor}' is not a logged metric; use one of {sorted(metrics)}.")
        if metrics[monitor] is not None:  # e.g. AUC undefined on a one-class val split
            scheduler.step(metrics[monitor])
    else:
        scheduler.step()
