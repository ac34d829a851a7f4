"""One lifecycle for every job that writes a run folder (training, SSL pretraining)::

    with RunLifecycle(run, progress, command="train") as life:
        life.mark("preparing", started=now())
        ...                                 # pass life.progress to the job's steps
        life.mark("running", classes=...)
        ...
        life.finish("completed", epochs_run=...)
    return run

Entering takes the run's lock (:mod:`engine.run_lock`): a second process
gets :class:`~engine.errors.RunLockedError` naming the owner; the stale lock
of a dead process is taken over with a line in ``train.log``. Inside the
block, what engine modules log for this job (a damaged cache entry, the
report of loaded weights) goes to ``train.log`` too, after what they logged
earlier in the job (:func:`engine.logs.run_log`). Leaving the block with

* no exception: nothing more (:meth:`finish` wrote the final status and
  cleared the ``error`` of an earlier failed attempt);
* :class:`~engine.errors.CancelledError`: status "cancelled", swallowed
  (the job returns its run, which stays resumable);
* any other exception: status "failed" with a one-line ``error`` in
  ``summary.json`` and the trace in ``train.log``; the exception goes on to
  the CLI / GUI, which show the same one line;
* a run folder deleted meanwhile: :class:`~engine.errors.RunVanishedError`,
  and nothing is written (the folder is not recreated).

The lock is released in every case; a run whose process died without
leaving the block (kill -9, power cut) keeps "running" in its summary but
no live lock, which :func:`engine.runs.effective_status` shows as
"interrupted".
"""

from __future__ import annotations

import os
import time
from typing import Callable

from engine.errors import CancelledError, RunVanishedError
from engine.failures import describe_error, format_trace, mark_logged
from engine.jobs import Progress, ProgressFn, null_progress
from engine.logs import run_log
from engine.run_lock import RunLock
from engine.runs import Run

#: summary.json keys left by a failed attempt, removed when a later attempt ends well.
STALE_FAILURE_KEYS = ("error", "traceback", "failed")
#: Seconds between two checks (folder still there, lock heartbeat) made from the progress callback.
CHECK_EVERY_S = 1.0


def now() -> str:
    """The local time as written in summary.json."""
    return time.strftime("%Y-%m-%d %H:%M:%S")


def mark_status(run: Run, status: str, **fields) -> None:
    """Record an intermediate status ("preparing", "running") of ``run`` with this process's pid."""
    run.update_summary(status=status, pid=os.getpid(), **fields)


class RunLifecycle:
    """Lock, status, log and failure handling of one job writing ``run`` (a context manager)."""

    def __init__(self, run: Run, progress: ProgressFn = null_progress, command: str = "train"):
        self.run = run
        self.lock = RunLock(run.path, command)
        self.t_start = time.time()
        self._progress = progress
        self._checked = 0.0

    # --- entering ---------------------------------------------------------
    def __enter__(self) -> "RunLifecycle":
        self.run.check_present()
        note = self.lock.acquire()
        self._records = run_log(self.run.file("train.log"))  # engine warnings of this job: into train.log
        self._records.__enter__()
        if note:
            try:
                self.log(note)
            except BaseException:
                self.__exit__(None, None, None)
                raise
        return self

    # --- during the job ----------------------------------------------------
    def progress(self, event: Progress) -> None:
        """The job's progress callback: forwards ``event`` and, about once a second, checks that the run
        folder still exists (RunVanishedError stops the job) and refreshes the lock's heartbeat."""
        now_s = time.monotonic()
        if now_s - self._checked >= CHECK_EVERY_S:
            self._checked = now_s
            self.run.check_present()
            self.lock.heartbeat()
        self._progress(event)

    def log(self, message: str) -> None:
        """Write ``message`` to train.log and emit it as a log event."""
        self.run.log(message)
        self._progress(Progress(stage="log", message=message))

    def mark(self, status: str, **fields) -> None:
        """Record an intermediate status ("preparing", "running"); see :func:`mark_status`."""
        mark_status(self.run, status, **fields)

    def fit(self, trainer, resume: bool, cancelled_note: Callable[[], str]) -> str:
        """``trainer.fit(resume=...)`` to its end ("completed") or to a cancel ("cancelled", logged with
        ``cancelled_note()``; the run keeps its checkpoint and weights and can be resumed)."""
        try:
            trainer.fit(resume=resume)
        except CancelledError:
            trainer.log(cancelled_note())
            return "cancelled"
        return "completed"

    def finish(self, status: str, **fields) -> dict:
        """Record the final status ("completed", "cancelled") and clear an earlier attempt's error."""
        summary = self.run.update_summary(status=status, finished=now(), drop=STALE_FAILURE_KEYS, **fields)
        self.log(f"Run {status}: {self.run.path}")
        return summary

    def elapsed(self) -> float:
        """Seconds since the lifecycle was created."""
        return time.time() - self.t_start

    # --- leaving ------------------------------------------------------------
    def __exit__(self, exc_type, exc, tb) -> bool:
        try:
            if exc is None or isinstance(exc, RunVanishedError):
                return False
            if not self.run.path.is_dir():
                self.run.check_present()  # raises RunVanishedError, chained to exc
            if isinstance(exc, CancelledError):
                self._record(lambda: self.run.update_summary(status="cancelled"))
                self._record(lambda: self.run.log("Cancelled before the run could finish; it can be resumed."))
                return True
            if isinstance(exc, Exception):
                self._fail(exc)
            return False  # KeyboardInterrupt, SystemExit: the run shows as interrupted
        finally:
            self.lock.release()
            self._records.__exit__(None, None, None)

    def _fail(self, exc: Exception) -> None:
        message = describe_error(exc)
        self._record(lambda: self.run.update_summary(status="failed", error=message, failed=now(),
                                                     drop=("traceback",)))
        if self._record(lambda: self.run.log(f"FAILED: {message}\n{format_trace(exc)}")):
            mark_logged(exc, self.run.file("train.log"))

    @staticmethod
    def _record(write) -> bool:
        """Best effort: a failing disk must not hide the job's own error."""
        try:
            write()
            return True
        except Exception:  # noqa: BLE001
            return False
