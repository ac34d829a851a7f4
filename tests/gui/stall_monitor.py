"""A 10 ms QTimer that records the longest gap between its ticks: the GUI thread's worst stall."""

from __future__ import annotations

import time

from PySide6.QtCore import QTimer


class StallMonitor:
    """Start it before a job, stop it after; :attr:`worst_ms` is the longest the event loop did not tick."""

    def __init__(self, interval_ms: int = 10, where=None):
        self.gaps: list[float] = []
        self.where = where  # optional callable: what was going on (recorded with each gap over 50 ms)
        self.slow: list[tuple[float, object]] = []
        self._last = time.perf_counter()
        self._cpu = time.thread_time()
        self.timer = QTimer()
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self._tick)

    def _tick(self) -> None:
        now = time.perf_counter()
        self.gaps.append(now - self._last)
        cpu = time.thread_time()
        if self.where is not None and now - self._last > 0.05 and len(self.gaps) > 1:  # with the GUI thread's CPU ms
            self.slow.append((round((now - self._last) * 1000), round((cpu - self._cpu) * 1000), self.where()))
        self._last, self._cpu = now, cpu

    def start(self) -> "StallMonitor":
        """Start ticking."""
        self._last = time.perf_counter()
        self.timer.start()
        return self

    def pause(self) -> None:
        """Stop measuring while the test itself works in the GUI thread (a grab, a PNG write)."""
        self.timer.stop()

    def resume(self) -> None:
        """Measure again from now."""
        self._last, self._cpu = time.perf_counter(), time.thread_time()
        self.timer.start()

    def stop(self) -> float:
        """Stop ticking; returns the worst gap in ms (the first tick, before the loop ran, is ignored)."""
        self.timer.stop()
        return self.worst_ms

    @property
    def worst_ms(self) -> float:
        """The longest gap between two ticks, in milliseconds."""
        return max(self.gaps[1:], default=0.0) * 1000


#: Engine modules a first job imports (timm pulls in torch._dynamo and sympy: seconds of imports).
ENGINE_MODULES = ("engine.models", "engine.training.job", "engine.evaluation.evaluate", "engine.evaluation.external",
                  "engine.evaluation.compare", "engine.data.importers", "engine.studies.runner",
                  "engine.report.export", "engine.report.study", "engine.report.pdf", "engine.report.html",
                  "engine.report.gallery", "engine.report.collect")


def warm_engine_imports() -> None:
    """Import the engine modules a job would import on its first run.

    A first import in the worker thread holds the GIL for up to a few hundred ms at a time (module bodies,
    extension modules), which stalls the GUI thread once per process whatever the job does; the monitor
    measures the jobs themselves, so the tests import these before it starts.
    """
    import importlib

    for name in ENGINE_MODULES:
        importlib.import_module(name)
