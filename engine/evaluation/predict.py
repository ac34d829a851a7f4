"""Classify a folder of new images with a run or a model package (``python main.py predict``).

``model`` is a training run (PyTorch) or a ``.hdpkg`` model package
(onnxruntime; see :mod:`engine.deploy.predictors` for how the backend is
chosen). Unreadable files become rows with status "error" and a reason; they
never abort the batch. Results go to a CSV and a JSON file (and are returned
for the GUI); heatmaps (Grad-CAM overlays, PyTorch only) go to PNG files.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.errors import DataError
from engine.data.tta import tta_mode
from engine.io_utils import atomic_write_text, write_json
from engine.jobs import CancelToken, EtaEstimator, Progress, ProgressFn, null_progress

HEATMAP_FOLDER = "histodesk_heatmaps"


def list_images(folder: str | Path, *, recursive: bool = True, exclude: Path | None = None) -> list[Path]:
    """Image files under ``folder`` (sorted; recursive and symlink-loop safe unless ``recursive=False``).

    Files inside ``exclude`` and HistoDesk's own heatmap folders are skipped.
    """
    from engine.data.imageio import IMAGE_EXTENSIONS
    from engine.data.importers.base import walk_files

    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder} is not a folder.")
    if recursive:
        files = walk_files(folder)
    else:
        files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    skip = [Path(exclude).resolve()] if exclude else []
    out = []
    for p in files:
        if p.suffix.lower() not in IMAGE_EXTENSIONS or HEATMAP_FOLDER in p.relative_to(folder).parts[:-1]:
            continue
        if skip and any(s in p.resolve().parents for s in skip):
            continue
        out.append(p)
    return out


def predict_folder(model: str | Path, folder: str | Path, *, out: str | Path | None = None,
                   out_json: str | Path | None = None, tta: bool | str = False, heatmaps: bool = False,
                   heatmap_dir: str | Path | None = None, cam_method: str = "gradcam", backend: str = "auto",
                   device: str = "auto", batch_size: int = 32, recursive: bool = True, variant: str = "fp32",
                   progress: ProgressFn = null_progress, cancel: CancelToken | None = None) -> dict:
    """Predict every image under ``folder`` with a run or package ``model``.

    ``tta``: False, True/"s3" (7 views) or "d4"; ``variant``: "fp32" or "int8" (packages).
    Returns {"rows", "csv", "json", "n_ok", "n_failed", "backend", "classes", "heatmap_dir"}.
    Rows: path, status ("ok"/"error"), class, prob, p_<class>..., reason, heatmap.
    """
    from engine.deploy.predictors import open_predictor

    cancel = cancel or CancelToken()
    folder = Path(folder)
    csv_path = Path(out) if out else folder / "histodesk_predictions.csv"
    json_path = Path(out_json) if out_json else csv_path.with_suffix(".json")
    cam_dir = Path(heatmap_dir) if heatmap_dir else csv_path.parent / HEATMAP_FOLDER
    files = list_images(folder, recursive=recursive, exclude=cam_dir if heatmaps else None)
    progress(Progress("predict", 0, len(files), "loading the model"))
    predictor = open_predictor(model, backend=backend, device=device, variant=variant, need_cams=heatmaps)
    if predictor.note:
        progress(Progress("log", message=predictor.note))
    mode = tta_mode(tta)
    rows: list[dict] = []
    eta = EtaEstimator(len(files))
    for start in range(0, len(files), max(1, batch_size)):
        cancel.raise_if_cancelled()
        chunk = files[start:start + batch_size]
        rows.extend(_predict_batch(predictor, chunk, folder, mode, cam_dir if heatmaps else None, cam_method))
        done = start + len(chunk)
        n_bad = sum(r["status"] == "error" for r in rows)
        progress(Progress("predict", done, len(files), f"{done - n_bad} classified, {n_bad} unreadable",
                          eta_s=eta.eta(done)))
    classes = list(predictor.classes)
    _write_csv(csv_path, rows, classes)
    n_ok = sum(r["status"] == "ok" for r in rows)
    doc = {"model": str(model), "backend": predictor.backend, "device": predictor.device_name,
           "variant": variant if predictor.backend == "onnx" else None, "tta": mode, "folder": str(folder), "classes": classes, "n_ok": n_ok,
           "n_failed": len(rows) - n_ok, "rows": rows}
    write_json(json_path, doc)
    return {"rows": rows, "csv": str(csv_path), "json": str(json_path), "n_ok": n_ok, "n_failed": len(rows) - n_ok,
            "backend": predictor.backend, "device": predictor.device_name, "classes": classes,
            "heatmap_dir": str(cam_dir) if heatmaps else None}


def _predict_batch(predictor, paths: list[Path], folder: Path, tta: str | None, cam_dir: Path | None,
                   cam_method: str) -> list[dict]:
    """Rows for one batch of files, in file order; unreadable files become error rows."""
    rows: list[dict] = []
    good, squares, xs = [], [], []
    for path in paths:
        row = {"path": str(path), "status": "ok", "class": None, "prob": None, "reason": None, "heatmap": None}
        try:
            square = predictor.spec.square(predictor.spec.load(str(path)))
            xs.append(predictor.spec.normalise(square))
            squares.append(square)
            good.append(row)
        except Exception as exc:  # noqa: BLE001 - one bad file never aborts the batch
            row.update(status="error", reason=str(exc) or type(exc).__name__)
        rows.append(row)
    if not good:
        return rows
    x = np.stack(xs)
    probs = predictor.predict(x, tta)
    classes = predictor.classes
    for row, p in zip(good, probs):
        k = int(np.argmax(p))
        row.update({"class": classes[k], "prob": float(p[k])})
        row.update({f"p_{c}": float(v) for c, v in zip(classes, p)})
    if cam_dir is not None:
        _write_heatmaps(predictor, x, squares, good, folder, cam_dir, cam_method)
    return rows


def heatmap_name(rel: Path) -> str:
    """A flat, unique PNG name for the image at ``rel`` (relative to the folder): "a/b.jpg" -> "a__b.jpg.png".

    The extension is kept (x.png and x.jpg differ); names that already contain "__" get a short hash of
    the path, so "a/b.png" and "a__b.png" cannot collide.
    """
    name = "__".join(rel.parts)
    if any("__" in part for part in rel.parts):
        import hashlib

        name += "-" + hashlib.sha1(rel.as_posix().encode()).hexdigest()[:8]
    return name + ".png"


def _write_heatmaps(predictor, x: np.ndarray, squares: list[np.ndarray], rows: list[dict], folder: Path,
                    cam_dir: Path, method: str) -> None:
    """Grad-CAM overlays (of the predicted class) as PNGs; the path goes to each row's "heatmap"."""
    try:
        from engine.explain.overlay import overlay_heatmap, save_png
    except ImportError as exc:
        from engine.errors import HistoDeskError

        raise HistoDeskError("Heatmaps need the explain module (engine.explain), which is not available "
                             "in this installation; classify without --heatmaps.") from exc
    cams = predictor.cams(x, method)
    cam_dir.mkdir(parents=True, exist_ok=True)
    for row, square, cam in zip(rows, squares, cams):
        rel = Path(row["path"]).relative_to(folder)
        save_png(cam_dir / heatmap_name(rel), overlay_heatmap(square, cam))
        row["heatmap"] = str(cam_dir / heatmap_name(rel))


def _write_csv(path: Path, rows: list[dict], classes: list[str]) -> None:
    import csv
    import io

    fields = ["path", "status", "class", "prob"] + [f"p_{c}" for c in classes] + ["reason", "heatmap"]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, buf.getvalue())
