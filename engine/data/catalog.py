"""A dataset catalog: one :class:`ImageRecord` per usable image, plus skips.

Importers produce a :class:`Catalog`; splits, the cache, the training job and
the GUI's dataset browser all read it. It round-trips through JSON.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from engine.io_utils import read_json, write_json


@dataclass
class ImageRecord:
    """One image of a dataset and what is known about it."""

    path: str                       # absolute path of the file
    label: str                      # class name, e.g. "benign"
    patient: str | None = None      # patient / slide id, when known
    magnification: str | None = None  # e.g. "40X", when known
    subtype: str | None = None      # finer label, e.g. BreaKHis tumour type
    split: str | None = None        # split given by the source (CSV), if any
    width: int = 0
    height: int = 0
    sha1: str = ""                  # content hash of the file's bytes
    page: int = 0                   # page of a multi-page TIFF

    @property
    def key(self) -> str:
        """Stable identity used for caching: content hash plus page."""
        return f"{self.sha1}-{self.page}" if self.page else self.sha1


@dataclass
class SkippedFile:
    """A file a scan could not use, and why."""

    path: str
    reason: str


@dataclass
class Catalog:
    """The result of scanning a dataset."""

    root: str
    importer: str
    records: list[ImageRecord] = field(default_factory=list)
    skipped: list[SkippedFile] = field(default_factory=list)
    #: The dataset's curation read at scan time, not yet applied (see :mod:`engine.data.curation`);
    #: training applies it split by split, so it travels with the run's catalog.json.
    curation: dict[str, Any] | None = None

    @property
    def classes(self) -> list[str]:
        """Sorted class names present in the catalog."""
        return sorted({r.label for r in self.records})

    @property
    def has_patients(self) -> bool:
        """True when every record carries a patient id."""
        return bool(self.records) and all(r.patient for r in self.records)

    def summary(self) -> dict[str, Any]:
        """Counts per class, magnification and patient, and image sizes."""
        by_class = Counter(r.label for r in self.records)
        by_class_mag: dict[str, Counter] = defaultdict(Counter)
        by_patient: dict[str, Counter] = defaultdict(Counter)
        sizes = Counter(f"{r.width}x{r.height}" for r in self.records)
        for r in self.records:
            by_class_mag[r.label][r.magnification or "-"] += 1
            by_patient[r.patient or "-"][r.label] += 1
        return {
            "root": self.root,
            "importer": self.importer,
            "images": len(self.records),
            "skipped": len(self.skipped),
            "classes": self.classes,
            "per_class": dict(sorted(by_class.items())),
            "per_class_magnification": {k: dict(sorted(v.items())) for k, v in sorted(by_class_mag.items())},
            "per_patient": {k: dict(sorted(v.items())) for k, v in sorted(by_patient.items())},
            "patients": len({r.patient for r in self.records if r.patient}),
            "magnifications": sorted({r.magnification for r in self.records if r.magnification}),
            "image_sizes": dict(sizes.most_common()),
        }

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form for JSON."""
        return {
            "root": self.root,
            "importer": self.importer,
            "records": [asdict(r) for r in self.records],
            "skipped": [asdict(s) for s in self.skipped],
            **({"curation": self.curation} if self.curation else {}),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Catalog":
        """Inverse of :meth:`to_dict`."""
        return cls(
            root=data["root"],
            importer=data["importer"],
            records=[ImageRecord(**r) for r in data.get("records", [])],
            skipped=[SkippedFile(**s) for s in data.get("skipped", [])],
            curation=data.get("curation"),
        )

    def save(self, path: str | Path) -> None:
        """Write the catalog to a JSON file atomically."""
        write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | Path) -> "Catalog":
        """Read a catalog written by :meth:`save`."""
        return cls.from_dict(read_json(path))
