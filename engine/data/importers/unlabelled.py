"""Unlabelled folders for self-supervised pretraining: every image, label ``"unlabelled"``."""

from __future__ import annotations

from pathlib import Path

from engine.data.importers.base import Importer, folder_hints
from engine.registry import register

#: The label every image of an unlabelled folder gets.
UNLABELLED = "unlabelled"


@register("importer", "unlabelled", description="every image under the folder, no labels (self-supervised)")
class UnlabelledImporter(Importer):
    """Every image under the root, at any depth, labelled ``"unlabelled"``.

    Meant for self-supervised pretraining, which needs no labels. Split and
    magnification folders (``train/``, ``40X/``) are still read as hints. It
    is never chosen by auto-detection (confidence 0): pick it by name.
    """

    name = UNLABELLED

    def describe(self, path: Path, root: Path) -> dict:
        """The constant label, plus split/magnification hints from the folders."""
        return {"label": UNLABELLED, **folder_hints(path.relative_to(root).parts[:-1])}

    def detect(self, root: Path) -> float:
        """Always 0: a labelled importer (or the prefix fallback) wins auto-detection."""
        return 0.0
