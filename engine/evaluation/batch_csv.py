"""The predictions CSV of a batch classification: appended batch by batch, read back after a crash.

Rows are appended with flush + fsync as each batch finishes, so a kill or a
full disk loses at most the batch in flight. The text follows the project's
file-name convention (:mod:`engine.io_utils`): UTF-8 with surrogateescape
both ways, so a file name that is not valid UTF-8 round-trips byte for byte,
and names holding commas, quotes or newlines are quoted. :func:`read_rows` drops a torn last record (a write cut
short) and tells the caller, which rewrites the file without it.
"""

from __future__ import annotations

import csv
import io
import os
import stat
from pathlib import Path

from engine.errors import ConfigError
from engine.io_utils import PATH_ERRORS, csv_text, display_path, read_text

_FLOATS = ("prob",)


def csv_fields(classes: list[str]) -> list[str]:
    """Column names: path, page, status, class, prob, p_<class>..., reason, heatmap."""
    return ["path", "page", "status", "class", "prob"] + [f"p_{c}" for c in classes] + ["reason", "heatmap"]


def rows_text(rows: list[dict], fields: list[str], header: bool = False) -> str:
    """``rows`` as CSV text in the project's format (:func:`engine.io_utils.csv_text`), None as an empty cell."""
    cells = [["" if row.get(k) is None else row[k] for k in fields] for row in rows]
    text = csv_text(fields, cells)
    return text if header else text[len(csv_text(fields, [])):]


def append_text(path: Path, text: str) -> None:
    """Append ``text`` to ``path`` in one write, then flush and fsync (a crash keeps what came before)."""
    with open(path, "a", encoding="utf-8", errors=PATH_ERRORS, newline="") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())


def _typed(raw: dict, fields: list[str]) -> dict:
    """A CSV record as a result row: empty -> None, page -> int, probabilities -> float."""
    row: dict = {}
    for key in fields:
        value = raw.get(key) or None
        if value is not None and (key in _FLOATS or key.startswith("p_")):
            value = float(value)
        elif value is not None and key == "page":
            value = int(value)
        row[key] = value
    return row


def check_plain_file(path: Path) -> None:
    """ConfigError unless ``path`` is a regular file (a FIFO named predictions.csv would block a read)."""
    if not stat.S_ISREG(os.stat(path).st_mode):
        raise ConfigError(f"{display_path(path)} is not a regular file, so it cannot hold HistoDesk predictions; "
                          "choose another destination.")


def read_rows(path: Path, fields: list[str]) -> tuple[list[dict], bool]:
    """Every complete row of the CSV at ``path`` and whether a torn last record was dropped.

    ConfigError when the header is not ``fields`` (another model's classes, or not a HistoDesk file) or a
    record before the last one is damaged.
    """
    check_plain_file(path)
    text = read_text(path)
    records: list[list[str]] = []
    torn = False
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        for record in reader:
            records.append(record)
    except csv.Error:  # an unterminated quoted field at the end: the last write was cut short
        torn = True
    if not records or records[0] != fields:
        found = ", ".join(records[0]) if records else "nothing"
        raise ConfigError(f"{display_path(path)} does not hold this model's predictions (columns {found}; expected "
                          f"{', '.join(fields)}): choose another destination, or overwrite it.")
    body = records[1:]
    if body and not torn and not text.endswith("\n"):
        body, torn = body[:-1], True  # the last record has no line end: cut short
    bad = [i for i, r in enumerate(body) if len(r) != len(fields)]
    if bad and bad != [len(body) - 1]:
        raise ConfigError(f"{display_path(path)} is damaged (record {bad[0] + 2} has {len(body[bad[0]])} fields, "
                          f"expected "
                          f"{len(fields)}): it cannot be continued; overwrite it instead.")
    if bad:
        body, torn = body[:-1], True
    return [_typed(dict(zip(fields, r)), fields) for r in body], torn
