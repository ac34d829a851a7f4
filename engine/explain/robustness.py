"""Robustness of a run's model to Gaussian noise and Gaussian blur on one split.

Each image of the split is loaded once, scaled to [0, 1] with the run's
evaluation transform, perturbed at every level (noise: added N(0, sigma^2)
on [0, 1] pixels, clipped; blur: Gaussian kernel with ``sigma`` pixels at the
network input size), normalised as in training and classified. Level 0 is
the clean image. Accuracy (and ROC AUC for binary tasks) per level goes to
the run's ``robustness.json``.
"""

from __future__ import annotations

import math
import os
import time

import numpy as np
import torch
import torchvision.transforms.v2.functional as TF

from engine.errors import DataError
from engine.jobs import CancelToken, EtaEstimator, Progress, ProgressFn, null_progress

NOISE_LEVELS = (0, .05, .1, .2)
BLUR_LEVELS = (0, 1, 2, 4)


def add_noise(x: torch.Tensor, sigma: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """``x`` (pixels in [0, 1]) plus Gaussian noise of std ``sigma``, clipped to [0, 1]."""
    if sigma <= 0:
        return x
    noise = torch.randn(x.shape, generator=generator, dtype=x.dtype).to(x.device)
    return (x + sigma * noise).clamp(0, 1)


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gaussian blur of ``x`` ``[..., H, W]`` with ``sigma`` pixels (kernel 2*ceil(3 sigma)+1, reflect padding)."""
    if sigma <= 0:
        return x
    limit = 2 * min(x.shape[-2:]) - 1  # reflect padding needs pad < side
    k = min(2 * math.ceil(3 * sigma) + 1, limit if limit % 2 else limit - 1)
    return TF.gaussian_blur(x, kernel_size=[k, k], sigma=[float(sigma), float(sigma)])


def _normalizer(normalize: str):
    from engine.data.transforms import IMAGENET_MEAN, IMAGENET_STD

    if normalize != "imagenet":
        return lambda x: x
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return lambda x: (x - mean.to(x.device)) / std.to(x.device)


def _split_dataset(run, config, classes: list[str], split: str):
    """A dataset of the run's ``split`` images as unnormalised [0, 1] tensors."""
    from engine.data.catalog import Catalog
    from engine.data.dataset import HistoDataset
    from engine.data.splits import Split
    from engine.data.transforms import build_transform
    from engine.training.data_setup import make_loader

    if not run.file("catalog.json").exists() or not run.file("split.json").exists():
        raise DataError(f"Run {run.id} has no catalog.json/split.json; robustness needs the run's own split.")
    catalog = Catalog.load(run.file("catalog.json"))
    records = [r for r in Split.load(run.file("split.json")).records(catalog, split) if r.label in classes]
    if not records:
        raise DataError(f"The run's '{split}' split has no images; choose another split (train, val or test).")
    tf = build_transform(None, train=False, image_size=config.data.image_size, normalize="unit")
    return HistoDataset(records, classes, make_loader(config.data), tf)


def _level_metrics(targets: np.ndarray, logits: list, classes: list[str], level: float) -> dict:
    from engine.evaluation.evaluate import positive_class
    from engine.evaluation.metrics import compute_metrics
    from engine.evaluation.predictions import probs_from_logits

    z = torch.cat(logits)
    probs = probs_from_logits(z, z.shape[1] == 1)
    m = compute_metrics(targets, probs, classes, positive_class=positive_class(classes))
    auc = m.get("roc_auc") if len(classes) == 2 else None
    return {"level": float(level), "accuracy": m.get("accuracy"), "roc_auc": auc}


def robustness_run(run_dir: str | os.PathLike, *, split: str = "test", noise=NOISE_LEVELS,
                   blur=BLUR_LEVELS, device: str = "auto", batch_size: int | None = None, seed: int = 0,
                   progress: ProgressFn = null_progress, cancel: CancelToken | None = None) -> dict:
    """Accuracy (and ROC AUC when binary) of a run's model per noise and blur level on ``split``.

    Returns ``{"split", "n", "noise": [{"level", "accuracy", "roc_auc"}], "blur": [...]}`` and
    writes it to the run's ``robustness.json``. Noise is seeded by ``seed``.
    """
    from torch.utils.data import DataLoader

    from engine.evaluation.run_model import load_run_model
    from engine.runs import Run
    from engine.training.devices import select_device

    run = Run.open(run_dir)
    dev = select_device(device)
    model, classes, config = load_run_model(run, dev)
    dataset = _split_dataset(run, config, classes, split)
    perturbations = [("noise", float(s)) for s in noise] + [("blur", float(s)) for s in blur]
    norm = _normalizer(config.data.normalize)
    gen = torch.Generator().manual_seed(seed)
    loader = DataLoader(dataset, batch_size=batch_size or config.batch_size, shuffle=False, num_workers=0)
    logits: dict[tuple[str, float], list[torch.Tensor]] = {p: [] for p in perturbations}
    targets, eta, start = [], EtaEstimator(len(loader)), time.monotonic()
    model.eval()
    with torch.no_grad():
        for i, (x, y, _idx) in enumerate(loader):
            if cancel is not None:
                cancel.raise_if_cancelled()
            x = x.to(dev)
            clean = None  # noise 0 and blur 0 are both the clean image: one forward pass for both
            for kind, level in perturbations:
                if level <= 0:
                    clean = model(norm(x)).float().cpu() if clean is None else clean
                    logits[(kind, level)].append(clean)
                    continue
                xp = add_noise(x, level, gen) if kind == "noise" else gaussian_blur(x, level)
                logits[(kind, level)].append(model(norm(xp)).float().cpu())
            targets.append(y)
            progress(Progress(stage=f"robustness {split}", step=i + 1, total=len(loader), eta_s=eta.eta(i + 1)))
    y_true = torch.cat(targets).numpy()
    result = {"split": split, "n": int(len(y_true)), "classes": classes, "seed": seed,
              "seconds": round(time.monotonic() - start, 2), "noise": [], "blur": []}
    for kind, level in perturbations:
        result[kind].append(_level_metrics(y_true, logits[(kind, level)], classes, level))
    run.write("robustness.json", result)
    return result
