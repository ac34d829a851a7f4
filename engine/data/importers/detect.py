"""Automatic choice of the importer for a dataset root ("auto")."""

from __future__ import annotations

import os
from pathlib import Path

from engine.data.imageio import check_regular_file
from engine.data.importers.csvlist import LIST_SUFFIXES
from engine.errors import DataError, ImageReadError
from engine.io_utils import display_path
from engine.registry import create, names


def check_root(root: str | os.PathLike) -> Path:
    """``root`` as an absolute Path; DataError unless it is a folder or a CSV/TSV list (a regular file)."""
    root = Path(root).expanduser().absolute()
    if not root.exists():
        raise DataError(f"{display_path(root)} does not exist. Choose a dataset folder or a CSV/TSV list.")
    if not root.is_dir():
        try:
            check_regular_file(root)  # a FIFO or a device as the "list" would block or never end
        except ImageReadError as exc:
            raise DataError(f"{display_path(root)}: {getattr(exc, 'reason', exc)}. Choose a dataset folder or a "
                            "CSV/TSV list.") from exc
    if root.is_file() and root.suffix.lower() not in LIST_SUFFIXES:
        raise DataError(f"{display_path(root)} is a file. Choose a dataset folder or a CSV/TSV list of images.")
    return root


def importer_confidences(root: str | Path) -> dict[str, float]:
    """Every registered importer's :meth:`detect` confidence for ``root``."""
    root = Path(root)
    scores = {}
    for name in names("importer"):
        try:
            scores[name] = float(create("importer", name).detect(root))
        except Exception:  # noqa: BLE001 - a detector never blocks the others
            scores[name] = 0.0
    return scores


def detect_importer(root: str | Path) -> str:
    """Name of the importer most confident about ``root`` (first registered wins ties).

    A CSV/TSV file gives ``"csv"``; BreaKHis-named images ``"breakhis"``;
    images in label sub-folders ``"folder"``; anything else ``"prefix"``.
    Raises :class:`DataError` when ``root`` does not exist or is a file that
    is not a CSV/TSV list.
    """
    root = check_root(root)
    scores = importer_confidences(root)
    return max(scores, key=lambda name: scores[name])
