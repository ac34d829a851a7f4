"""Batched inference shared by validation, evaluation and prediction."""

from __future__ import annotations

import numpy as np
import torch

from engine.jobs import CancelToken


@torch.no_grad()
def predict_logits(model: torch.nn.Module, loader, device: torch.device, *, amp: bool = False,
                   cancel: CancelToken | None = None, on_batch=None, tta=None) -> tuple[np.ndarray, np.ndarray]:
    """Run ``model`` over ``loader``; returns (logits [N, O], targets [N]).

    ``tta`` optionally maps an image batch to a list of views whose logits are
    averaged after conversion to probabilities by the caller; here the mean
    logit over views is returned for single-logit and multi-logit heads alike.
    """
    model.eval()
    outs, targets = [], []
    for i, (x, y, _idx) in enumerate(loader):
        if cancel is not None:
            cancel.raise_if_cancelled()
        x = x.to(device, non_blocking=True)
        with torch.autocast(device_type=device.type, dtype=torch.float16, enabled=amp):
            if tta is None:
                logits = model(x)
            else:
                logits = torch.stack([model(v) for v in tta(x)]).mean(0)
        outs.append(logits.float().cpu())
        targets.append(y)
        if on_batch is not None:
            on_batch(i + 1)
    if not outs:
        return np.zeros((0, 1), np.float32), np.zeros((0,), np.int64)
    return torch.cat(outs).numpy(), torch.cat(targets).numpy()
