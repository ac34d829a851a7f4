"""What every importer shares: the safe directory walk and the Importer base.

An importer answers two questions about a dataset root: :meth:`Importer.detect`
(how confident it is that the layout is its own, 0..1) and
:meth:`Importer.collect` (which files are candidates, with the metadata the
layout gives: label, patient, magnification, subtype, split). Decoding and
validating the files is :func:`engine.data.importers.scan`'s job, so importers
stay small and never open images.

A candidate's metadata may hold ``"skip"`` instead of a label: the reason the
file cannot be used (a scan lists it as skipped).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Callable, Iterator

from engine.data.imageio import is_image_file
from engine.data.outputs import is_histodesk_output
from engine.jobs import CancelToken

Candidate = tuple[Path, dict]

#: Folder names read as a split given by the source, mapped to a canonical name.
SPLIT_NAMES = {"train": "train", "training": "train", "val": "val", "valid": "val",
               "validation": "val", "test": "test", "testing": "test"}

_MAGNIFICATION = re.compile(r"^\d+(\.\d+)?x$", re.IGNORECASE)


def _dir_key(path: str) -> tuple | str:
    """Identity of a directory: (device, inode), or its real path where inodes are unknown."""
    st = os.stat(path)
    return (st.st_dev, st.st_ino) if st.st_ino else os.path.realpath(path)


def walk_files(root: Path, cancel: CancelToken | None = None,
               errors: list[tuple[Path, str]] | None = None) -> Iterator[Path]:
    """Every non-hidden file under ``root`` in sorted order, following symlinks safely.

    Symlinked folders are followed, but each real directory (identified by its
    device and inode) is entered once, so a symlink loop cannot hang the walk.
    Folders that cannot be listed are appended to ``errors`` as (path, reason).
    Names starting with ``.`` (``.DS_Store``, ``._x.png`` AppleDouble files,
    ``.git``) are ignored, and so are HistoDesk's own outputs
    (:func:`engine.data.outputs.is_histodesk_output`: marked output folders,
    heatmap folders, ``*.hdpkg`` packages, predictions files). A folder
    named like an image (``x.png/``) is not entered but yielded like a file,
    so the caller reports it ("not a regular file: a folder"). Entries are
    yielded as listed: FIFOs, sockets and devices too (nothing is opened
    here). ``cancel`` is checked once per folder.
    """
    def on_error(exc: OSError) -> None:
        if errors is not None:
            errors.append((Path(exc.filename or root), f"cannot open folder: {exc.strerror or exc}"))

    seen = {_dir_key(os.fspath(root))}
    for dirpath, dirnames, filenames in os.walk(root, onerror=on_error, followlinks=True):
        if cancel is not None:
            cancel.raise_if_cancelled()
        keep, files = [], [name for name in filenames if not name.startswith(".")]
        for name in sorted(dirnames):
            if name.startswith(".") or is_histodesk_output(os.path.join(dirpath, name), is_dir=True):
                continue
            if is_image_file(name):
                files.append(name)
                continue
            try:
                key = _dir_key(os.path.join(dirpath, name))
            except OSError:
                continue
            if key not in seen:
                seen.add(key)
                keep.append(name)
        dirnames[:] = keep
        for name in sorted(files):
            if not is_histodesk_output(os.path.join(dirpath, name), is_dir=False):
                yield Path(dirpath) / name


def walk_candidates(root: Path, describe: Callable[[Path], dict],
                    cancel: CancelToken | None = None) -> Iterator[Candidate]:
    """``(path, metadata)`` for every file under ``root``, then unreadable folders.

    ``describe`` is asked only about image files (other files get ``{}`` and
    the scan reports them as "not an image file"); an exception in it turns
    into a skip for that file only.
    """
    errors: list[tuple[Path, str]] = []
    for path in walk_files(root, cancel, errors):
        try:
            meta = describe(path) if is_image_file(path) else {}
        except Exception as exc:  # noqa: BLE001 - one odd name never aborts a scan
            meta = {"skip": f"cannot interpret the file name: {exc}"}
        yield path, meta
    for folder, reason in errors:
        yield folder, {"skip": reason}


def sample_images(root: Path, limit: int = 400) -> list[Path]:
    """Up to ``limit`` image files under ``root`` (in walk order), for detection."""
    found: list[Path] = []
    if not Path(root).is_dir():
        return found
    for path in walk_files(Path(root)):
        if is_image_file(path):
            found.append(path)
            if len(found) >= limit:
                break
    return found


def is_hint_folder(name: str) -> bool:
    """True for folder names that mean a split or a magnification, not a patient."""
    return name.lower() in SPLIT_NAMES or bool(_MAGNIFICATION.match(name))


def folder_hints(folders: tuple[str, ...]) -> dict:
    """Split and magnification given by folder names such as ``train/`` or ``40X/``.

    ``folders`` are the folder names between the root and a file, outermost
    first; the nearest matching folder wins.
    """
    hints: dict = {}
    for part in reversed(folders):
        if part.lower() in SPLIT_NAMES:
            hints.setdefault("split", SPLIT_NAMES[part.lower()])
        elif _MAGNIFICATION.match(part):
            hints.setdefault("magnification", part.upper())
    return hints


class Importer:
    """Base class: subclasses set ``name`` and implement :meth:`describe` and :meth:`detect`.

    ``allow_outside``: list importers may use files outside the list's folder
    (folder importers ignore it).
    """

    name: str = ""

    def __init__(self, *, allow_outside: bool = False):
        self.allow_outside = bool(allow_outside)

    def detect(self, root: Path) -> float:
        """Confidence in 0..1 that ``root`` uses this importer's layout."""
        raise NotImplementedError

    def describe(self, path: Path, root: Path) -> dict:
        """Metadata for one file (``label`` ... or ``skip``: the reason it is unusable)."""
        raise NotImplementedError

    def collect(self, root: Path, cancel: CancelToken | None = None) -> Iterator[Candidate]:
        """Candidate files under ``root`` with their partial metadata."""
        root = Path(root)
        yield from walk_candidates(root, lambda path: self.describe(path, root), cancel)

    def labelled_sample(self, root: Path) -> tuple[float, set[str]]:
        """Share of sampled images :meth:`describe` labels, and the labels seen."""
        images = sample_images(Path(root))
        labels: list[str] = []
        for path in images:
            try:
                label = self.describe(path, Path(root)).get("label")
            except Exception:  # noqa: BLE001 - a sample this importer cannot read counts as unlabelled
                label = None
            if label:
                labels.append(label)
        return (len(labels) / len(images) if images else 0.0), set(labels)
