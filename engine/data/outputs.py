"""Names of HistoDesk's own outputs, so no importer reads them back as data.

Convention (shared by every writer and reader in the project):

* every output folder HistoDesk creates holds an empty marker file named
  :data:`OUTPUT_MARKER` (``.histodesk-output``); :func:`mark_output_folder`
  writes it;
* batch predictions are ``histodesk_predictions.csv/.json`` (the old default
  name, anywhere) or ``predictions.csv/.json`` inside a marked folder;
* heatmaps go to ``histodesk_heatmaps/`` (anywhere) or ``heatmaps/`` inside a
  marked folder;
* model packages are folders ending in ``.hdpkg``.

:func:`is_histodesk_output` answers "is this path one of those?" for a
directory walk, and :func:`is_predictions_header` recognises a predictions
CSV by its columns, whatever its name.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

#: Empty file marking a folder as written by HistoDesk (its content is never data).
OUTPUT_MARKER = ".histodesk-output"

#: Default batch predictions file names of earlier versions (written anywhere).
PREDICTIONS_FILES = frozenset({"histodesk_predictions.csv", "histodesk_predictions.json"})

#: Predictions file names recognised inside a marked output folder.
MARKED_PREDICTIONS_FILES = frozenset({"predictions.csv", "predictions.json"})

#: Heatmap folder name used anywhere, and the one used inside a marked folder.
HEATMAP_FOLDER = "histodesk_heatmaps"
MARKED_HEATMAP_FOLDER = "heatmaps"

#: Suffix of model package folders.
PACKAGE_SUFFIX = ".hdpkg"

#: Columns that identify a batch predictions CSV (``python main.py predict``).
BATCH_PREDICTION_COLUMNS = ("path", "status", "class", "prob")

#: Columns that identify a run's ``predictions.csv`` (evaluation).
RUN_PREDICTION_COLUMNS = ("path", "split", "true_label", "predicted_label", "predicted_probability")


def is_marked_folder(folder: str | os.PathLike) -> bool:
    """True when ``folder`` holds the :data:`OUTPUT_MARKER` file."""
    return os.path.lexists(os.path.join(os.fspath(folder), OUTPUT_MARKER))


def mark_output_folder(folder: str | os.PathLike) -> Path:
    """Create ``folder`` if needed and put the output marker in it; returns the folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    marker = folder / OUTPUT_MARKER
    if not marker.exists():
        marker.write_bytes(b"")
    return folder


def is_histodesk_output(path: str | os.PathLike, is_dir: bool | None = None) -> bool:
    """True when ``path`` is something HistoDesk wrote: never to be read as data.

    Folders: marked ones, ``histodesk_heatmaps``, ``*.hdpkg``, and ``heatmaps``
    inside a marked folder. Files: ``histodesk_predictions.csv/.json``, and
    ``predictions.csv/.json`` inside a marked folder. ``is_dir`` saves a
    ``stat`` when the caller already knows (e.g. from ``os.walk``).
    """
    p = Path(path)
    name = p.name
    if is_dir is None:
        is_dir = p.is_dir()
    if is_dir:
        if name == HEATMAP_FOLDER or name.lower().endswith(PACKAGE_SUFFIX) or is_marked_folder(p):
            return True
        return name == MARKED_HEATMAP_FOLDER and is_marked_folder(p.parent)
    if name in PREDICTIONS_FILES:
        return True
    return name in MARKED_PREDICTIONS_FILES and is_marked_folder(p.parent)


def is_predictions_header(columns: Sequence[str]) -> bool:
    """True when CSV ``columns`` are those of a HistoDesk predictions file (batch or run)."""
    cols = {str(c).strip().lower() for c in columns}
    return set(BATCH_PREDICTION_COLUMNS) <= cols or set(RUN_PREDICTION_COLUMNS) <= cols
