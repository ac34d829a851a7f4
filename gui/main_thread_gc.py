"""Python's cyclic garbage collector runs on the GUI thread only.

CPython collects in whichever thread happens to allocate when a threshold is
crossed. In a Qt app that can be a job's worker thread, which then destroys
the Python wrappers of widgets the GUI thread owns: the worker takes Qt's
object mutex and waits for the GIL while the GUI thread, deleting widgets of
its own, holds the GIL and waits for that mutex -- a deadlock (seen with a
training job running while a window closed). :class:`MainThreadCollector`
turns automatic collection off and runs the same generational collections
from a timer on the GUI thread (the pattern calibre and other PyQt apps use),
so a widget is only ever destroyed where it lives. Reference counting, which
frees most objects, is unaffected.

Full (generation 2) collections walk every object; with torch and friends
loaded that is about a million and 0.3-0.5 s. CPython spaces them out with a
long-lived-objects heuristic that Python code cannot read, so here they run at
most every :data:`FULL_EVERY_S` seconds, and a full collection that took
longer than :data:`SLOW_FULL_S` freezes the survivors (:func:`gc.freeze`: the
import-time heap), so later ones only walk what was created since. For the
same reason :func:`freeze_heap` freezes what is alive when a job starts
(:class:`gui.workers.JobQueue` calls it): the collections during the job, on
this thread, only walk what the job creates, never the heap that earlier jobs'
imports grew. The price: a cycle among frozen objects that becomes garbage
later is not freed (freezing is never undone, so one freeze never undoes
another).
"""

from __future__ import annotations

import gc
import time

from PySide6.QtCore import QObject, QTimer

INTERVAL_MS = 200
FULL_EVERY_S = 5.0
SLOW_FULL_S = 0.05


class MainThreadCollector(QObject):
    """Disables automatic ``gc`` and collects, generation by generation, from a GUI-thread timer."""

    def __init__(self, parent: QObject | None = None, interval_ms: int = INTERVAL_MS):
        super().__init__(parent)
        self.thresholds = gc.get_threshold()
        self.collections = [0, 0, 0]  # per generation, for tests and diagnostics
        self._last_full = time.monotonic()
        gc.disable()
        self.timer = QTimer(self)
        self.timer.timeout.connect(self.check)
        self.timer.start(interval_ms)

    def check(self) -> None:
        """Collect the oldest generation whose count passed its threshold (as CPython would)."""
        counts = gc.get_count()
        for generation in (2, 1, 0):
            if counts[generation] <= self.thresholds[generation]:
                continue
            if generation == 2 and time.monotonic() - self._last_full < FULL_EVERY_S:
                continue
            start = time.monotonic()
            gc.collect(generation)
            self.collections[generation] += 1
            if generation == 2:
                self._last_full = time.monotonic()
                if self._last_full - start > SLOW_FULL_S:
                    gc.freeze()
            return

    def stop(self) -> None:
        """Give collection back to CPython (automatic, any thread)."""
        self.timer.stop()
        gc.enable()


def freeze_heap() -> None:
    """Freeze every object alive now (O(1); see the module docstring).

    No collection first: right after a job's imports the young generations hold up to a million objects
    (0.5 s to walk); frozen, no collection ever walks them.
    """
    gc.freeze()


_collector: MainThreadCollector | None = None


def install(app: QObject) -> MainThreadCollector:
    """Install the collector once for ``app`` (the QApplication); returns it."""
    global _collector
    if _collector is None:
        _collector = MainThreadCollector(app)
    return _collector
