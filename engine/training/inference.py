"""Batched inference shared by validation, evaluation and prediction."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from engine.jobs import CancelToken


def mean_view_log_probs(view_logits: Sequence[torch.Tensor]) -> torch.Tensor:
    """TTA: the views' probabilities averaged, as log-probabilities shaped like one view's logits (float64).

    Each view's logits become probabilities (softmax, or sigmoid for a single logit), the mean is taken
    over the views (as S3 does), and the result is returned so that
    :func:`engine.evaluation.predictions.probs_from_logits` maps it back to that mean: for N x C logits
    the log of the mean probabilities, for one logit the logit of the mean probability. Computed with
    log-sum-exp, so no view's probability underflows.
    """
    z = torch.stack([v.double() for v in view_logits])  # V x N x O
    if z.ndim == 2 or z.shape[-1] == 1:  # single logit: logit(mean p) = log(mean p) - log(mean (1 - p))
        return torch.logsumexp(torch.nn.functional.logsigmoid(z), 0) - torch.logsumexp(
            torch.nn.functional.logsigmoid(-z), 0)
    return torch.logsumexp(torch.log_softmax(z, dim=-1), 0) - math.log(len(view_logits))


@torch.no_grad()
def calibrated_probs(model: torch.nn.Module, x: torch.Tensor, tta: str | None = None,
                     temperature: float = 1.0) -> np.ndarray:
    """N x C probabilities (float64) of the batch ``x``, as evaluation and a package compute them.

    Each view's logits are divided by the run's val-fitted ``temperature``; with a TTA mode ("s3"/"d4") the
    views' probabilities are averaged (:func:`mean_view_log_probs`). The PyTorch twin of
    :func:`engine.deploy.runtime.run_probs`.
    """
    from engine.data.transforms import tta_views
    from engine.evaluation.predictions import probs_from_logits

    if tta:
        logits = mean_view_log_probs([model(v) / temperature for v in tta_views(x, tta)])
    else:
        logits = model(x) / temperature
    values = logits.double().cpu().numpy()
    return probs_from_logits(values, values.shape[1] == 1)


@torch.no_grad()
def predict_logits(model: torch.nn.Module, loader, device: torch.device, *, amp: bool = False,
                   cancel: CancelToken | None = None, on_batch=None, tta=None) -> tuple[np.ndarray, np.ndarray]:
    """Run ``model`` over ``loader``; returns (logits [N, O], targets [N]).

    ``tta`` optionally maps an image batch to a list of views; then the views'
    probabilities are averaged and returned as :func:`mean_view_log_probs`
    (float64), which ``probs_from_logits`` turns back into those mean probabilities.
    """
    model.eval()
    outs: list[torch.Tensor] = []
    targets = []
    for i, (x, y, _idx) in enumerate(loader):
        if cancel is not None:
            cancel.raise_if_cancelled()
        x = x.to(device, non_blocking=True)
        with torch.autocast(device_type=device.type, dtype=torch.float16, enabled=amp):
            views = [model(x)] if tta is None else [model(v) for v in tta(x)]
        outs.append(views[0].float().cpu() if tta is None else mean_view_log_probs(views).cpu())
        targets.append(y)
        if on_batch is not None:
            on_batch(i + 1)
    if not outs:
        return np.zeros((0, 1), np.float32), np.zeros((0,), np.int64)
    return torch.cat(outs).numpy(), torch.cat(targets).numpy()
