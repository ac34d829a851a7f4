"""Failures as one line for people and a full trace for a log file.

The CLI, the GUI's job worker and the run lifecycle describe an exception the
same way: a :class:`~engine.errors.HistoDeskError` by its message, an
``OSError`` by what happened to which file (``disk full while writing
<file>``), anything else by its type and message. The trace goes to the
run's ``train.log`` when a run is known (the lifecycle marks the exception
with that path), else to ``<data_home>/logs/errors.log``.
"""

from __future__ import annotations

import datetime as _dt
import errno
import traceback
from pathlib import Path

from engine.errors import HistoDeskError
from engine.io_utils import display_path

#: Attribute the run lifecycle sets on an exception whose trace it wrote to the run's train.log.
LOG_ATTR = "histodesk_log"

_OS_ERRORS = {
    errno.ENOSPC: "disk full while writing {file}: free some space and try again",
    errno.EDQUOT: "disk quota exceeded while writing {file}: free some space and try again",
    errno.EACCES: "permission denied for {file}: choose a folder you can write to",
    errno.EPERM: "operation not permitted on {file}: check its permissions",
    errno.ENOENT: "{file} does not exist (moved or deleted?)",
    errno.EROFS: "{file} is on a read-only file system: choose another folder",
    errno.EISDIR: "{file} is a folder, not a file",
    errno.ENOTDIR: "{file}: a part of this path is not a folder",
    errno.EIO: "input/output error on {file}: the disk or network share may be failing",
}


def first_line(text: str, limit: int = 300) -> str:
    """The first non-blank line of ``text``, stripped and cut to ``limit`` characters ("" when blank)."""
    line = next((part.strip() for part in str(text).splitlines() if part.strip()), "")
    return line if len(line) <= limit else line[: limit - 3] + "..."


def describe_error(exc: BaseException) -> str:
    """A one-line description of ``exc`` that a user can act on.

    File names are shown escaped (a newline in a name is ``\\n``, undecodable bytes ``\\xff``), so the
    description stays one printable line whatever the names are.
    """
    if isinstance(exc, HistoDeskError):
        return display_path(str(exc))
    if isinstance(exc, OSError) and exc.errno in _OS_ERRORS:
        name = exc.filename if exc.filename is not None else "a file"
        return display_path(_OS_ERRORS[exc.errno].format(file=name))
    if isinstance(exc, OSError) and exc.strerror:
        return display_path(f"{exc.strerror}" + (f": {exc.filename}" if exc.filename is not None else ""))
    message = first_line(str(exc))
    return display_path(f"{type(exc).__name__}: {message}" if message else type(exc).__name__)


def format_trace(exc: BaseException) -> str:
    """The full traceback of ``exc`` as text."""
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))


def errors_log() -> Path:
    """``<data_home>/logs/errors.log``: traces of failures not tied to a run."""
    from engine.paths import data_home

    return data_home() / "logs" / "errors.log"


def record_trace(exc: BaseException) -> Path | None:
    """Where the trace of ``exc`` is: the run's log (already written) or errors.log (appended now).

    Returns None when no log could be written (a full or read-only disk); never raises.
    """
    known = getattr(exc, LOG_ATTR, None)
    if known:
        return Path(known)
    try:
        path = errors_log()
        path.parent.mkdir(parents=True, exist_ok=True)
        stamp = _dt.datetime.now().strftime("%Y-%m-%d %H:%M:%S")
        with open(path, "a", encoding="utf-8", errors="backslashreplace") as fh:
            fh.write(f"[{stamp}] {describe_error(exc)}\n{format_trace(exc)}\n")
        return path
    except Exception:  # noqa: BLE001 - reporting a failure must not fail
        return None


def mark_logged(exc: BaseException, log_path: str | Path) -> None:
    """Remember on ``exc`` that its trace is in ``log_path`` (so it is not logged twice)."""
    try:
        setattr(exc, LOG_ATTR, str(log_path))
    except AttributeError:  # pragma: no cover - exceptions with __slots__
        pass
