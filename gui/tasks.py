"""Short background tasks (decode an image, compute one heatmap): the GUI's one pattern for them.

Long engine calls with progress and Cancel are *jobs* (:mod:`gui.workers`, the Jobs tab); everything
else that must not run on the GUI thread goes through a :class:`TaskRunner`:

    runner = TaskRunner(self, threads=1)
    task = runner.submit(load_qimage, path, 0, 256, on_done=self._show, on_error=self._say)
    task.cancel()        # a stale request: skipped if not started, its result dropped if it was

``fn(*args)`` runs in the runner's :class:`QThreadPool`; it must not touch a widget. ``on_done(result)``
or ``on_error(message)`` is then called in the GUI thread, at most once, never for a cancelled task.
``message`` is one line (:func:`engine.failures.describe_error`); the trace of an unexpected error
goes to errors.log. :meth:`TaskRunner.shutdown` never blocks by default: a task still running ends in
a pool kept alive by :func:`wait_for_retired`, which only the application's quit path calls.
"""

from __future__ import annotations

import itertools
from typing import Any, Callable

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal, Slot

from engine.errors import CancelledError, HistoDeskError
from engine.failures import describe_error, record_trace
from engine.jobs import CancelToken
from gui.errors import user_message

_retired: list[QThreadPool] = []  # pools of shut-down runners whose last task still runs


def _retire(pool: QThreadPool) -> None:
    """Keep ``pool`` alive (without a parent) until its running task ends, without waiting for it."""
    _retired[:] = [p for p in _retired if p.activeThreadCount() > 0]
    if pool.activeThreadCount() > 0:
        pool.setParent(None)
        _retired.append(pool)


def wait_for_retired(timeout_ms: int = 10000) -> bool:
    """Block until the tasks still running in shut-down runners end (call when the app quits); False on timeout."""
    ok = True
    for pool in list(_retired):
        if pool.waitForDone(max(0, int(timeout_ms))):
            _retired.remove(pool)
        else:
            ok = False
    return ok


class Task:
    """Handle of one submitted call: its id and cancel token."""

    def __init__(self, task_id: int, token: CancelToken):
        self.id, self.token = task_id, token

    def cancel(self) -> None:
        """Skip the call if it has not started; drop its outcome if it has."""
        self.token.cancel()

    @property
    def cancelled(self) -> bool:
        """True once :meth:`cancel` was called."""
        return self.token.cancelled


class _Signals(QObject):
    """Carries outcomes from pool threads to the runner, queued to the GUI thread."""

    ended = Signal(int, str, object)  # task id, "done" | "failed" | "dropped", result or message


class _Runnable(QRunnable):
    """Runs one task in a pool thread; touches no widget."""

    def __init__(self, task: Task, fn: Callable[..., Any], args: tuple, signals: _Signals):
        super().__init__()
        self.task, self.fn, self.args, self.signals = task, fn, args, signals

    def run(self) -> None:
        """Call ``fn`` unless cancelled and emit its outcome (errors as one line)."""
        if self.task.cancelled:
            self._emit("dropped", None)
            return
        try:
            result = self.fn(*self.args)
        except CancelledError:
            self._emit("dropped", None)
        except HistoDeskError as exc:
            self._emit("failed", user_message(exc))
        except Exception as exc:  # noqa: BLE001 - nothing may escape the pool thread
            record_trace(exc)
            self._emit("failed", describe_error(exc))
        else:
            self._emit("done", result)

    def _emit(self, outcome: str, payload: Any) -> None:
        try:
            self.signals.ended.emit(self.task.id, outcome, payload)
        except RuntimeError:  # the runner was deleted while we computed
            pass


class TaskRunner(QObject):
    """Runs short calls off the GUI thread in ``threads`` pool threads (see the module docstring)."""

    def __init__(self, parent: QObject | None = None, *, threads: int = 1, name: str = "histodesk-task"):
        super().__init__(parent)
        self._threads, self._name = max(1, int(threads)), name
        self._pool: QThreadPool | None = None
        self._ids = itertools.count(1)
        self._callbacks: dict[int, tuple[Task, Callable | None, Callable | None]] = {}
        self._signals = _Signals(self)
        self._signals.ended.connect(self._on_ended)

    @property
    def threads(self) -> int:
        """How many tasks may run at once."""
        return self._threads

    def submit(self, fn: Callable[..., Any], *args: Any, on_done: Callable[[Any], None] | None = None,
               on_error: Callable[[str], None] | None = None, token: CancelToken | None = None) -> Task:
        """Queue ``fn(*args)``; ``token`` lets ``fn`` see a cancel (pass the one it checks). Returns its handle."""
        task = Task(next(self._ids), token or CancelToken())
        self._callbacks[task.id] = (task, on_done, on_error)
        if self._pool is None:
            self._pool = QThreadPool(self)
            self._pool.setMaxThreadCount(self._threads)
            self._pool.setObjectName(self._name)
        self._pool.start(_Runnable(task, fn, args, self._signals))
        return task

    def pending(self) -> int:
        """Tasks submitted whose outcome has not been delivered (or dropped) yet."""
        return len(self._callbacks)

    def is_busy(self) -> bool:
        """True while a task runs in this runner's pool."""
        return self._pool is not None and self._pool.activeThreadCount() > 0

    def clear(self) -> None:
        """Cancel every task not delivered yet (queued ones never start)."""
        for task, _done, _error in self._callbacks.values():
            task.cancel()
        self._callbacks.clear()
        if self._pool is not None:
            self._pool.clear()

    def shutdown(self, wait_ms: int = 0) -> bool:
        """Cancel everything; True when nothing runs any more.

        Returns at once by default: a running task ends in the background (in a pool kept alive for
        :func:`wait_for_retired`) and its outcome is dropped. ``wait_ms`` > 0 waits that long first.
        """
        self.clear()
        pool, self._pool = self._pool, None
        if pool is None:
            return True
        if wait_ms > 0:
            pool.waitForDone(int(wait_ms))
        idle = pool.activeThreadCount() == 0
        if not idle:
            _retire(pool)
        return idle

    @Slot(int, str, object)
    def _on_ended(self, task_id: int, outcome: str, payload: Any) -> None:
        task, on_done, on_error = self._callbacks.pop(task_id, (None, None, None))
        if task is None or task.cancelled:
            return  # stale: cancelled, cleared or shut down
        callback = on_done if outcome == "done" else on_error if outcome == "failed" else None
        if callback is not None:
            callback(payload)
