"""Occlusion sensitivity (Zeiler & Fergus, "Visualizing and Understanding Convolutional Networks", ECCV 2014).

A patch filled with the image's mean colour slides over the image; the map
at a pixel is the mean drop of the target class probability over the
patches covering it. Model-agnostic and gradient-free, so it also checks
the CAM methods.
"""

from __future__ import annotations

import numpy as np
import torch

from engine.errors import ConfigError
from engine.jobs import CancelToken, EtaEstimator, Progress, ProgressFn, null_progress


def class_probs(logits: torch.Tensor) -> np.ndarray:
    """Probabilities ``[B, C]`` of a model's logits (one logit: ``[1 - sigmoid, sigmoid]``; else softmax)."""
    from engine.evaluation.predictions import probs_from_logits

    return probs_from_logits(logits, logits.shape[1] == 1)


def patch_positions(size: int, patch: int, stride: int) -> list[int]:
    """Top (or left) offsets of the patches along one side; the last one touches the edge."""
    if patch < 1 or stride < 1:
        raise ConfigError(f"Occlusion patch and stride must be >= 1 pixel (got {patch}, {stride}).")
    patch = min(patch, size)
    starts = list(range(0, size - patch + 1, stride))
    if starts[-1] != size - patch:
        starts.append(size - patch)
    return starts


def occlusion_map(model: torch.nn.Module, x: torch.Tensor, *, target: int | None = None, patch: int | None = None,
                  stride: int | None = None, batch_size: int = 32, normalize: bool = True,
                  progress: ProgressFn = null_progress, cancel: CancelToken | None = None) -> np.ndarray:
    """Occlusion map ``float32 [H, W]`` of one normalised image ``x`` (``[3, H, W]`` or ``[1, 3, H, W]``).

    ``target``: class index (None = the predicted class). ``patch`` defaults
    to 1/8 of the side (>= 4 px), ``stride`` to half the patch. Occluded
    copies go through the model ``batch_size`` at a time. With ``normalize``
    negative drops are set to 0 and the map is scaled to [0, 1] (all-zero
    stays zero); otherwise it is the raw probability drop.
    """
    x = x if x.ndim == 4 else x[None]
    _, _, h, w = x.shape
    patch = int(patch or max(4, min(h, w) // 8))
    stride = int(stride or max(1, patch // 2))
    boxes = [(top, left) for top in patch_positions(h, patch, stride) for left in patch_positions(w, patch, stride)]
    was_training = model.training
    model.eval()
    drop = np.zeros((h, w), np.float64)
    count = np.zeros((h, w), np.float64)
    eta = EtaEstimator(len(boxes))
    try:
        with torch.no_grad():
            base = class_probs(model(x))[0]
            cls = int(base.argmax()) if target is None else int(target)
            if not 0 <= cls < base.shape[0]:
                raise ConfigError(f"Class index {cls} is out of range for a {base.shape[0]}-class model.")
            fill = x.mean(dim=(2, 3), keepdim=True)[0]
            for i in range(0, len(boxes), batch_size):
                if cancel is not None:
                    cancel.raise_if_cancelled()
                chunk = boxes[i:i + batch_size]
                batch = x.repeat(len(chunk), 1, 1, 1)
                for j, (top, left) in enumerate(chunk):
                    batch[j, :, top:top + patch, left:left + patch] = fill
                probs = class_probs(model(batch))[:, cls]
                for (top, left), p in zip(chunk, probs):
                    drop[top:top + patch, left:left + patch] += float(base[cls]) - float(p)
                    count[top:top + patch, left:left + patch] += 1
                done = i + len(chunk)
                progress(Progress(stage="occlusion", step=done, total=len(boxes), eta_s=eta.eta(done)))
    finally:
        model.train(was_training)
    out = (drop / np.maximum(count, 1)).astype(np.float32)
    if normalize:
        out = np.maximum(out, 0)
        peak = float(out.max())
        out = out / peak if peak > 0 else np.zeros_like(out)
    return out
