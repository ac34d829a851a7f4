"""Precise BatchNorm statistics (Wu & Johnson, "Rethinking 'Batch' in
BatchNorm", 2021; Detectron2's PreciseBN).

BatchNorm's running mean/variance are an exponential average (momentum 0.1)
over training batches while the weights change. On a small dataset an epoch
has only a few batches, the averages lag far behind the current weights, and
eval-mode predictions collapse (measured on the demo data: train accuracy
1.0, eval-mode accuracy 0.5 on the same images). Recomputing the statistics
with the current weights over the training images, without gradients, fixes
it at the cost of one forward pass.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.nn.modules.batchnorm import _BatchNorm

from engine.jobs import CancelToken
from engine.training.callbacks import Callback


@torch.no_grad()
def recalibrate_batchnorm(model: torch.nn.Module, loader, device: torch.device, amp: bool = False,
                          cancel: CancelToken | None = None) -> int:
    """Recompute the running stats of every trainable BatchNorm layer; returns how many."""
    was_training = model.training
    model.train()  # HistoModel.train keeps frozen BatchNorm layers in eval mode
    layers = [m for m in model.modules() if isinstance(m, _BatchNorm) and m.training and m.track_running_stats]
    if not layers or loader is None:
        model.train(was_training)
        return 0
    momenta = [m.momentum for m in layers]
    for m in layers:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the whole pass
    try:
        for x, _y, _idx in loader:
            if cancel is not None:
                cancel.raise_if_cancelled()
            with torch.autocast(device_type=device.type, dtype=torch.float16, enabled=amp):
                model(x.to(device, non_blocking=True))
    finally:
        for m, momentum in zip(layers, momenta):
            m.momentum = momentum
        model.train(was_training)
    return len(layers)


class PreciseBatchNorm(Callback):
    """Recalibrates the BatchNorm statistics of ``loop.module`` on ``loader`` after each training epoch,
    before validation (see :func:`recalibrate_batchnorm`)."""

    def __init__(self, loader):
        self.loader = loader

    def on_train_epoch_end(self, loop: Any, row: dict) -> None:
        recalibrate_batchnorm(loop.module, self.loader, loop.device, loop.amp, loop.cancel)
