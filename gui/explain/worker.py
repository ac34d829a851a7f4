"""Background explanations: one model per service, computed in a one-thread pool.

An :class:`ExplainService` owns a :class:`~engine.explain.explainer.RunExplainer`
(loaded once, in the pool thread, the first time it is needed) and a
:class:`QThreadPool` with a single thread, so the model is never used by two
threads at once. :meth:`ExplainService.request` queues ``fn(explainer, cancel)``
and returns a request id; the result comes back through the ``finished`` or
``failed`` signal (queued to the GUI thread). A new request supersedes the
older ones: they are skipped if not started yet, cancelled if they check their
token (occlusion does), and their results are marked stale so views drop them.
No task touches a widget.

Closing a view never blocks the GUI thread: :meth:`ExplainService.shutdown`
cancels, drops the pending tasks and the loaded model, and hands a pool whose
task is still running to :func:`wait_for_retired_pools`, which only the
application's quit path calls.
"""

from __future__ import annotations

import itertools
import threading
import time
import traceback
from typing import Any, Callable

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from engine.errors import CancelledError, HistoDeskError
from engine.jobs import CancelToken


_retired_pools: list[QThreadPool] = []  # pools whose last task still runs after their service shut down


def _retire_pool(pool: QThreadPool) -> None:
    """Keep ``pool`` alive (without a parent) until its running task ends, without waiting for it."""
    _retired_pools[:] = [p for p in _retired_pools if p.activeThreadCount() > 0]
    if pool.activeThreadCount() > 0:
        pool.setParent(None)
        _retired_pools.append(pool)


def wait_for_retired_pools(timeout_ms: int = 10000) -> bool:
    """Block until the tasks still running in shut-down services end (call when the app quits)."""
    ok = True
    for pool in list(_retired_pools):
        if pool.waitForDone(max(0, int(timeout_ms))):
            _retired_pools.remove(pool)
        else:
            ok = False
    return ok


class _ExplainTask(QRunnable):
    """Runs one request in the pool thread and reports through the service's signals."""

    def __init__(self, service: "ExplainService", request_id: int, fn: Callable, token: CancelToken):
        super().__init__()
        self.service, self.request_id, self.fn, self.token = service, request_id, fn, token

    def run(self) -> None:
        """Skip if superseded; else load the model if needed, call ``fn`` and emit the outcome."""
        if self.token.cancelled:
            return
        started = time.perf_counter()
        try:
            result = self.fn(self.service.explainer(), self.token)
        except CancelledError:
            return
        except HistoDeskError as exc:
            self._emit(self.service.failed, self.request_id, str(exc))
            return
        except Exception as exc:  # noqa: BLE001 - nothing may escape the pool thread
            self._emit(self.service.failed, self.request_id, f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}")
            return
        if isinstance(result, dict):
            result.setdefault("seconds", time.perf_counter() - started)
        self._emit(self.service.finished, self.request_id, result)

    @staticmethod
    def _emit(signal, *args) -> None:
        try:
            signal.emit(*args)
        except RuntimeError:  # the service was deleted while we computed
            pass


class ExplainService(QObject):
    """Computes explanations for one run off the GUI thread (see the module docstring)."""

    finished = Signal(int, object)   # request id, result
    failed = Signal(int, str)        # request id, message

    def __init__(self, run_dir: str | None = None, parent: QObject | None = None, *, device: str = "auto"):
        super().__init__(parent)
        self.device = device
        self._run_dir = str(run_dir) if run_dir else None
        self._explainer = None
        self._loaded_for: str | None = None
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._latest = 0
        self._token: CancelToken | None = None
        self._closed = False
        self._pool: QThreadPool | None = None

    @property
    def run_dir(self) -> str | None:
        """The run whose model explains images."""
        return self._run_dir

    def set_run(self, run_dir: str | None) -> None:
        """Explain with another run's model (loaded by the next request)."""
        self._run_dir = str(run_dir) if run_dir else None

    def explainer(self):
        """The loaded RunExplainer for the current run (loads it; call from the pool thread)."""
        from engine.explain.explainer import RunExplainer

        with self._lock:
            run_dir = self._run_dir
            if self._closed:
                raise CancelledError("the explanation service was shut down")
            if run_dir is None:
                raise HistoDeskError("Choose a trained run (model) first.")
            explainer = self._explainer
            if explainer is None or self._loaded_for != run_dir:
                explainer = RunExplainer(run_dir, device=self.device)
                if self._closed:  # shut down while loading: do not keep the model
                    raise CancelledError("the explanation service was shut down")
                self._explainer, self._loaded_for = explainer, run_dir
            return explainer

    def model_ready(self) -> bool:
        """True when the current run's model is already loaded."""
        return self._explainer is not None and self._loaded_for == self._run_dir

    def request(self, fn: Callable[[Any, CancelToken], Any]) -> int:
        """Queue ``fn(explainer, cancel)``; earlier requests become stale. Returns the request id."""
        if self._token is not None:
            self._token.cancel()
        self._latest = next(self._ids)
        self._token = CancelToken()
        self._closed = False
        if self._pool is None:
            self._pool = QThreadPool(self)
            self._pool.setMaxThreadCount(1)
        self._pool.start(_ExplainTask(self, self._latest, fn, self._token))
        return self._latest

    def is_current(self, request_id: int) -> bool:
        """True when ``request_id`` is the latest request (older results are stale)."""
        return request_id == self._latest

    def is_busy(self) -> bool:
        """True while a request is queued or running."""
        return self._pool is not None and self._pool.activeThreadCount() > 0

    def shutdown(self, wait_ms: int = 0) -> bool:
        """Cancel and drop pending work and the loaded model; True when nothing runs any more.

        Returns at once by default (it is called on the GUI thread when a tab or dialog closes): a
        task still running finishes in the background, in a pool kept alive by
        :func:`wait_for_retired_pools`, and its result is dropped. Pass ``wait_ms`` > 0 to block.
        """
        self._closed = True
        if self._token is not None:
            self._token.cancel()
        self._explainer, self._loaded_for = None, None  # no lock: a model may be loading under it
        pool, self._pool = self._pool, None
        if pool is None:
            return True
        pool.clear()
        if wait_ms > 0:
            pool.waitForDone(int(wait_ms))
        idle = pool.activeThreadCount() == 0
        if not idle:
            _retire_pool(pool)
        return idle
