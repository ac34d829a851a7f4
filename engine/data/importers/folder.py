"""Class-per-folder datasets: the label is the folder holding each image."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

from engine.data.importers.base import Candidate, Importer, folder_hints, is_hint_folder
from engine.jobs import CancelToken
from engine.registry import register


@register("importer", "folder", description="one sub-folder per class, at any depth")
class FolderImporter(Importer):
    """Label = name of the folder directly containing the image, at any depth.

    Patient: the nearest folder above the label folder that is neither a split
    name (``train``, ``val``, ``test``...) nor a magnification (``40X``):

    * ``root/<label>/img.png`` -> no patient (the root's children are labels);
    * ``root/<patient>/<label>/img.png`` -> patient is the parent folder
      (idc-sample: ``14306/0/x.png`` -> label ``"0"``, patient ``"14306"``);
    * ``root/train/<label>/img.png`` -> split ``"train"``, no patient;
    * ``root/40X/<label>/img.png`` -> magnification ``"40X"``, no patient.

    When every image ends up with the same "patient" while there are several
    labels, that folder is just a container (``root/my_data/<label>/``), so
    the patient is dropped. Files directly in the root have no label folder
    and are skipped.
    """

    name = "folder"

    def describe(self, path: Path, root: Path) -> dict:
        """Label, and patient/split/magnification from the folders above it."""
        folders = path.relative_to(root).parts[:-1]
        if not folders:
            return {"skip": "file sits directly in the dataset folder; the folder importer "
                            "expects one sub-folder per class"}
        meta = {"label": folders[-1], **folder_hints(folders[:-1])}
        for part in reversed(folders[:-1]):
            if not is_hint_folder(part):
                meta["patient"] = part
                break
        return meta

    def collect(self, root: Path, cancel: CancelToken | None = None) -> Iterator[Candidate]:
        """Candidates as :meth:`describe` sees them, minus a constant container "patient"."""
        items = list(super().collect(root, cancel))
        labelled = [meta for _path, meta in items if "label" in meta]
        patients = {meta.get("patient") for meta in labelled}
        labels = {meta["label"] for meta in labelled}
        if len(patients) == 1 and None not in patients and len(labels) > 1:
            for meta in labelled:
                meta.pop("patient", None)
        yield from items

    def detect(self, root: Path) -> float:
        """Medium when images sit in two or more label folders, low with one."""
        share, labels = self.labelled_sample(root)
        return (0.6 if len(labels) >= 2 else 0.2) * share
