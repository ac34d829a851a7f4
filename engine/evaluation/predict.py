"""Classify a folder of new images with a trained run (``python main.py predict``).

Unreadable files become rows with status "error" and a reason; they never
abort the batch. Results go to a CSV (and are returned for the GUI).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from engine.data.catalog import ImageRecord
from engine.errors import DataError
from engine.evaluation.predictions import probs_from_logits
from engine.io_utils import atomic_write_text
from engine.jobs import CancelToken, EtaEstimator, Progress, ProgressFn, null_progress


def list_images(folder: str | Path) -> list[Path]:
    """Image files under ``folder`` (recursive, sorted, symlink loops safe)."""
    from engine.data.imageio import IMAGE_EXTENSIONS
    from engine.data.importers.base import walk_files

    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder} is not a folder.")
    return [p for p in walk_files(folder) if p.suffix.lower() in IMAGE_EXTENSIONS]


def predict_folder(run_dir: str | Path, folder: str | Path, *, out: str | Path | None = None, tta: bool = False,
                   device: str = "auto", batch_size: int = 32, progress: ProgressFn = null_progress,
                   cancel: CancelToken | None = None) -> dict:
    """Predict every image under ``folder``; returns {rows, csv, n_ok, n_failed}."""
    from engine.data.cache import DirectLoader
    from engine.data.transforms import build_transform, tta_views
    from engine.evaluation.run_model import load_run_model
    from engine.runs import Run
    from engine.training.devices import select_device

    cancel = cancel or CancelToken()
    dev = select_device(device)
    model, classes, config = load_run_model(Run.open(run_dir), dev)
    loader = DirectLoader(resize=config.data.resize or config.data.image_size, keep_aspect=config.data.keep_aspect)
    transform = build_transform(None, train=False, image_size=config.data.image_size, normalize=config.data.normalize)
    files = list_images(folder)
    rows: list[dict] = []
    eta = EtaEstimator(len(files))
    for start in range(0, len(files), batch_size):
        cancel.raise_if_cancelled()
        batch, tensors = [], []
        for path in files[start:start + batch_size]:
            try:
                tensors.append(transform(loader.load(ImageRecord(path=str(path), label=""))))
                batch.append(path)
            except Exception as exc:  # one bad file never aborts the batch
                rows.append({"path": str(path), "status": "error", "reason": str(exc)})
        if tensors:
            x = torch.stack(tensors).to(dev)
            with torch.no_grad():
                logits = torch.stack([model(v) for v in tta_views(x)]).mean(0) if tta else model(x)
            probs = probs_from_logits(logits.float().cpu().numpy(), logits.shape[1] == 1)
            for path, p in zip(batch, probs):
                k = int(np.argmax(p))
                row = {"path": str(path), "status": "ok", "class": classes[k], "prob": float(p[k])}
                row.update({f"p_{c}": float(v) for c, v in zip(classes, p)})
                rows.append(row)
        done = min(start + batch_size, len(files))
        progress(Progress(stage="predict", step=done, total=len(files), eta_s=eta.eta(done)))
    csv_path = Path(out) if out else Path(folder) / "histodesk_predictions.csv"
    _write_csv(csv_path, rows, classes)
    n_ok = sum(r["status"] == "ok" for r in rows)
    return {"rows": rows, "csv": str(csv_path), "n_ok": n_ok, "n_failed": len(rows) - n_ok}


def _write_csv(path: Path, rows: list[dict], classes: list[str]) -> None:
    import csv
    import io

    fields = ["path", "status", "class", "prob"] + [f"p_{c}" for c in classes] + ["reason"]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, buf.getvalue())
