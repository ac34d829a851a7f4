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
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)

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
            if run_dir is None:
                raise HistoDeskError("Choose a trained run (model) first.")
            if self._explainer is None or self._loaded_for != run_dir:
                self._explainer = RunExplainer(run_dir, device=self.device)
                self._loaded_for = run_dir
            return self._explainer

    def model_ready(self) -> bool:
        """True when the current run's model is already loaded."""
        return self._explainer is not None and self._loaded_for == self._run_dir

    def request(self, fn: Callable[[Any, CancelToken], Any]) -> int:
        """Queue ``fn(explainer, cancel)``; earlier requests become stale. Returns the request id."""
        if self._token is not None:
            self._token.cancel()
        self._latest = next(self._ids)
        self._token = CancelToken()
        self._pool.start(_ExplainTask(self, self._latest, fn, self._token))
        return self._latest

    def is_current(self, request_id: int) -> bool:
        """True when ``request_id`` is the latest request (older results are stale)."""
        return request_id == self._latest

    def is_busy(self) -> bool:
        """True while a request is queued or running."""
        return self._pool.activeThreadCount() > 0

    def shutdown(self, wait_ms: int = 10000) -> bool:
        """Cancel pending work and wait for the running task; False on timeout."""
        if self._token is not None:
            self._token.cancel()
        self._pool.clear()
        return self._pool.waitForDone(wait_ms)
