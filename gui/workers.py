"""Run engine jobs in a QThread, one at a time, and report back through signals.

:class:`JobWorker` is the single wrapper for every engine job (superqt's
``new_worker_qthread`` pattern): it lives in its own ``QThread``, calls
``fn(*args, progress=..., cancel=..., **kwargs)``, and turns the outcome into
exactly one of ``finished``, ``failed`` or ``cancelled``. Exceptions never
escape the thread: ``failed`` carries the one line the CLI prints
(:func:`engine.failures.describe_error`) and, except for a HistoDeskError,
the trace for the error dialog's "Show Details". What the engine logs while
the job runs (:func:`engine.logs.job_scope`) arrives as ``"log"`` progress
events, the lines the run's ``train.log`` gets. Signals cross to the GUI thread as queued connections, so
no worker thread ever touches a widget. :class:`JobQueue` runs
:class:`Job` objects in order and keeps their state, log and metric history.
Short calls without progress (decode an image, one heatmap) use the other
pattern, :class:`gui.tasks.TaskRunner`.
"""

from __future__ import annotations

import itertools
import threading
import time
import traceback
from typing import Any, Callable

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

from engine.errors import CancelledError, HistoDeskError
from engine.failures import describe_error, format_trace, record_trace
from engine.jobs import CancelToken, Progress
from engine.logs import job_scope
from gui.errors import user_message
from gui.main_thread_gc import freeze_heap

#: Stages whose events are never coalesced (each one carries data the GUI keeps).
KEEP_STAGES = frozenset({"epoch", "log", "done", "resumed"})
#: Minimum seconds between two forwarded events of a throttled stage (~20/s).
THROTTLE_S = 0.05

QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"
TERMINAL_STATES = (DONE, FAILED, CANCELLED)


class JobWorker(QObject):
    """Runs one engine job callable in a worker thread and emits its outcome."""

    progress = Signal(object)   # engine.jobs.Progress
    finished = Signal(object)   # the job's return value
    failed = Signal(str, str)   # message, traceback ("" for HistoDeskError)
    cancelled = Signal()

    def __init__(self, fn: Callable[..., Any], *args: Any, throttle_s: float = THROTTLE_S, **kwargs: Any):
        super().__init__()
        self.fn, self.args, self.kwargs = fn, args, kwargs
        self.token = CancelToken()
        self.result: Any = None
        self._throttle_s = throttle_s
        self._lock = threading.Lock()
        self._last_emit = 0.0
        self._pending: Progress | None = None

    def _emit_progress(self, event: Progress) -> None:
        """Progress callback handed to the job; coalesces frequent events (thread-safe)."""
        with self._lock:
            if event.stage in KEEP_STAGES:
                pending, self._pending = self._pending, None
                to_send = [pending, event] if pending is not None else [event]
            else:
                now = time.monotonic()
                if now - self._last_emit < self._throttle_s:
                    self._pending = event  # superseded by newer events; flushed later
                    return
                self._last_emit, self._pending = now, None
                to_send = [event]
        for item in to_send:
            self.progress.emit(item)

    def _flush(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, None
        if pending is not None:
            self.progress.emit(pending)

    @Slot()
    def run(self) -> None:
        """Call the job; emit exactly one of finished, failed or cancelled."""
        try:
            with job_scope(self._emit_progress):  # what the engine logs for the job: its log, as train.log gets it
                result = self.fn(*self.args, progress=self._emit_progress, cancel=self.token, **self.kwargs)
        except CancelledError:
            self._flush()
            self.cancelled.emit()
        except HistoDeskError as exc:
            self._flush()
            self.failed.emit(user_message(exc), "")
        except BaseException as exc:  # noqa: BLE001 - nothing may escape the thread
            self._flush()
            record_trace(exc)  # errors.log, unless the run lifecycle already wrote it to the run's train.log
            self.failed.emit(describe_error(exc), format_trace(exc))  # the CLI's one line; the trace as details
        else:
            self._flush()
            self.result = result
            if self.token.cancelled:  # e.g. train() returns its run after a cancel
                self.cancelled.emit()
            else:
                self.finished.emit(result)


class Job:
    """One queued engine call and everything the GUI shows about it."""

    _ids = itertools.count(1)

    def __init__(self, title: str, fn: Callable[..., Any], args: tuple = (), kwargs: dict | None = None, *,
                 kind: str = "", on_finished: Callable[[Any], None] | None = None, parent: Job | None = None):
        self.id = next(self._ids)
        self.title, self.fn, self.args, self.kwargs = title, fn, tuple(args), dict(kwargs or {})
        self.kind = kind
        self.parent = parent  # the job this bookkeeping step was started for (the Jobs tab nests it there)
        self.on_finished = on_finished  # called in the GUI thread with the result when done
        self.state = QUEUED
        self.progress: Progress | None = None
        self.eta_s: float | None = None  # latest known estimate of the time left
        self.log: list[str] = []
        self.history: list[dict] = []
        self.result: Any = None
        self.error = ""
        self.traceback = ""
        self.worker: JobWorker | None = None
        self.token: CancelToken | None = None
        self.started_at: float | None = None
        self.ended_at: float | None = None

    @property
    def stage(self) -> str:
        """Stage of the latest progress event (or the state before any)."""
        return self.progress.stage if self.progress else self.state

    def record(self, event: Progress) -> None:
        """Keep ``event``: the latest progress, log lines and per-epoch metrics."""
        if event.stage == "log":
            self.log.append(event.message)
            return
        if event.stage == "resumed":  # a resumed run: its earlier epochs, so the curves go on from them
            self.history = [dict(row) for row in event.metrics.get("history", [])]
        if event.stage == "epoch":
            epoch = event.metrics.get("epoch")
            if epoch is not None:  # an epoch done again (after a resume) replaces its old row and those after it
                self.history = [row for row in self.history if (row.get("epoch") or 0) < epoch]
            self.history.append(dict(event.metrics))
        if event.eta_s is not None:
            self.eta_s = event.eta_s
        elif event.stage != "done" and (self.progress is None or event.stage != self.progress.stage):
            self.eta_s = None  # a new stage without its own estimate: never the last stage's (issue 13.2)
        self.progress = event

    def __repr__(self) -> str:
        return f"Job({self.id}, {self.title!r}, {self.state})"


class JobQueue(QObject):
    """Runs jobs one at a time, in the order they were added."""

    job_added = Signal(object)
    job_started = Signal(object)
    job_progress = Signal(object, object)     # job, Progress
    job_finished = Signal(object)             # done or cancelled (see job.state)
    job_failed = Signal(object, str, str)     # job, message, traceback

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.jobs: list[Job] = []
        self._pending: list[Job] = []
        self._current: Job | None = None
        self._thread: QThread | None = None
        self._retired: list[QThread] = []  # threads that did not stop in time; kept alive

    def submit(self, title: str, fn: Callable[..., Any], *args: Any, kind: str = "",
               on_finished: Callable[[Any], None] | None = None, **kwargs: Any) -> Job:
        """Create a :class:`Job` for ``fn(*args, **kwargs)`` and queue it."""
        return self.add(Job(title, fn, args, kwargs, kind=kind, on_finished=on_finished))

    def add(self, job: Job) -> Job:
        """Queue ``job``; it starts when every earlier job has ended."""
        self.jobs.append(job)
        self._pending.append(job)
        self.job_added.emit(job)
        self._start_next()
        return job

    def running(self) -> Job | None:
        """The job now running (not yet reported as ended), or None."""
        job = self._current
        return job if job is not None and job.state == RUNNING else None

    def queued(self) -> list[Job]:
        """Jobs waiting to start, in order."""
        return list(self._pending)

    def is_idle(self) -> bool:
        """True when nothing runs and nothing waits."""
        return self._current is None and not self._pending

    def cancel(self, job: Job) -> None:
        """Remove a queued job, or ask the running one to stop at its next check."""
        if job in self._pending:
            self._pending.remove(job)
            job.state = CANCELLED
            self.job_finished.emit(job)
        elif job is self._current and job.token is not None:
            job.token.cancel()

    def cancel_all_and_wait(self, timeout_ms: int = 30000) -> bool:
        """Cancel every job and block until the running one has stopped; False on timeout."""
        for job in list(self._pending):
            self.cancel(job)
        job, thread = self._current, self._thread
        if job is None or thread is None:
            return True
        job.token.cancel()
        stopped = thread.wait(max(0, int(timeout_ms)))
        if not stopped:
            self._retired.append(thread)
        return bool(stopped)

    # --- internals (GUI thread) --------------------------------------------
    def _start_next(self) -> None:
        if self._current is not None or not self._pending:
            return
        job = self._pending.pop(0)
        worker = JobWorker(job.fn, *job.args, **job.kwargs)
        thread = QThread()
        thread.setObjectName(f"histodesk-job-{job.id}")
        worker.moveToThread(thread)
        thread.started.connect(worker.run)
        worker.progress.connect(self._on_worker_progress)
        worker.finished.connect(self._on_worker_finished)
        worker.failed.connect(self._on_worker_failed)
        worker.cancelled.connect(self._on_worker_cancelled)
        for sig in (worker.finished, worker.failed, worker.cancelled):
            # Direct: quit from the worker thread itself, so wait() in the GUI thread cannot deadlock.
            sig.connect(thread.quit, Qt.ConnectionType.DirectConnection)
        thread.finished.connect(self._on_thread_finished)
        job.worker, job.token, job.state, job.started_at = worker, worker.token, RUNNING, time.monotonic()
        self._current, self._thread = job, thread
        freeze_heap()  # the job's garbage collections only walk what it creates (gui/main_thread_gc.py)
        self.job_started.emit(job)
        thread.start()

    @Slot(object)
    def _on_worker_progress(self, event: Progress) -> None:
        job = self._current
        if job is None:
            return
        job.record(event)
        self.job_progress.emit(job, event)

    def _end(self, state: str) -> Job | None:
        job = self._current
        if job is not None:
            job.state, job.ended_at = state, time.monotonic()
        return job

    @Slot(object)
    def _on_worker_finished(self, result: Any) -> None:
        job = self._end(DONE)
        if job is None:
            return
        job.result = result
        if job.on_finished is not None:
            try:
                job.on_finished(result)
            except Exception as exc:  # noqa: BLE001 - a follow-up must not break the queue
                trace = "" if isinstance(exc, HistoDeskError) else traceback.format_exc()
                job.state, job.error, job.traceback = FAILED, describe_error(exc), trace
                self.job_failed.emit(job, job.error, job.traceback)
                return
        self.job_finished.emit(job)

    @Slot(str, str)
    def _on_worker_failed(self, message: str, tb: str) -> None:
        job = self._end(FAILED)
        if job is not None:
            job.error, job.traceback = message, tb
            self.job_failed.emit(job, message, tb)

    @Slot()
    def _on_worker_cancelled(self) -> None:
        job = self._end(CANCELLED)
        if job is not None:
            job.result = job.worker.result if job.worker else None
            self.job_finished.emit(job)

    @Slot()
    def _on_thread_finished(self) -> None:
        if self._thread is not None:
            self._thread.wait()  # already ended; Python owns and frees it with the worker
        if self._current is not None:
            self._current.worker = None
        self._current, self._thread = None, None
        self._start_next()
