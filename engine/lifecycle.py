"""One lifecycle for every job that writes a folder it owns::

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

:class:`FolderLifecycle` is that shape for any folder a job owns; a subclass
says where the status goes. :class:`RunLifecycle` (summary.json, train.log)
serves training and SSL pretraining (and each run of a study or a
label-efficiency study); :class:`engine.studies.runner.StudyLifecycle`
(results.json, no log of its own) serves the study folder itself.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
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


class FolderLifecycle:
    """Lock, log routing, status and failure handling of one job writing a folder it owns (a context manager).

    A subclass says where the status goes (:meth:`record_status`) and, with :attr:`log_name`, which file of the
    folder gets the job's engine records, notes and failure traces; without one, a failure's trace goes to
    ``errors.log`` (:func:`engine.failures.record_trace`, called by the CLI and the GUI).
    """

    #: The folder's log file (engine records, notes, failure traces); None: the folder has no log.
    log_name: str | None = None
    #: A cancel is recorded and swallowed (the job returns normally); False: recorded and raised again.
    swallow_cancel = True

    def __init__(self, folder: str | os.PathLike, progress: ProgressFn = null_progress, command: str = ""):
        self.folder = Path(folder)
        self.lock = RunLock(self.folder, command)
        self.t_start = time.time()
        self._progress = progress
        self._checked = 0.0
        self._records = None

    # --- what a subclass provides ----------------------------------------
    def record_status(self, status: str, **fields) -> None:
        """Write ``status`` ("cancelled", "failed" with ``error`` and ``failed``) where the folder keeps it."""
        raise NotImplementedError

    def log(self, message: str) -> None:
        """Write ``message`` to the folder's log (and show it); by default only shown."""
        self._progress(Progress(stage="log", message=message))

    def note_cancelled(self) -> None:
        """What a cancel leaves besides the "cancelled" status (a line in the log)."""

    def check_present(self) -> None:
        """Raise :class:`RunVanishedError` when the folder is gone (deleted or moved)."""
        if not self.folder.is_dir():
            raise RunVanishedError(f"The folder {self.folder} was deleted or moved while a job was writing it; "
                                   "the job stopped and did not recreate it.")

    # --- entering ---------------------------------------------------------
    def __enter__(self):
        self.check_present()
        note = self.lock.acquire()
        if self.log_name:  # engine records of this job: into the folder's log
            self._records = run_log(self.folder / self.log_name)
            self._records.__enter__()
        self.lock_note = note
        if note:
            try:
                self.log(note)
            except BaseException:
                self.__exit__(None, None, None)
                raise
        return self

    # --- during the job ----------------------------------------------------
    def progress(self, event: Progress) -> None:
        """The job's progress callback: forwards ``event`` and, about once a second, checks that the folder
        still exists (RunVanishedError stops the job) and refreshes the lock's heartbeat."""
        now_s = time.monotonic()
        if now_s - self._checked >= CHECK_EVERY_S:
            self._checked = now_s
            self.check_present()
            self.lock.heartbeat()
        self._progress(event)

    def elapsed(self) -> float:
        """Seconds since the lifecycle was created."""
        return time.time() - self.t_start

    # --- leaving ------------------------------------------------------------
    def __exit__(self, exc_type, exc, tb) -> bool:
        try:
            if exc is None or isinstance(exc, RunVanishedError):
                return False
            if not self.folder.is_dir():
                self.check_present()  # raises RunVanishedError, chained to exc
            if isinstance(exc, CancelledError):
                self._record(lambda: self.record_status("cancelled"))
                self._record(self.note_cancelled)
                return self.swallow_cancel
            if isinstance(exc, Exception):
                self._fail(exc)
            return False  # KeyboardInterrupt, SystemExit: the folder shows as interrupted
        finally:
            self.lock.release()
            if self._records is not None:
                self._records.__exit__(None, None, None)
                self._records = None

    def _fail(self, exc: Exception) -> None:
        message = describe_error(exc)
        self._record(lambda: self.record_status("failed", error=message, failed=now()))
        if self.log_name and self._record(lambda: self.log_only(f"FAILED: {message}\n{format_trace(exc)}")):
            mark_logged(exc, self.folder / self.log_name)

    def log_only(self, message: str) -> None:
        """Write ``message`` to the folder's log without showing it (the failure's trace)."""
        raise NotImplementedError

    @staticmethod
    def _record(write) -> bool:
        """Best effort: a failing disk must not hide the job's own error."""
        try:
            write()
            return True
        except Exception:  # noqa: BLE001 - best effort (see above): any failure is reported as False
            return False


class RunLifecycle(FolderLifecycle):
    """The lifecycle of a run folder: status in summary.json, log and failure trace in train.log."""

    log_name = "train.log"

    def __init__(self, run: Run, progress: ProgressFn = null_progress, command: str = "train"):
        super().__init__(run.path, progress, command)
        self.run = run

    def __enter__(self) -> "RunLifecycle":
        return super().__enter__()

    def check_present(self) -> None:
        """The run's own check (its message names the run folder)."""
        self.run.check_present()

    def log(self, message: str) -> None:
        """Write ``message`` to train.log and emit it as a log event."""
        self.run.log(message)
        self._progress(Progress(stage="log", message=message))

    def log_only(self, message: str) -> None:
        """Write ``message`` to train.log only."""
        self.run.log(message)

    def note_cancelled(self) -> None:
        """A line in train.log: the run can be resumed."""
        self.run.log("Cancelled before the run could finish; it can be resumed.")

    def record_status(self, status: str, **fields) -> None:
        """summary.json's status (a failure replaces the trace an old version kept there)."""
        self.run.update_summary(status=status, drop=("traceback",) if status == "failed" else (), **fields)

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
