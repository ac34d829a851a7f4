"""Background explanations: one model per service, computed by a one-thread :class:`~gui.tasks.TaskRunner`.

An :class:`ExplainService` owns a :class:`~engine.explain.explainer.RunExplainer`
(loaded once, in the runner's thread, the first time it is needed) and a
runner with a single thread, so the model is never used by two threads at
once. :meth:`ExplainService.request` queues ``fn(explainer, cancel)`` and
returns a request id; the result comes back through the ``finished`` or
``failed`` signal (in the GUI thread; ``failed`` carries one line). A new
request supersedes the older ones: they are skipped if not started yet,
cancelled if they check their token (occlusion does), and their results are
dropped. No task touches a widget.

Closing a view never blocks the GUI thread: :meth:`ExplainService.shutdown`
cancels, drops the pending tasks and the loaded model, and leaves a task still
running to :func:`gui.tasks.wait_for_retired`, which only the application's
quit path calls.
"""

from __future__ import annotations

import itertools
import threading
import time
from typing import Any, Callable

from PySide6.QtCore import QObject, Signal

from engine.errors import CancelledError, HistoDeskError
from engine.jobs import CancelToken
from gui.tasks import TaskRunner


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
        self._runner = TaskRunner(self, threads=1, name="histodesk-explain")

    @property
    def run_dir(self) -> str | None:
        """The run whose model explains images."""
        return self._run_dir

    def set_run(self, run_dir: str | None) -> None:
        """Explain with another run's model (loaded by the next request)."""
        self._run_dir = str(run_dir) if run_dir else None

    def explainer(self):
        """The loaded RunExplainer for the current run (loads it; call from the runner's thread)."""
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
        request_id, token = next(self._ids), CancelToken()
        self._latest, self._token, self._closed = request_id, token, False
        self._runner.submit(self._compute, fn, token, token=token,
                            on_done=lambda result: self.finished.emit(request_id, result),
                            on_error=lambda message: self.failed.emit(request_id, message))
        return request_id

    def _compute(self, fn: Callable[[Any, CancelToken], Any], token: CancelToken) -> Any:
        """In the runner's thread: load the model if needed, call ``fn``, add the seconds it took."""
        started = time.perf_counter()
        result = fn(self.explainer(), token)
        if isinstance(result, dict):
            result.setdefault("seconds", time.perf_counter() - started)
        return result

    def is_current(self, request_id: int) -> bool:
        """True when ``request_id`` is the latest request (older results are stale)."""
        return request_id == self._latest

    def is_busy(self) -> bool:
        """True while a request is queued or running."""
        return self._runner.is_busy()

    def shutdown(self, wait_ms: int = 0) -> bool:
        """Cancel and drop pending work and the loaded model; True when nothing runs any more.

        Returns at once by default (it is called on the GUI thread when a tab or dialog closes): a
        task still running finishes in the background (:func:`gui.tasks.wait_for_retired`) and its
        result is dropped. Pass ``wait_ms`` > 0 to block.
        """
        self._closed = True
        if self._token is not None:
            self._token.cancel()
        self._explainer, self._loaded_for = None, None  # no lock: a model may be loading under it
        return self._runner.shutdown(wait_ms)
