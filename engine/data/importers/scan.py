"""Scanning a dataset into a :class:`~engine.data.catalog.Catalog`.

The importer lists candidate files with their labels; the scan then checks
each file (size, extension, header, pixel budget, full decodability), hashes
it and records one :class:`ImageRecord` per image page. A bad file becomes a
:class:`SkippedFile` with a reason; it never aborts the scan.
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

from engine.data.catalog import Catalog, ImageRecord, SkippedFile
from engine.data.imageio import (DEFAULT_MAX_PIXELS, IMAGE_EXTENSIONS, check_regular_file, is_image_file,
                                  open_regular, verify_image)
from engine.data.importers.detect import check_root, detect_importer
from engine.errors import DataError, ImageReadError
from engine.io_utils import display_path
from engine.jobs import CancelToken, EtaEstimator, Progress, ProgressFn, null_progress
from engine.registry import create

_META_FIELDS = ("label", "patient", "magnification", "subtype", "split")
_PROGRESS_EVERY_S = 0.1


class _SkipFileError(Exception):
    """Internal: the current file is unusable, for the reason given."""


def file_sha1(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex SHA-1 of a file's bytes, read in 1 MiB chunks (regular files only: ImageReadError otherwise)."""
    digest = hashlib.sha1()
    with open_regular(path) as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def _inspect_file(path: Path, meta: dict, max_pixels: int = DEFAULT_MAX_PIXELS) -> list[ImageRecord]:
    """Records for one candidate file (one per TIFF page); raises ``_SkipFileError`` with a reason."""
    if "skip" in meta:
        raise _SkipFileError(meta["skip"])
    try:
        size = check_regular_file(path).st_size  # a FIFO, socket, device or folder: named, never opened
    except ImageReadError as exc:
        raise _SkipFileError(getattr(exc, "reason", str(exc))) from exc
    if size == 0:
        raise _SkipFileError("empty file (0 bytes)")
    if not is_image_file(path):
        raise _SkipFileError(f"not an image file ({path.suffix.lower() or 'no extension'})")
    if not meta.get("label"):
        raise _SkipFileError("no label could be determined for this file")
    try:
        info = verify_image(path, max_pixels)
        digest = file_sha1(path)
    except ImageReadError as exc:
        raise _SkipFileError(getattr(exc, "reason", str(exc))) from exc
    fields = {key: (str(meta[key]) if meta.get(key) is not None else None) for key in _META_FIELDS if key != "label"}
    sizes = info.page_sizes or ((info.width, info.height),)
    return [ImageRecord(path=os.path.abspath(path), label=str(meta["label"]), width=w, height=h, sha1=digest,
                        page=page, **fields)
            for page, (w, h) in enumerate(sizes)]


def _no_images_message(root: Path, importer: str, skipped: list[SkippedFile]) -> str:
    if not skipped:
        kinds = ", ".join(sorted(IMAGE_EXTENSIONS))
        return (f"No images found in {display_path(root)} (importer '{importer}'). Choose the folder that holds "
                f"the images ({kinds}) or a CSV/TSV list of them.")
    examples = "; ".join(f"{display_path(Path(s.path).name)}: {s.reason}" for s in skipped[:3])
    return (f"No usable images in {display_path(root)} (importer '{importer}'): all {len(skipped)} files were "
            f"skipped, e.g. {examples}. Check the folder and the importer choice.")


def scan(root: str | os.PathLike, importer: str = "auto", *, max_pixels: int = DEFAULT_MAX_PIXELS,
         allow_outside: bool = False, progress: ProgressFn = null_progress,
         cancel: CancelToken | None = None) -> Catalog:
    """Scan ``root`` (a folder or a CSV/TSV list) into a sorted :class:`Catalog`.

    ``importer`` is a registered importer name or ``"auto"``
    (:func:`detect_importer`). ``allow_outside``: rows of a CSV/TSV list may
    name files outside the list's folder (by default they are skipped,
    "outside the list's folder"). Emits ``Progress(stage="scan")`` events with a
    known total and an ETA, checks ``cancel`` between files (raising
    :class:`~engine.errors.CancelledError`), and raises
    :class:`~engine.errors.DataError` when no usable image is found; that
    error's ``catalog`` attribute holds the skips for display.

    Every file name the OS allows is kept exactly (``str`` with surrogate
    escapes, see :mod:`engine.io_utils`); FIFOs, sockets, devices, folders
    named like images and degenerate images become skips with a reason.
    """
    root = check_root(root)
    name = detect_importer(root) if importer == "auto" else importer
    source = create("importer", name, allow_outside=allow_outside)
    progress(Progress("scan", 0, None, message=f"Listing files ({name} importer)..."))
    candidates = list(source.collect(root, cancel))
    total = len(candidates)
    eta = EtaEstimator(total)
    records: list[ImageRecord] = []
    skipped: list[SkippedFile] = []
    progress(Progress("scan", 0, total, message=f"Checking {total} files"))
    last_report = time.monotonic()
    for step, (path, meta) in enumerate(candidates, start=1):
        if cancel is not None:
            cancel.raise_if_cancelled()
        try:
            records.extend(_inspect_file(path, meta, max_pixels))
        except _SkipFileError as exc:
            skipped.append(SkippedFile(os.path.abspath(path), str(exc)))
        except Exception as exc:  # noqa: BLE001 - PermissionError mid-read, decoder bugs...: skip, go on
            skipped.append(SkippedFile(os.path.abspath(path), f"cannot read: {type(exc).__name__}: {exc}"))
        now = time.monotonic()
        if step in (1, total) or now - last_report >= _PROGRESS_EVERY_S:  # first file: immediate feedback
            last_report = now
            progress(Progress("scan", step, total, message=f"{len(records)} images, {len(skipped)} skipped",
                              eta_s=eta.eta(step), metrics={"images": len(records), "skipped": len(skipped)}))
    records.sort(key=lambda r: (r.path, r.page))
    skipped.sort(key=lambda s: (s.path, s.reason))
    catalog = Catalog(root=str(root), importer=name, records=records, skipped=skipped)
    if not records:
        error = DataError(_no_images_message(root, name, skipped))
        error.catalog = catalog  # type: ignore[attr-defined]
        raise error
    return catalog
