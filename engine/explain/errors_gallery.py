"""Error analysis: CAM overlays of every misclassified image of a run's predictions.

For each wrongly classified image of a split (from the run's
``predictions.csv``) one PNG strip is written: the input image, then one
overlay per CAM method for the predicted class (what the model looked at
when it went wrong). ``index.csv`` lists the images, labels, probabilities
and PNG names.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from engine.errors import DataError, with_step
from engine.io_utils import safe_name, write_csv
from engine.jobs import CancelToken, EtaEstimator, Progress, ProgressFn, null_progress


def misclassified_rows(run_dir: str | os.PathLike, split: str = "test",
                       predictions: str = "predictions.csv") -> list[dict]:
    """Rows of the run's ``predictions`` file for ``split`` whose prediction is wrong."""
    from engine.evaluation.predictions import read_predictions_csv

    path = Path(run_dir) / predictions
    if not path.exists():
        what = f"{path} does not exist: the run has no per-image predictions yet."
        raise with_step(DataError(f"{what} Evaluate the run first (python main.py evaluate RUN)."), what,
                        "evaluate_run")
    return [r for r in read_predictions_csv(path) if r.get("split") == split and r.get("correct") is False]


def _strip(images: list[np.ndarray], gap: int = 4) -> np.ndarray:
    """Images side by side with a white gap."""
    h = images[0].shape[0]
    spacer = np.full((h, gap, 3), 255, np.uint8)
    parts = []
    for im in images:
        parts += [im, spacer]
    return np.concatenate(parts[:-1], axis=1)


def explain_misclassified(run_dir: str | os.PathLike, out_dir: str | os.PathLike, *, split: str = "test",
                          methods=("gradcam", "gradcam++", "eigencam"), alpha: float = 0.5, colormap: str = "jet",
                          batch_size: int = 16, device: str = "auto", explainer=None,
                          progress: ProgressFn = null_progress, cancel: CancelToken | None = None) -> dict:
    """Write one strip per misclassified image of ``split`` into ``out_dir``: the image, then its overlay per
    method, each at the image's own size and aspect ratio (at most ``placement.MAX_SIDE`` px long).

    Returns ``{"out_dir", "n", "files", "failed"}``; unreadable images are
    listed in ``failed`` and skipped.
    """
    from engine.explain.cams import compute_cams
    from engine.explain.explainer import RunExplainer
    from engine.explain.overlay import overlay_heatmap, save_png
    from engine.explain.placement import place_cam

    rows = misclassified_rows(run_dir, split)
    ex = explainer or RunExplainer(run_dir, device=device)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files, failed, index = [], [], []
    eta = EtaEstimator(len(rows))
    for start in range(0, len(rows), batch_size):
        if cancel is not None:
            cancel.raise_if_cancelled()
        chunk, tensors = [], []
        for row in rows[start:start + batch_size]:
            try:
                x = ex.prepare(row["path"])[1]
            except Exception as exc:  # noqa: BLE001 - unreadable or moved image: report, keep going
                failed.append({"path": row["path"], "reason": str(exc)})
                continue
            chunk.append(row)
            tensors.append(x)
        if chunk:
            x = torch.cat(tensors)
            targets = [ex.class_index(r["predicted_label"]) for r in chunk]
            cams = {m: compute_cams(ex.model, x, method=m, targets=targets, batch_size=batch_size) for m in methods}
            for i, row in enumerate(chunk):
                name = f"{start + i:04d}_{safe_name(Path(row['path']).stem)}.png"  # any source name gives a safe one
                image, box = ex.source_image(row["path"])  # at its own size and aspect ratio, one at a time
                strip = [image] + [overlay_heatmap(image, place_cam(cams[m][i], box, *image.shape[:2]), alpha=alpha,
                                                   colormap=colormap) for m in methods]
                files.append(str(save_png(out / name, _strip(strip))))
                index.append([row["path"], row.get("true_label"), row.get("predicted_label"),
                              row.get("predicted_probability"), name])
        done = min(start + batch_size, len(rows))
        progress(Progress(stage="explain errors", step=done, total=len(rows), eta_s=eta.eta(done)))
    write_csv(out / "index.csv", ["path", "true_label", "predicted_label", "predicted_probability", "png"], index)
    return {"out_dir": str(out), "n": len(rows), "files": files, "failed": failed, "methods": list(methods)}
