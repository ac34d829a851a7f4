"""Weighted k-nearest-neighbour monitor of learned features.

Wu et al., "Unsupervised Feature Learning via Non-Parametric Instance
Discrimination", CVPR 2018: each of the ``k`` nearest training features (cosine
similarity ``s``) votes for its class with weight ``exp(s / T)``. Used during
pretraining on labelled data to watch the features improve without training a
classifier (:class:`KnnMonitor`, a callback of the pretraining loop).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from engine.jobs import CancelToken
from engine.training.callbacks import Callback


@torch.no_grad()
def extract_features(embed, loader, device: torch.device, *, amp: bool = False,
                     cancel: CancelToken | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(features [N, D] float32 on CPU, targets [N]) of every batch ``(x, y, idx)`` of ``loader``.

    ``embed`` maps a batch of images to features (e.g. ``method.embed`` or
    ``encoder.forward_features``).
    """
    feats, targets = [], []
    for x, y, *_ in loader:
        if cancel is not None:
            cancel.raise_if_cancelled()
        with torch.autocast(device_type=device.type, dtype=torch.float16, enabled=amp):
            f = embed(x.to(device, non_blocking=True))
        feats.append(f.float().cpu())
        targets.append(torch.as_tensor(y))
    if not feats:
        return torch.zeros(0, 0), torch.zeros(0, dtype=torch.long)
    return torch.cat(feats), torch.cat(targets)


@torch.no_grad()
def knn_predict(train_features: torch.Tensor, train_labels: torch.Tensor, query: torch.Tensor, n_classes: int, *,
                k: int = 20, temperature: float = 0.07, chunk: int = 1024) -> torch.Tensor:
    """Class scores ``[Q, n_classes]`` of ``query`` features by weighted kNN over the training features."""
    bank = torch.nn.functional.normalize(train_features.float(), dim=1)
    labels = train_labels.long()
    k = max(1, min(int(k), len(bank)))
    out = []
    for start in range(0, len(query), chunk):
        q = torch.nn.functional.normalize(query[start:start + chunk].float(), dim=1)
        sim, idx = (q @ bank.T).topk(k, dim=1)
        weights = (sim / temperature).exp()
        scores = torch.zeros(len(q), n_classes)
        scores.scatter_add_(1, labels[idx], weights)
        out.append(scores)
    return torch.cat(out) if out else torch.zeros(0, n_classes)


def knn_accuracy(train_features, train_labels, query, query_labels, n_classes: int | None = None, *,
                 k: int = 20, temperature: float = 0.07) -> float | None:
    """Weighted kNN accuracy in [0, 1] (None without query or training features)."""
    train_features, query = torch.as_tensor(train_features), torch.as_tensor(query)
    train_labels, query_labels = torch.as_tensor(train_labels).long(), torch.as_tensor(query_labels).long()
    if not len(train_features) or not len(query):
        return None
    n_classes = n_classes or int(max(train_labels.max(), query_labels.max())) + 1
    pred = knn_predict(train_features, train_labels, query, n_classes, k=k, temperature=temperature).argmax(1)
    return float(np.mean((pred == query_labels).numpy()))


class KnnMonitor(Callback):
    """After validation every ``every`` epochs: weighted kNN accuracy (``k``, ``temperature``) of the val
    images' features against the train images', as ``knn_acc`` (and ``val_acc``, the curve the Runs / Jobs
    plots draw) in the epoch's row. Needs labelled data (``loop.data``) and ``loop.method.embed``."""

    def __init__(self, every: int, k: int = 20, temperature: float = 0.07):
        self.every, self.k, self.temperature = every, k, temperature

    def on_validation_end(self, loop: Any, row: dict) -> None:
        acc = self.accuracy(loop)
        if acc is not None:
            row["knn_acc"] = row["val_acc"] = acc

    def accuracy(self, loop: Any) -> float | None:
        """The accuracy at this epoch, or None when not due or without train/val images."""
        data, method = loop.data, loop.method
        if not (data.labelled and self.every) or (loop.epoch + 1) % self.every:
            return None
        bank, query = data.split.records(data.catalog, "train"), data.split.records(data.catalog, "val")
        if not bank or not query:
            return None
        method.eval()
        try:
            f_bank, y_bank = extract_features(method.embed, data.eval_loader(bank), loop.device, amp=loop.amp,
                                              cancel=loop.cancel)
            f_query, y_query = extract_features(method.embed, data.eval_loader(query), loop.device, amp=loop.amp,
                                                cancel=loop.cancel)
        finally:
            method.train()
        return knn_accuracy(f_bank, y_bank, f_query, y_query, len(data.classes), k=self.k,
                            temperature=self.temperature)
