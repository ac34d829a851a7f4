"""Dataset importers (registry kind ``"importer"``) and the dataset scan.

Importing this package registers every importer: ``breakhis``, ``csv``,
``folder`` and ``prefix``. Adding one is a new module here plus its import
below. ``scan(root)`` turns a folder or list into a Catalog.
"""

from engine.data.importers import breakhis, csvlist, folder, prefix  # noqa: F401  (registers)
from engine.data.importers import unlabelled  # noqa: F401  (registers; last: never auto-detected)
from engine.data.importers.base import Importer, walk_files
from engine.data.importers.breakhis import parse_breakhis_name
from engine.data.importers.detect import detect_importer, importer_confidences
from engine.data.importers.scan import file_sha1, scan

__all__ = [
    "Importer", "detect_importer", "file_sha1", "importer_confidences",
    "parse_breakhis_name", "scan", "walk_files",
]
