"""The job protocol shared by the CLI, the GUI workers and cluster scripts.

A job is a plain callable ``job(config, *, progress=..., cancel=...)``.
``progress`` receives :class:`Progress` events; ``cancel`` is a
:class:`CancelToken` the job checks between steps (ilastik's
CancellationToken). Nothing here knows about Qt.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from engine.errors import CancelledError


@dataclass
class Progress:
    """One progress event: where a job is and what it measured so far."""

    stage: str
    step: int = 0
    total: int | None = None
    message: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)
    eta_s: float | None = None

    @property
    def fraction(self) -> float | None:
        """Completed fraction of the stage, or None when the total is unknown."""
        if not self.total:
            return None
        return min(1.0, self.step / self.total)


ProgressFn = Callable[[Progress], None]


def null_progress(_event: Progress) -> None:
    """A progress callback that ignores every event."""


class CancelToken:
    """A thread-safe flag a job polls; ``cancel()`` asks it to stop soon."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        """Ask the job to stop at its next check."""
        self._event.set()

    @property
    def cancelled(self) -> bool:
        """True once :meth:`cancel` was called."""
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        """Raise :class:`CancelledError` if cancellation was requested."""
        if self._event.is_set():
            raise CancelledError("The job was cancelled.")


class EtaEstimator:
    """Estimates the remaining time of ``total`` steps from the pace so far."""

    def __init__(self, total: int | None, clock: Callable[[], float] = time.monotonic):
        self.total = total
        self._clock = clock
        self._start = clock()

    def eta(self, done: int) -> float | None:
        """Seconds left after ``done`` of ``total`` steps, or None if unknown."""
        if not self.total or done <= 0:
            return None
        elapsed = self._clock() - self._start
        return max(0.0, elapsed / done * (self.total - done))

    def elapsed(self) -> float:
        """Seconds since the estimator was created."""
        return self._clock() - self._start


def format_duration(seconds: float | None) -> str:
    """Human-readable duration such as ``1h02m``, ``3m05s`` or ``12s``."""
    if seconds is None:
        return "--"
    seconds = int(round(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    if h:
        return f"{h}h{m:02d}m"
    if m:
        return f"{m}m{s:02d}s"
    return f"{s}s"
