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


class MovingAverage:
    """An exponentially weighted mean: each new value counts ``alpha`` (weight 1), older ones fade away.

    With ``warmup`` the first value (which holds one-off costs: lazy initialisation, worker start) is replaced
    by the second instead of blended with it.
    """

    def __init__(self, alpha: float = 0.3, *, warmup: bool = False):
        self.alpha = alpha
        self.value: float | None = None
        self._replace_next = warmup

    def add(self, value: float, weight: float = 1.0) -> float:
        """Blend in ``value`` as ``weight`` observations (e.g. the mean of ``weight`` steps); the new mean."""
        if self.value is None:
            self.value = value
        elif self._replace_next:
            self.value, self._replace_next = value, False
        else:
            keep = (1.0 - self.alpha) ** max(weight, 0.0)
            self.value = keep * self.value + (1.0 - keep) * value
        return self.value


class EtaEstimator:
    """Estimates the remaining time of ``total`` steps of one stage from a moving average of recent steps.

    The seconds per step are an exponentially weighted mean over recent steps (:class:`MovingAverage`), so a
    change of pace shows within a few steps. The first interval (from the start to the first ``eta`` call)
    holds the stage's warm-up (worker start, first batch, lazy imports): it is used only until a second
    interval is measured, then dropped, so a slow start does not inflate the whole estimate.
    """

    def __init__(self, total: int | None, clock: Callable[[], float] = time.monotonic, *, start: int = 0,
                 alpha: float = 0.3):
        self.total = total
        self._clock = clock
        self._start = clock()
        self._pace = MovingAverage(alpha)
        self._last: tuple[float, int] = (self._start, start)
        self._warm = False  # True once a step after the first interval was measured

    def restart(self, done: int = 0) -> None:
        """Start measuring afresh from ``done`` steps now (a resumed run, a new stage)."""
        self._start = self._clock()
        self._pace = MovingAverage(self._pace.alpha)
        self._last, self._warm = (self._start, done), False

    def skip(self, done: int) -> None:
        """Leave the time since the last step out of the pace (another stage ran meanwhile, e.g. validation)."""
        self._last = (self._clock(), done)

    def seconds_per_step(self, done: int) -> float | None:
        """The moving average of the seconds per step after ``done`` steps (None before any step)."""
        now = self._clock()
        last_t, last_done = self._last
        if done > last_done:
            pace = (now - last_t) / (done - last_done)
            if self._pace.value is not None and not self._warm:
                self._pace.value, self._warm = pace, True  # drop the warm-up interval
            else:
                self._pace.add(pace, done - last_done)
            self._last = (now, done)
        return self._pace.value

    def eta(self, done: int) -> float | None:
        """Seconds left after ``done`` of ``total`` steps, or None if unknown."""
        if not self.total or done <= 0:
            return None
        pace = self.seconds_per_step(done)
        if pace is None:
            return None
        return max(0.0, pace * (self.total - done))

    def elapsed(self) -> float:
        """Seconds since the estimator was created (or restarted)."""
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
