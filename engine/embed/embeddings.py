"""The :class:`Embeddings` container: features plus what is known about each image, saved as ``.npz``.

Both the ``.npz`` and the map CSV are written atomically (a full disk never
leaves a torn file over the previous one), and paths keep their exact bytes
whatever the file name (see :mod:`engine.io_utils`).
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import DataError
from engine.io_utils import atomic_write_bytes, display_path, write_csv

_LISTS = ("paths", "labels", "patients", "magnifications", "splits")


@dataclass
class Embeddings:
    """Features ``[N, D]`` float32 of N images with their path, label, patient, magnification and split.

    ``predictions`` (class names) and ``confidences`` (max probability)
    exist for supervised runs, else None. ``source``/``dataset`` say where
    they came from.
    """

    features: np.ndarray
    paths: list[str]
    labels: list[str]
    patients: list[str]
    magnifications: list[str]
    splits: list[str]
    predictions: list[str] | None = None
    source: str = ""
    dataset: str = ""
    confidences: np.ndarray | None = None
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.features = np.nan_to_num(np.asarray(self.features, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)
        n = len(self.features)
        for name in _LISTS + (("predictions",) if self.predictions is not None else ()):
            if len(getattr(self, name)) != n:
                raise DataError(f"Embeddings: {name} has {len(getattr(self, name))} entries for {n} feature rows.")

    def __len__(self) -> int:
        return len(self.features)

    @property
    def dim(self) -> int:
        """Feature dimension D."""
        return int(self.features.shape[1]) if self.features.ndim == 2 else 0

    def column(self, name: str) -> list[str]:
        """A per-image attribute by name: label, prediction, patient, magnification, split, path."""
        attr = {"label": "labels", "prediction": "predictions", "patient": "patients",
                "magnification": "magnifications", "split": "splits", "path": "paths"}.get(name, name)
        values = getattr(self, attr, None)
        if values is None:
            raise DataError(f"These embeddings have no {name!r} (predictions exist only for supervised runs).")
        return list(values)

    def subset(self, indices) -> "Embeddings":
        """The embeddings of the images at ``indices`` (in that order)."""
        idx = np.asarray(indices, dtype=int)

        def pick(values):
            return None if values is None else [values[i] for i in idx]

        lists: dict[str, Any] = {n: pick(getattr(self, n)) for n in _LISTS}
        return Embeddings(self.features[idx], **lists,
                          predictions=pick(self.predictions), source=self.source, dataset=self.dataset,
                          confidences=None if self.confidences is None else self.confidences[idx], meta=dict(self.meta))

    def save(self, path: str | Path) -> Path:
        """Write an ``.npz`` atomically (no pickles; strings as unicode arrays, so any file name round-trips)."""
        path = Path(path)
        arrays: dict[str, Any] = {n: np.asarray(getattr(self, n), dtype=str) for n in _LISTS}
        if self.predictions is not None:
            arrays["predictions"] = np.asarray(self.predictions, dtype=str)
        if self.confidences is not None:
            arrays["confidences"] = np.asarray(self.confidences, dtype=np.float32)
        info = {"source": self.source, "dataset": self.dataset, "meta": self.meta}
        buf = io.BytesIO()
        np.savez(buf, features=self.features, info=np.asarray(json.dumps(info)), **arrays)
        atomic_write_bytes(path, buf.getvalue())
        return path

    def write_csv(self, path: str | Path, coords, indices=None) -> Path:
        """CSV ``path,label,x,y,patient,magnification,split[,prediction]`` of the rows ``indices`` (default all).

        Written atomically; paths keep their exact bytes (read it back with
        :func:`engine.io_utils.read_csv_rows`).
        """
        path = Path(path)
        rows = range(len(self)) if indices is None else [int(i) for i in indices]
        extra = ["prediction"] if self.predictions is not None else []
        write_csv(path, ["path", "label", "x", "y", "patient", "magnification", "split"] + extra,
                  ([self.paths[i], self.labels[i], f"{coords[i][0]:.5f}", f"{coords[i][1]:.5f}", self.patients[i],
                    self.magnifications[i], self.splits[i]]
                   + ([self.predictions[i]] if self.predictions is not None else []) for i in rows))
        return path

    @classmethod
    def load(cls, path: str | Path) -> "Embeddings":
        """Read an ``.npz`` written by :meth:`save`."""
        try:
            with np.load(Path(path), allow_pickle=False) as z:
                info = json.loads(str(z["info"]))
                lists = {n: z[n].tolist() for n in _LISTS}
                return cls(z["features"], **lists,
                           predictions=z["predictions"].tolist() if "predictions" in z else None,
                           source=info.get("source", ""), dataset=info.get("dataset", ""),
                           confidences=z["confidences"] if "confidences" in z else None, meta=info.get("meta", {}))
        except (OSError, KeyError, ValueError) as exc:
            raise DataError(f"Cannot read embeddings file {display_path(path)}: {display_path(str(exc))}. "
                            "Compute the embeddings again.") from exc
