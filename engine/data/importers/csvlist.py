"""Datasets described by a CSV or TSV list: ``filename,label[,patient][,split]``."""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Iterator

from engine.data.importers.base import Candidate, Importer
from engine.errors import DataError
from engine.jobs import CancelToken
from engine.registry import register

LIST_SUFFIXES = (".csv", ".tsv")

#: Accepted header names (case-insensitive) for each column.
COLUMNS = {
    "filename": ("filename", "file_name", "file", "path", "filepath", "image", "image_path"),
    "label": ("label", "class"),
    "patient": ("patient", "patient_id"),
    "split": ("split",),
    "magnification": ("magnification",),
}


def _read_rows(path: Path) -> tuple[dict[str, int], list[list[str]]]:
    """Column positions (by canonical name) and the data rows of a list file.

    The delimiter (comma, semicolon or tab) is sniffed; a BOM is ignored.
    Raises :class:`DataError` when the file lacks a file-name or label column.
    """
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"Cannot read the list {path}: {exc}") from exc
    sample = text[:8192]
    try:
        delimiter = csv.Sniffer().sniff(sample, delimiters=",;\t").delimiter
    except csv.Error:
        delimiter = "\t" if "\t" in sample.split("\n", 1)[0] else ","
    rows = [row for row in csv.reader(text.splitlines(), delimiter=delimiter) if any(c.strip() for c in row)]
    header = [c.strip().lower() for c in rows[0]] if rows else []
    # reversed: the first alias present wins when a header holds several
    columns = {key: header.index(alias) for key, aliases in COLUMNS.items()
               for alias in reversed(aliases) if alias in header}
    if "filename" not in columns or "label" not in columns:
        raise DataError(
            f"{path.name} needs a header row naming a file column (filename, path, file or image) "
            f"and a label column (label or class); found: {', '.join(header) or 'nothing'}.")
    return columns, rows[1:]


def find_list(root: Path) -> Path | None:
    """The list file for ``root``: itself, or the first valid CSV/TSV directly inside it."""
    root = Path(root)
    if root.is_file():
        return root if root.suffix.lower() in LIST_SUFFIXES else None
    if not root.is_dir():
        return None
    for child in sorted(root.iterdir()):
        if child.suffix.lower() in LIST_SUFFIXES and child.is_file():
            try:
                _read_rows(child)
            except DataError:
                continue
            return child
    return None


@register("importer", "csv", description="a CSV/TSV list: filename,label[,patient][,split]")
class CsvImporter(Importer):
    """Rows of a CSV/TSV list; file names relative to the list's folder or absolute.

    ``root`` may be the list file itself or a folder holding one. Rows naming
    missing files are skipped ("listed in CSV but missing"); a file listed
    twice keeps its first row. Images not listed are ignored.
    """

    name = "csv"

    def detect(self, root: Path) -> float:
        """1.0 for a valid list file, 0.9 for a folder holding one, else 0."""
        root = Path(root)
        if root.is_file() and root.suffix.lower() in LIST_SUFFIXES:
            try:
                _read_rows(root)
            except DataError:
                return 0.5  # still ours: the scan will explain what is wrong with it
            return 1.0
        return 0.9 if find_list(root) else 0.0

    def describe(self, path: Path, root: Path) -> dict:
        """Not used: a list importer reads rows, not file names."""
        raise NotImplementedError("the CSV importer reads rows; use collect()")

    def collect(self, root: Path, cancel: CancelToken | None = None) -> Iterator[Candidate]:
        """One candidate per row of the list (skips for empty, missing or repeated entries)."""
        listing = find_list(Path(root))
        if listing is None:
            raise DataError(f"No CSV/TSV list with filename and label columns found at {root}.")
        columns, rows = _read_rows(listing)
        seen: set[Path] = set()
        for number, row in enumerate(rows, start=2):
            if cancel is not None and number % 256 == 0:
                cancel.raise_if_cancelled()
            values = {key: (row[pos].strip() if pos < len(row) else "") for key, pos in columns.items()}
            name = values.pop("filename")
            if not name:
                yield listing, {"skip": f"row {number} of {listing.name} has no file name"}
                continue
            if os.sep == "/":
                name = name.replace("\\", "/")
            path = Path(os.path.normpath(listing.parent / Path(name).expanduser()))
            meta = {key: value for key, value in values.items() if value}
            if path in seen:
                meta = {"skip": "listed more than once in CSV (first row kept)"}
            elif not path.is_file():
                meta = {"skip": "listed in CSV but missing"}
            elif "label" not in meta:
                meta = {"skip": f"no label in row {number} of {listing.name}"}
            seen.add(path)
            yield path, meta
