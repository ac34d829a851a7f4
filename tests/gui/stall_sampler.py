"""Samples the GUI thread's stack (and the workers') while a :class:`StallMonitor` sees the GUI thread stall:
what was running when the window froze. Used by the stall tests and scripts/walkthrough.py."""

from __future__ import annotations

import collections
import sys
import threading
import time
import traceback

from tests.gui.stall_monitor import StallMonitor


class StallSampler:
    """While a :class:`StallMonitor` runs, samples the GUI thread's stack whenever it has not ticked for 30 ms."""

    def __init__(self, monitor: StallMonitor, every_s: float = 0.005):
        self.monitor, self.every_s = monitor, every_s
        self.gui_id = threading.get_ident()
        self.counts: collections.Counter[str] = collections.Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="stall-sampler", daemon=True)

    def start(self) -> "StallSampler":
        """Start sampling (call from the GUI thread)."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop sampling."""
        self._stop.set()
        self._thread.join(1.0)

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            if self.monitor.timer.isActive() and time.perf_counter() - self.monitor._last > 0.03:
                frames = sys._current_frames()
                frame = frames.get(self.gui_id)
                if frame is not None:
                    self.counts[_describe(traceback.extract_stack(frame))] += 1
                for ident, other in frames.items():  # a worker holding the GIL stalls the GUI thread too
                    if ident not in (self.gui_id, threading.get_ident()):
                        self.counts["[worker] " + _describe(traceback.extract_stack(other))] += 1

    def report(self, n: int = 3) -> str:
        """The ``n`` stacks seen most often during stalls (each sample is about ``every_s``)."""
        return "; ".join(f"{c}x {s}" for s, c in self.counts.most_common(n)) or "no samples"


def _describe(stack: traceback.StackSummary) -> str:
    """The innermost frame and the innermost three of HistoDesk's own (gui/, engine/), innermost first."""
    own = [f for f in stack if "/gui/" in f.filename or "/engine/" in f.filename][-3:]
    frames = [stack[-1]] + [f for f in reversed(own) if f is not stack[-1]]
    return " < ".join(f"{f.name}@{f.filename.rsplit('/', 2)[-1]}:{f.lineno}" for f in frames)
