"""Classify a folder of new images with a run or a model package (``python main.py predict``).

``model`` is a training run (PyTorch) or a ``.hdpkg`` model package
(onnxruntime; see :mod:`engine.deploy.predictors` for how the backend is
chosen). The source folder is only read: results go to a batch folder of
their own (:mod:`engine.evaluation.batch_output`), rows are appended to its
CSV as each batch finishes, and an interrupted batch continues with
``resume``. Every entry named like an image gives a row: one per page of a
multi-page TIFF (as training uses every page), and a row with status
"error" and a reason for anything that cannot be read (a FIFO, a 1 x 1 image,
a corrupt file...); one bad file never aborts the batch.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from engine.errors import CancelledError, DataError, HistoDeskError, with_step
from engine.evaluation.batch_output import BatchLifecycle, BatchOutput
from engine.io_utils import display_path
from engine.evaluation.predict_options import predict_options
from engine.jobs import CancelToken, EtaEstimator, Progress, ProgressFn, null_progress

_TIFF_SUFFIXES = (".tif", ".tiff")


def list_images(folder: str | Path, *, recursive: bool = True) -> list[Path]:
    """Entries named like images under ``folder``, sorted (recursive and symlink-loop safe unless ``recursive=False``).

    Entries that are not regular files (a FIFO or socket named ``evil.png``) are listed too, so they become
    error rows; nothing is opened here. HistoDesk's own outputs (marked folders, ``histodesk_heatmaps``,
    ``*.hdpkg``) and hidden names are skipped (:func:`~engine.data.importers.base.walk_files` never enters them).
    """
    from engine.data.imageio import is_image_file
    from engine.data.importers.base import walk_files

    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{display_path(folder)} is not a folder; choose the folder that holds the images.")
    entries: Iterable[Path]
    if recursive:
        entries = walk_files(folder)
    else:
        entries = sorted(folder / e.name for e in os.scandir(folder)
                         if not e.name.startswith(".") and not e.is_dir())
    return [p for p in entries if is_image_file(p)]


def predict_folder(model: str | Path, folder: str | Path, *, out: str | Path | None = None, tta: bool | str = False,
                   heatmaps: bool = False, cam_method: str = "gradcam", backend: str = "auto", device: str = "auto",
                   batch_size: int = 32, recursive: bool = True, variant: str = "fp32", overwrite: bool = False,
                   resume: bool = False, allow_inside_source: bool = False, progress: ProgressFn = null_progress,
                   cancel: CancelToken | None = None) -> dict:
    """Predict every image under ``folder`` with a run or package ``model``; results go to a batch folder.

    ``out``: the batch folder (default: a new one under ``engine.paths.outputs_dir()``); one inside ``folder``
    needs ``allow_inside_source``, existing results need ``overwrite`` or ``resume`` (skip the files already in
    its CSV). Options are validated by :class:`~engine.evaluation.predict_options.PredictOptions` first.
    Returns {"rows", "out", "csv", "json", "batch", "n_ok", "n_failed", "n_resumed", "backend", "device",
    "classes", "heatmap_dir"}. Rows: path, page, status ("ok"/"error"), class, prob, p_<class>..., reason, heatmap.
    """
    from engine.deploy.predictors import open_predictor

    opts = predict_options(out=out, tta=tta, heatmaps=heatmaps, cam_method=cam_method, backend=backend,
                           device=device, batch_size=batch_size, recursive=recursive, variant=variant,
                           overwrite=overwrite, resume=resume, allow_inside_source=allow_inside_source)
    cancel = cancel or CancelToken()
    folder = Path(folder)
    files = list_images(folder, recursive=opts.recursive)
    output = BatchOutput.plan(model, folder, opts)
    progress(Progress("predict", 0, len(files), "loading the model"))
    predictor = open_predictor(model, backend=opts.backend, device=opts.device, variant=opts.variant,
                               need_cams=opts.heatmaps)
    if predictor.note:
        progress(Progress("log", message=predictor.note))
    info = {"model": str(model), "folder": str(folder), "options": opts.as_dict(), "backend": predictor.backend,
            "device": predictor.device_name, "variant": opts.variant if predictor.backend == "onnx" else None,
            "tta": opts.tta_mode, "files": len(files), "classes": list(predictor.classes)}
    try:  # batch.json records the cancel or failure (BatchLifecycle); the message says what is kept
        rows = _classify(predictor, files, folder, opts, output, info, progress, cancel)
    except CancelledError:
        raise CancelledError(f"Classification cancelled; the {_rows_on_disk(output)} rows finished are kept in "
                             f"{display_path(output.csv)}. Continue with --resume "
                             f"{display_path(output.dir)}.") from None
    except OSError as exc:
        what = (f"Could not write the results to {display_path(output.dir)}: {exc.strerror or exc}. "
                f"The {_rows_on_disk(output)} rows written before are kept; fix the problem and continue the batch.")
        raise with_step(HistoDeskError(f"{what[:-1]} with --resume {display_path(output.dir)}."), what,
                        "continue_batch") from None
    n_ok = sum(r["status"] == "ok" for r in rows)
    return {"rows": rows, "out": str(output.dir), "csv": str(output.csv), "json": str(output.json),
            "batch": str(output.batch), "n_ok": n_ok, "n_failed": len(rows) - n_ok,
            "n_resumed": output.doc["counts"]["resumed"], "backend": predictor.backend,
            "device": predictor.device_name, "classes": info["classes"],
            "heatmap_dir": str(output.heatmaps) if opts.heatmaps else None}


def _classify(predictor, files: list[Path], folder: Path, opts, output: BatchOutput, info: dict,
              progress: ProgressFn, cancel: CancelToken) -> list[dict]:
    """Start the batch folder, classify what is not done yet, write predictions.json; every row, in file order.

    The folder follows :class:`BatchLifecycle`: one process at a time (a second ``--resume`` of the same batch is
    refused before it reads or writes anything), a cancel or failure recorded in batch.json."""
    output.dir.mkdir(parents=True, exist_ok=True)  # the lock is taken before batch.json or the CSV is touched
    with BatchLifecycle(output, progress) as life:
        previous = output.start(info, info["classes"])
        new = _run(predictor, files, folder, opts, output, previous, life.progress, cancel)
        rows = _in_file_order(previous + new, files)
        n_ok = sum(r["status"] == "ok" for r in rows)
        summary = {k: info[k] for k in ("model", "backend", "device", "variant", "tta", "folder", "classes")}
        summary.update(n_ok=n_ok, n_failed=len(rows) - n_ok)
        output.doc["counts"].update(files_done=len(files), rows=len(rows), ok=n_ok, error=len(rows) - n_ok)
        output.finish("completed", rows=rows, summary=summary)
    return rows


def _run(predictor, files: list[Path], folder: Path, opts, output: BatchOutput, previous: list[dict],
         progress: ProgressFn, cancel: CancelToken) -> list[dict]:
    """Classify the files not finished before, appending each batch's rows; returns the new rows."""
    done: dict[str, set] = {}
    for row in previous:
        done.setdefault(row["path"], set()).add(row["page"])
    todo = [p for p in files if not _finished(p, done)]
    skipped = len(files) - len(todo)
    new: list[dict] = []
    n_bad = sum(r["status"] != "ok" for r in previous)
    eta = EtaEstimator(len(todo))
    cam_dir = output.heatmap_dir() if opts.heatmaps else None
    for start in range(0, len(todo), opts.batch_size):
        cancel.raise_if_cancelled()
        chunk = todo[start:start + opts.batch_size]
        rows = _predict_batch(predictor, chunk, folder, opts, cam_dir, done)
        output.append(rows)
        new += rows
        n_bad += sum(r["status"] != "ok" for r in rows)
        n_rows = len(previous) + len(new)
        step = skipped + start + len(chunk)
        output.update(files_done=step, rows=n_rows, ok=n_rows - n_bad, error=n_bad)
        progress(Progress("predict", step, len(files), f"{n_rows - n_bad} classified, {n_bad} unreadable",
                          eta_s=eta.eta(start + len(chunk)),
                          metrics=_live_metrics(new, n_rows - n_bad, n_bad, start + len(chunk), eta.elapsed())))
    return new


def _live_metrics(rows: list[dict], n_ok: int, n_bad: int, n_done: int, elapsed: float) -> dict:
    """What the Jobs tab shows while a batch runs: counts, images per second and the batch's last rows."""
    latest = [{k: row.get(k) for k in ("path", "page", "status", "class", "prob", "reason")} for row in rows[-10:]]
    return {"classified": n_ok, "unreadable": n_bad, "per_s": n_done / elapsed if elapsed > 0 else None,
            "latest": latest}


def _finished(path: Path, done: dict[str, set]) -> bool:
    """Whether a resumed batch already holds every row of ``path`` (multi-page files are checked page by page)."""
    pages = done.get(os.fspath(path))
    if not pages:
        return False
    return None in pages or (path.suffix.lower() not in _TIFF_SUFFIXES and pages == {0})


def _in_file_order(rows: list[dict], files: list[Path]) -> list[dict]:
    """Rows sorted by the folder listing, pages in order (rows of files gone since stay last)."""
    order = {os.fspath(p): i for i, p in enumerate(files)}
    return sorted(rows, key=lambda r: (order.get(r["path"], len(order)), r["page"] or 0))


def _rows_on_disk(output: BatchOutput) -> int:
    try:
        from engine.evaluation.batch_csv import read_rows

        return len(read_rows(output.csv, output.fields)[0])
    except Exception:  # noqa: BLE001 - only for the message
        return 0


def _error_row(path: str, page: int | None, exc: BaseException) -> dict:
    reason = getattr(exc, "reason", None) or str(exc) or type(exc).__name__
    return {"path": path, "page": page, "status": "error", "class": None, "prob": None, "reason": reason,
            "heatmap": None}


def _units(predictor, paths: list[Path], done: dict[str, set]) -> tuple[list[dict], list]:
    """Rows (one per page not done yet), and the model inputs of the readable ones."""
    from engine.data.imageio import probe_image

    rows, xs = [], []
    for path in paths:
        key = os.fspath(path)
        try:
            pages = probe_image(path).pages  # refuses FIFOs, devices... before any open()
        except Exception as exc:  # noqa: BLE001 - one bad file never aborts the batch
            rows.append(_error_row(key, None, exc))
            continue
        for page in range(pages):
            if page in done.get(key, ()):
                continue
            try:
                x = predictor.spec.preprocess(predictor.spec.load(key, page))
            except Exception as exc:  # noqa: BLE001 - one unreadable image is an error row, never the batch's end
                rows.append(_error_row(key, page, exc))
                continue
            rows.append({"path": key, "page": page, "status": "ok", "class": None, "prob": None, "reason": None,
                         "heatmap": None})
            xs.append(x)
    return rows, xs


def _predict_batch(predictor, paths: list[Path], folder: Path, opts, cam_dir: Path | None,
                   done: dict[str, set]) -> list[dict]:
    """Rows for one batch of files, in file order; model calls in slices of ``opts.batch_size`` images."""
    rows, xs = _units(predictor, paths, done)
    good = [r for r in rows if r["status"] == "ok"]
    classes = predictor.classes
    for s in range(0, len(good), opts.batch_size):
        x = np.stack(xs[s:s + opts.batch_size])
        part = good[s:s + opts.batch_size]
        probs = predictor.predict(x, opts.tta_mode)
        for row, p, k in zip(part, probs, predictor.decide(probs)):  # the run's val threshold, else arg-max
            k = int(k)
            row.update({"class": classes[k], "prob": float(p[k])})
            row.update({f"p_{c}": float(v) for c, v in zip(classes, p)})
        if cam_dir is not None:
            _write_heatmaps(predictor, x, part, folder, cam_dir, opts.cam_method)
    return rows


def heatmap_name(rel: Path, page: int = 0) -> str:
    """A flat, unique PNG name for page ``page`` of the image at ``rel``: "a/b.jpg" -> "a__b.jpg.png".

    The extension is kept (x.png and x.jpg differ); pages after the first add ``-page<N>``; names that already
    contain "__" get a short hash of the path, so "a/b.png" and "a__b.png" cannot collide.
    """
    name = "__".join(rel.parts)
    if any("__" in part for part in rel.parts):
        import hashlib

        name += "-" + hashlib.sha1(os.fsencode(rel.as_posix())).hexdigest()[:8]
    return name + (f"-page{page}" if page else "") + ".png"


def _write_heatmaps(predictor, x: np.ndarray, rows: list[dict], folder: Path,
                    cam_dir: Path, method: str) -> None:
    """Grad-CAM overlays (of the predicted class) as PNGs at each image's own size and aspect ratio (the page is
    decoded again; at most ``placement.MAX_SIDE`` px long); the path goes to each row's "heatmap"."""
    try:
        from engine.data.imageio import read_image
        from engine.explain.overlay import save_png
        from engine.explain.placement import overlay_on_source
    except ImportError as exc:
        raise HistoDeskError("Heatmaps need the explain module (engine.explain), which is not available "
                             "in this installation; classify without --heatmaps.") from exc
    cams = predictor.cams(x, method)
    for row, cam in zip(rows, cams):
        target = cam_dir / heatmap_name(Path(row["path"]).relative_to(folder), row["page"] or 0)
        source = read_image(row["path"], page=row["page"] or 0)
        save_png(target, overlay_on_source(predictor.spec, source, cam))
        row["heatmap"] = str(target)
