r"""Atomic file writes, JSON/CSV helpers and the file-name convention: a crash never leaves half a file.

File names: any name the OS allows (non-UTF-8 bytes, newlines, quotes...)
survives a round trip. Paths are ``str`` decoded with ``surrogateescape``
(``os.fsdecode``), so an undecodable byte is a lone surrogate (``"\udcff"``).
Then:

* JSON is written with ``json.dumps``' default ``ensure_ascii=True``: a lone
  surrogate becomes the escape ``\udcff`` and reads back identically;
* CSV and log text is UTF-8 with :data:`PATH_ERRORS` (``surrogateescape``):
  the original bytes are written and read back exactly (:func:`write_csv`,
  :func:`read_text`, ``atomic_write_text(..., errors=PATH_ERRORS)``);
* messages and terminal output use :func:`display_path`: an undecodable byte
  shows as ``\xff``, a control character as ``\n``, ``\t``...
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Iterable, Sequence

#: Text error handler for file names in CSV and log files: the exact bytes round-trip.
PATH_ERRORS = "surrogateescape"

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def display_path(path: str | os.PathLike | bytes) -> str:
    r"""``path`` as printable one-line text: undecodable bytes as ``\xff``, control characters escaped.

    For messages and terminal output only; a path that is stored and read
    back stays the ``str`` itself (see the module docstring).
    """
    text = os.fsdecode(path) if isinstance(path, (bytes, os.PathLike)) else str(path)
    text = text.encode("utf-8", PATH_ERRORS).decode("utf-8", "backslashreplace")
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], text)


def safe_name(text: str, limit: int = 60) -> str:
    """``text`` made a portable file-name part: letters, digits, ``.``, ``_`` and ``-`` kept, others ``_``.

    For names HistoDesk derives from a user's file names (gallery PNGs, cache
    keys): at most ``limit`` characters, never a separator, a control
    character or an undecodable byte.
    """
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in text)[:limit]


def atomic_write_bytes(path: str | os.PathLike, data: bytes, *, parents: bool = True) -> None:
    """Write ``data`` to ``path`` through a temp file and ``os.replace``.

    Missing parent folders are created unless ``parents`` is False (run folders: a folder deleted while a
    job writes it must not be half recreated; the write then raises FileNotFoundError). An OSError
    raised while writing (a full disk) names ``path``.
    """
    path = Path(path)
    if parents:
        path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError) and exc.filename is None:
            exc.filename = str(path)
        raise


def atomic_write_text(path: str | os.PathLike, text: str, *, parents: bool = True, errors: str = "strict") -> None:
    """Atomically write UTF-8 ``text`` to ``path`` (``parents``: see :func:`atomic_write_bytes`).

    ``errors=PATH_ERRORS`` for text holding file names (their exact bytes are written).
    """
    atomic_write_bytes(path, text.encode("utf-8", errors), parents=parents)


def read_text(path: str | os.PathLike, encoding: str = "utf-8") -> str:
    """The text of ``path`` decoded with :data:`PATH_ERRORS`, newlines kept as they are (for CSV)."""
    with open(path, "r", encoding=encoding, errors=PATH_ERRORS, newline="") as fh:
        return fh.read()


def csv_text(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    r"""CSV text (comma, minimal quoting, ``\n`` line ends) of ``header`` then ``rows``.

    A row with a carriage return in a cell (a legal file-name character) is
    fully quoted, as the csv module does not quote ``\r`` by itself.
    """
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    quoted = csv.writer(buf, lineterminator="\n", quoting=csv.QUOTE_ALL)
    writer.writerow(header)
    for row in rows:
        (quoted if any(isinstance(c, str) and "\r" in c for c in row) else writer).writerow(row)
    return buf.getvalue()


def write_csv(path: str | os.PathLike, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """Atomically write a CSV file; file names in its cells keep their exact bytes (:data:`PATH_ERRORS`)."""
    atomic_write_text(path, csv_text(header, rows), errors=PATH_ERRORS)


def read_csv_rows(path: str | os.PathLike) -> list[dict[str, str]]:
    """Rows of a CSV file (e.g. written by :func:`write_csv`) as dicts keyed by its header."""
    return list(csv.DictReader(io.StringIO(read_text(path), newline="")))


def to_jsonable(obj: Any) -> Any:
    """Convert numpy scalars/arrays, paths and sets into JSON-friendly values."""
    import numpy as np  # here, not at the top: importing io_utils stays light

    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, float) and obj != obj:  # NaN is not valid JSON
        return None
    return obj


def write_json(path: str | os.PathLike, obj: Any, *, parents: bool = True) -> None:
    """Atomically write ``obj`` as indented JSON (``parents``: see :func:`atomic_write_bytes`)."""
    atomic_write_text(path, json.dumps(to_jsonable(obj), indent=2, sort_keys=False) + "\n", parents=parents)


def read_json(path: str | os.PathLike) -> Any:
    """Read a JSON file; a damaged one raises :class:`~engine.errors.CorruptFileError` naming it."""
    with open(path, "r", encoding="utf-8") as fh:
        try:
            return json.load(fh)
        except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError, absurd nesting
            from engine.errors import CorruptFileError

            where = f" (line {exc.lineno} column {exc.colno})" if isinstance(exc, json.JSONDecodeError) else ""
            raise CorruptFileError(f"{display_path(path)} is damaged: it is not valid JSON{where}. Restore it "
                                   "from a backup, or delete the folder it belongs to and redo that step.") from None


def append_jsonl(path: str | os.PathLike, obj: Any) -> None:
    """Append one JSON line to ``path`` and flush it to disk."""
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(to_jsonable(obj)) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def read_jsonl(path: str | os.PathLike) -> list[Any]:
    """Read every complete JSON line of ``path`` (a torn last line is ignored)."""
    rows: list[Any] = []
    if not os.path.exists(path):
        return rows
    with open(path, "r", encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if not line:
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                break
    return rows


def load_config_file(path: str | os.PathLike) -> dict:
    """Load a JSON or YAML config file into a dict.

    YAML is read with ``safe_load``: a ``!!python/...`` tag, a syntax error, a file that is not UTF-8 or
    missing raise :class:`~engine.errors.ConfigError` naming the file (and the line).
    """
    from engine.errors import ConfigError

    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not a UTF-8 text file (byte {exc.start}); save it as UTF-8.") from exc
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config file ({exc.strerror or exc}).") from exc
    if str(path).endswith((".yaml", ".yml")):
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
            where = f", line {mark.line + 1}" if mark is not None else ""
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            tag = " (Python object tags such as !!python/... are never loaded)" if "python/" in str(exc) else ""
            raise ConfigError(f"{path}{where}: invalid YAML: {problem}{tag}.") from exc
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path}, line {exc.lineno}: invalid JSON: {exc.msg}.") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config file must hold a mapping of settings.")
    return data
