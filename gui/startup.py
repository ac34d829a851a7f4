"""First-launch ordering and its trace: work that may wait runs after the window's first paint.

:func:`after_first_paint` calls a function once the widget has been painted for the first time, so heavy
imports (torch) and the demo generation never delay the window. With ``HISTODESK_STARTUP_TRACE=1`` the
app prints ``painted <s>``, ``usable <s>`` and ``runtime <s>`` on stdout, in seconds since the process
started (with the CPU seconds it used) (tests/gui/test_first_launch.py reads them).
"""

from __future__ import annotations

import os
import sys
import time
from typing import Callable

from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QWidget

TRACE_ENV = "HISTODESK_STARTUP_TRACE"
_MODULE_LOADED = time.time()  # fallback origin where the process start time cannot be read


def _process_start() -> float:
    """When this process started (epoch seconds): from /proc on Linux, else when this module was imported."""
    try:
        with open("/proc/self/stat", encoding="ascii") as stat:
            ticks = int(stat.read().rsplit(")", 1)[1].split()[19])  # field 22: start time in clock ticks
        with open("/proc/uptime", encoding="ascii") as uptime:
            booted_ago = float(uptime.read().split()[0])
        return time.time() - booted_ago + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return _MODULE_LOADED


_STARTED = _process_start()


def process_age() -> float:
    """Seconds since this process started."""
    return time.time() - _STARTED


def tracing() -> bool:
    """True when ``HISTODESK_STARTUP_TRACE=1`` asks for the start-up timestamps."""
    return os.environ.get(TRACE_ENV) == "1"


def trace(event: str, extra: str = "") -> None:
    """Print ``<event> <seconds since start> cpu=<CPU seconds of the process>`` (and ``extra``) on stdout when
    tracing; the CPU time tells a slow start from a busy machine."""
    if tracing():
        line = f"{event} {process_age():.3f} cpu={time.process_time():.3f}"
        print(f"{line} {extra}".rstrip(), file=sys.stdout, flush=True)


class _FirstPaint(QObject):
    """Event filter that calls its functions (in the next event-loop turn) after the widget's first paint."""

    def __init__(self, widget: QWidget):
        super().__init__(widget)
        self.calls: list[Callable[[], None]] = []
        self.widget = widget
        widget.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt's name
        """On the first paint, schedule the functions and stop watching."""
        if watched is self.widget and event.type() == QEvent.Type.Paint:
            self.widget.removeEventFilter(self)
            QTimer.singleShot(0, self._run)
        return False

    def _run(self) -> None:
        calls, self.calls = self.calls, []
        for call in calls:
            call()
        self.deleteLater()


def after_first_paint(widget: QWidget, call: Callable[[], None], *, first: bool = False) -> None:
    """Call ``call()`` once ``widget`` has been painted for the first time (in registration order; ``first``
    puts it before the calls registered so far)."""
    watcher = widget.findChild(_FirstPaint, "first-paint")
    if watcher is None:
        watcher = _FirstPaint(widget)
        watcher.setObjectName("first-paint")
    watcher.calls.insert(0 if first else len(watcher.calls), call)


def trace_startup(window: QWidget) -> None:
    """Print ``painted`` after the window's first paint (with whether torch was imported yet), then ``usable``
    once the event loop answers again with the menus in place."""
    if not tracing():
        return

    def usable() -> None:
        menus = [a.text() for a in window.menuBar().actions()]  # type: ignore[attr-defined]
        trace("usable", f"menus={','.join(m.replace('&', '') for m in menus)}")

    def painted() -> None:
        trace("painted", f"torch={int('torch' in sys.modules)}")
        QTimer.singleShot(0, usable)

    after_first_paint(window, painted, first=True)
