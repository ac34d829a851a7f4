"""Cheap per-epoch validation metrics (loss, accuracy, AUC) for the loop."""

from __future__ import annotations

import numpy as np
import torch

from engine.jobs import CancelToken
from engine.training.inference import predict_logits


def probabilities(logits: np.ndarray) -> np.ndarray:
    """Class probabilities [N, C] from logits (one logit -> [1-p, p])."""
    from engine.evaluation.predictions import probs_from_logits

    return probs_from_logits(logits, logits.shape[1] == 1)


def quick_auc(targets: np.ndarray, probs: np.ndarray) -> float | None:
    """Binary ROC-AUC, or one-vs-rest macro AUC; None when undefined."""
    from sklearn.metrics import roc_auc_score

    present = np.unique(targets)
    if len(present) < 2:
        return None
    try:
        if probs.shape[1] == 2:
            return float(roc_auc_score(targets, probs[:, 1]))
        if len(present) < probs.shape[1]:
            return None
        return float(roc_auc_score(targets, probs, multi_class="ovr", average="macro"))
    except ValueError:
        return None


def epoch_val_metrics(model, loader, criterion, device: torch.device, amp: bool, cancel: CancelToken) -> dict:
    """val_loss, val_acc, val_auc and val_f1 (macro) on the validation loader."""
    from sklearn.metrics import f1_score

    logits, targets = predict_logits(model, loader, device, amp=amp, cancel=cancel)
    with torch.no_grad():
        loss = float(criterion(torch.from_numpy(logits).to(device), torch.from_numpy(targets).to(device)))
    probs = probabilities(logits)
    pred = probs.argmax(1)
    return {
        "val_loss": loss,
        "val_acc": float((pred == targets).mean()),
        "val_auc": quick_auc(targets, probs),
        "val_f1": float(f1_score(targets, pred, average="macro", zero_division=0)),
    }
