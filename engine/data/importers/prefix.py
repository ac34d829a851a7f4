"""Flat folders where the class is the file-name prefix (``TUM-AACHEHDV.tif``)."""

from __future__ import annotations

import re
from pathlib import Path

from engine.data.importers.base import Importer, folder_hints
from engine.registry import register

_PREFIX = re.compile(r"^([^-_]+)[-_]")


@register("importer", "prefix", description="class from the file-name prefix before '-' or '_'")
class PrefixImporter(Importer):
    """Label = the part of the file name before the first ``-`` or ``_``.

    Meant for flat folders such as NCT-CRC-HE (``ADI-AAQEFMRI.tif`` ->
    ``"ADI"``); files in sub-folders are labelled the same way. It is the
    fallback when no other layout is recognised.
    """

    name = "prefix"

    def describe(self, path: Path, root: Path) -> dict:
        """Label from the name's prefix, or a skip reason when there is none."""
        match = _PREFIX.match(path.name)
        if not match:
            return {"skip": "no class prefix in the file name (expected e.g. TUM-0001.tif)"}
        return {"label": match.group(1), **folder_hints(path.relative_to(root).parts[:-1])}

    def detect(self, root: Path) -> float:
        """Low: 0.05 as a fallback, up to 0.45 when several prefixes label most images."""
        share, labels = self.labelled_sample(root)
        return 0.05 + (0.4 * share if len(labels) >= 2 else 0.0)
