"""Logging, configured once: where the records of engine modules go.

Every ``logging.getLogger(__name__)`` of an engine module (``engine.data.cache``,
``engine.models.weights_io``...) logs into the ``engine`` logger, whose one
router handler (installed on first use, level INFO) sends each record to the
*job* it belongs to:

* the job is found through a context variable, set by :func:`job_scope` (the
  CLI around its command, the GUI's job worker around the job) or by
  :func:`run_log` (the run lifecycle). A job running in another thread has
  its own context, so two jobs never mix their records; helper threads see
  the job when they run in a copy of its context
  (:func:`engine.data.cache.map_with_progress` does);
* while a run is being written (:class:`engine.lifecycle.RunLifecycle`), a
  record goes to that run's ``train.log``, in the line format of
  :meth:`engine.runs.Run.log` (``[HH:MM:SS] message``, ``WARNING:`` in front
  of a warning). Records made earlier in the job (the weights report of a
  model built before the run folder exists) wait in a backlog that the run's
  log receives first;
* with a ``progress`` (the GUI's job worker), a record is also sent to it as
  a ``"log"`` event, so the Jobs tab shows the lines ``train.log`` gets.

:func:`configure_logging` (called once by the CLI and the app) adds a
one-line console handler on stderr and routes Python warnings
(``logging.captureWarnings``) the same way. Lines that :meth:`Run.log` writes
itself carry :data:`RUN_LOG_ATTR`; the router and the console skip them (the
job's own progress events already show them).
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections import deque
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Callable, Iterator

from engine.io_utils import PATH_ERRORS
from engine.jobs import Progress, ProgressFn

#: The parent logger of every engine module.
ENGINE = "engine"
#: The logger :meth:`engine.runs.Run.log` writes its lines through.
RUN_LOGGER = "engine.run"
#: Loggers the router and the console listen to (``py.warnings``: Python warnings once captured).
ROUTED = (ENGINE, "py.warnings")
#: Attribute of a record that :meth:`Run.log` already wrote to the run's train.log (value: the run folder).
RUN_LOG_ATTR = "histodesk_run_log"
#: Lines kept for a run that does not exist yet (older ones are dropped).
BACKLOG_LINES = 200

_current: ContextVar["JobLog | None"] = ContextVar("histodesk_job_log", default=None)


def describe_record(record: logging.LogRecord) -> str:
    """A record's text as train.log holds it (without the time): ``WARNING: ...`` in front of a warning or
    error of an engine module (unless the message already starts so), the trace of an exception after it."""
    message = record.getMessage()
    if record.levelno >= logging.WARNING and not getattr(record, RUN_LOG_ATTR, None):
        label = record.levelname
        if not message.upper().startswith(label):
            message = f"{label}: {message}"
    if record.exc_info:
        message += "\n" + logging.Formatter().formatException(record.exc_info)
    return message


def format_line(record: logging.LogRecord) -> str:
    """The train.log line of ``record``: ``[HH:MM:SS] message`` (local time)."""
    return f"[{time.strftime('%H:%M:%S', time.localtime(record.created))}] {describe_record(record)}"


def run_record(message: str, run_path: str | os.PathLike) -> logging.LogRecord:
    """The record of a line :meth:`Run.log` writes to ``run_path``'s train.log (marked as written there)."""
    logger = logging.getLogger(RUN_LOGGER)
    return logger.makeRecord(RUN_LOGGER, logging.INFO, __file__, 0, message, (), None,
                             extra={RUN_LOG_ATTR: str(run_path)})


def dispatch(record: logging.LogRecord) -> None:
    """Hand a record made by :func:`run_record` to the logging handlers (tests, a user's own handlers)."""
    logger = logging.getLogger(record.name)
    if logger.isEnabledFor(record.levelno):
        logger.handle(record)


def _append(log_file: Path, text: str) -> None:
    """Append ``text`` to ``log_file`` unless its folder is gone (a deleted run is never recreated)."""
    if log_file.parent.is_dir():
        with open(log_file, "a", encoding="utf-8", errors=PATH_ERRORS) as fh:
            fh.write(text)


class JobLog:
    """Where one job's records go: the train.log of the run it writes now (a stack: a study's runs one after
    another), else a backlog the next run's log receives; and ``progress`` as ``"log"`` events."""

    def __init__(self, progress: ProgressFn | None = None):
        self.progress = progress
        self.pid = os.getpid()  # a forked DataLoader worker writes the file but sends no events
        self.sinks: list[Path] = []
        self.backlog: deque[str] = deque(maxlen=BACKLOG_LINES)

    def take(self, record: logging.LogRecord) -> None:
        """Write ``record`` where it belongs now (called by the router, under its lock)."""
        line = format_line(record)
        if self.sinks:
            _append(self.sinks[-1], line + "\n")
        else:
            self.backlog.append(line)
        if self.progress is not None and os.getpid() == self.pid:
            self.progress(Progress(stage="log", message=describe_record(record)))

    def push(self, log_file: Path) -> None:
        """Send records to ``log_file`` from now on, after the backlog."""
        lines, self.backlog = list(self.backlog), deque(maxlen=BACKLOG_LINES)
        if lines:
            try:
                _append(log_file, "".join(line + "\n" for line in lines))
            except OSError:
                pass  # a full disk: the run's own writes will say so
        self.sinks.append(log_file)

    def pop(self) -> None:
        """Stop sending records to the log given to the last :meth:`push`."""
        if self.sinks:
            self.sinks.pop()


class _Router(logging.Handler):
    """The one handler of the ``engine`` logger: each record to its job's :class:`JobLog`."""

    def emit(self, record: logging.LogRecord) -> None:
        job = _current.get()
        if job is None or getattr(record, RUN_LOG_ATTR, None):
            return
        try:
            job.take(record)
        except Exception:  # noqa: BLE001 - logging must never break the job
            self.handleError(record)

    def locked(self, change: Callable[..., None], *args) -> None:
        """Call ``change(*args)`` (a change of a :class:`JobLog`) while no record is being routed."""
        self.acquire()
        try:
            change(*args)
        finally:
            self.release()

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 - logging.Handler's name
        """Silent: a log line that cannot be written must not print a trace (the job goes on)."""


_ROUTER = _Router(logging.INFO)


def install() -> None:
    """Attach the router to the routed loggers and let INFO records through (idempotent)."""
    for name in ROUTED:
        logger = logging.getLogger(name)
        if _ROUTER not in logger.handlers:
            logger.addHandler(_ROUTER)
    engine = logging.getLogger(ENGINE)
    if engine.level == logging.NOTSET:
        engine.setLevel(logging.INFO)


@contextmanager
def job_scope(progress: ProgressFn | None = None) -> Iterator[JobLog]:
    """The engine records of the code run inside the block belong to one job (this thread's context); with
    ``progress`` they are also sent to it as ``"log"`` events. Inside another scope, that scope is used."""
    install()
    job = _current.get()
    if job is not None:
        yield job
        return
    job = JobLog(progress)
    token = _current.set(job)
    try:
        yield job
    finally:
        _current.reset(token)


@contextmanager
def run_log(log_file: str | os.PathLike) -> Iterator[JobLog]:
    """While the block runs, this job's engine records go to ``log_file`` (a run's train.log), the records of
    the job so far first."""
    with job_scope() as job:
        _ROUTER.locked(job.push, Path(log_file))
        try:
            yield job
        finally:
            _ROUTER.locked(job.pop)


class ConsoleHandler(logging.StreamHandler):
    """One line per record on stderr (``sys.stderr`` as it is when the record comes, unless a stream is
    given); lines :meth:`Run.log` wrote are skipped (the CLI's progress prints them)."""

    def __init__(self, stream=None):
        super().__init__(stream)
        self._fixed = stream  # StreamHandler set sys.stderr: None means "whatever sys.stderr is then"

    @property
    def stream(self):
        """The stream written to: the one given, else ``sys.stderr`` now (pytest and apps replace it)."""
        return self._fixed if self._fixed is not None else sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        self._fixed = value

    def filter(self, record: logging.LogRecord) -> bool:
        """False for a line :meth:`Run.log` wrote; else the handler's own filters decide."""
        return not getattr(record, RUN_LOG_ATTR, None) and super().filter(record)

    def format(self, record: logging.LogRecord) -> str:
        """The first line of the record: the message of an INFO record, ``WARNING: ...`` of a warning."""
        text = record.getMessage() if record.levelno < logging.WARNING else describe_record(record)
        return next((line for line in text.splitlines() if line.strip()), "")


def configure_console(level: int = logging.INFO, stream=None) -> ConsoleHandler:
    """The console handler of the routed loggers at ``level``, printing to ``stream`` (None: ``sys.stderr`` as
    it is when a record comes). Added once: a second call changes the level and the stream. Returns it."""
    install()
    handler = next((h for h in logging.getLogger(ENGINE).handlers if isinstance(h, ConsoleHandler)), None)
    if handler is None:
        handler = ConsoleHandler(stream)
        for name in ROUTED:
            logging.getLogger(name).addHandler(handler)
    handler.stream = stream
    handler.setLevel(level)
    return handler


def configure_logging(console_level: int = logging.INFO, stream=None) -> ConsoleHandler:
    """Configure logging for the CLI or the app (idempotent): the router, Python warnings routed through
    logging, and the console handler at ``console_level``."""
    logging.captureWarnings(True)
    return configure_console(console_level, stream)
