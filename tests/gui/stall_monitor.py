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

    def stop(self) -> float:
        """Stop ticking; returns the worst gap in ms (the first tick, before the loop ran, is ignored)."""
        self.timer.stop()
        return self.worst_ms

    @property
    def worst_ms(self) -> float:
        """The longest gap between two ticks, in milliseconds."""
        return max(self.gaps[1:], default=0.0) * 1000
