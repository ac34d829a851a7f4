"""Datasets described by a CSV or TSV list: ``filename,label[,patient][,split]``.

Safety rules: the list is parsed strictly, so a malformed quote (an
unbalanced ``"``) is refused with its line number instead of silently
merging the rows that follow; a row naming a file outside the list's folder
(``../x.png``, an absolute path elsewhere) is skipped unless
``allow_outside`` is set; a HistoDesk predictions file is never read as a
list of labels.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import Iterator

from engine.data.imageio import open_regular
from engine.data.importers.base import Candidate, Importer
from engine.data.outputs import is_histodesk_output, is_predictions_header
from engine.errors import DataError, ImageReadError
from engine.io_utils import PATH_ERRORS, display_path
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


def _read_text(path: Path) -> str:
    """The list's text (a BOM dropped; undecodable bytes kept as surrogate escapes); regular files only."""
    try:
        with open_regular(path) as fh:
            data = fh.read()
    except ImageReadError as exc:
        raise DataError(f"Cannot read the list {display_path(path)}: {getattr(exc, 'reason', exc)}") from exc
    except OSError as exc:
        raise DataError(f"Cannot read the list {display_path(path)}: {exc.strerror or exc}") from exc
    return data.decode("utf-8-sig", PATH_ERRORS)


def _records(path: Path, text: str, delimiter: str) -> list[tuple[int, int, list[str]]]:
    """``(first line, last line, cells)`` of every record, parsed strictly (DataError on bad quoting)."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    records, start = [], 1
    try:
        for row in reader:
            records.append((start, reader.line_num, row))
            start = reader.line_num + 1
    except csv.Error as exc:
        raise DataError(f"{display_path(path)}, line {start}: malformed quoting ({exc}): an unbalanced quote (\") "
                        "would merge the rows after it. Fix or remove that quote, then import the list again.") from exc
    return records


def _read_rows(path: Path) -> tuple[dict[str, int], list[tuple[int, list[str]]]]:
    """Column positions (by canonical name) and the data rows (``(line, cells)``) of a list file.

    The delimiter (comma, semicolon or tab) is sniffed; a BOM is ignored.
    Raises :class:`DataError` when the quoting is malformed, when the file
    is a HistoDesk predictions file, or when it lacks a file-name or label
    column. A record running over several lines (a quoted line break) is
    accepted only in the file-name column (a name may hold a newline); in
    any other column it is an unbalanced quote and refused.
    """
    text = _read_text(path)
    sample = text[:8192]
    try:
        delimiter = csv.Sniffer().sniff(sample, delimiters=",;\t").delimiter
    except csv.Error:
        delimiter = "\t" if "\t" in sample.split("\n", 1)[0] else ","
    records = [r for r in _records(path, text, delimiter) if any(c.strip() for c in r[2])]
    header = [c.strip().lower() for c in records[0][2]] if records else []
    if records and is_predictions_header(header):
        raise DataError(f"{display_path(path)} is a HistoDesk predictions file, not a list of labelled images. "
                        "Choose the images' folder, or a list with filename and label columns.")
    # reversed: the first alias present wins when a header holds several
    columns = {key: header.index(alias) for key, aliases in COLUMNS.items()
               for alias in reversed(aliases) if alias in header}
    if "filename" not in columns or "label" not in columns:
        raise DataError(
            f"{display_path(path.name)} needs a header row naming a file column (filename, path, file or image) "
            f"and a label column (label or class); found: {display_path(', '.join(header)) or 'nothing'}.")
    for first, last, row in records:
        if last > first and any("\n" in c or "\r" in c for i, c in enumerate(row) if i != columns["filename"]):
            raise DataError(f"{display_path(path)}, line {first}: a quoted cell runs on to line {last}: an unbalanced "
                            "quote (\") merged these rows. Fix or remove that quote, then import the list again.")
    return columns, [(first, row) for first, _last, row in records[1:]]


def find_list(root: Path) -> Path | None:
    """The list file for ``root``: itself, or the first valid CSV/TSV directly inside it."""
    root = Path(root)
    if root.is_file():
        return root if root.suffix.lower() in LIST_SUFFIXES else None
    if not root.is_dir():
        return None
    for child in sorted(root.iterdir()):
        if child.suffix.lower() in LIST_SUFFIXES and child.is_file() and not is_histodesk_output(child, is_dir=False):
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
        """One candidate per row of the list (skips for empty, outside, missing or repeated entries)."""
        listing = find_list(Path(root))
        if listing is None:
            raise DataError(f"No CSV/TSV list with filename and label columns found at {display_path(root)}.")
        columns, rows = _read_rows(listing)
        folder = Path(os.path.normpath(listing.absolute().parent))
        where = display_path(listing.name)
        seen: set[Path] = set()
        for count, (line, row) in enumerate(rows, start=1):
            if cancel is not None and count % 256 == 0:
                cancel.raise_if_cancelled()
            values = {key: (row[pos] if pos < len(row) else "") for key, pos in columns.items()}
            raw = values.pop("filename")
            if not raw.strip():
                yield listing, {"skip": f"line {line} of {where} has no file name"}
                continue
            path = resolve_listed(folder, raw)
            meta = {key: value.strip() for key, value in values.items() if value.strip()}
            if path in seen:
                meta = {"skip": "listed more than once in CSV (first row kept)"}
            elif not self.allow_outside and not is_inside(path, folder):
                meta = {"skip": "outside the list's folder (allow it with --allow-outside-paths or "
                                "data.allow_outside_paths)"}
            elif not path.exists():
                if "\n" in raw or "\r" in raw:
                    raise DataError(f"{display_path(listing)}, line {line}: a quoted file name runs over several "
                                    "lines and names no file: an unbalanced quote (\")? Fix it, then import again.")
                meta = {"skip": "listed in CSV but missing"}
            elif "label" not in meta:
                meta = {"skip": f"no label in line {line} of {where}"}
            seen.add(path)
            yield path, meta


def resolve_listed(folder: Path, name: str) -> Path:
    """The normalised path a list row names, relative to the list's ``folder`` unless absolute.

    The name is tried exactly as written first (a file name may start with a
    space or hold a backslash), then stripped of surrounding spaces, then with
    backslashes as folder separators (a list written on Windows); the first
    that exists wins, else the last form.
    """
    forms = [name, name.strip()]
    if os.sep == "/" and "\\" in name:
        forms.append(name.strip().replace("\\", "/"))
    paths = [Path(os.path.normpath(folder / Path(form).expanduser())) for form in dict.fromkeys(forms)]
    return next((p for p in paths if os.path.lexists(p)), paths[-1])


def is_inside(path: Path, folder: Path) -> bool:
    """True when the normalised absolute ``path`` lies in ``folder`` (compared lexically, no I/O)."""
    try:
        return os.path.commonpath([os.fspath(folder), os.fspath(path)]) == os.fspath(folder)
    except ValueError:  # another drive (Windows)
        return False
