"""Keep Python's full garbage collections short while a job runs, so the GUI thread never waits on one.

A full (generation 2) collection walks every tracked object. With torch,
timm, scikit-learn, matplotlib and Qt loaded that is about a million objects
and 0.3-0.5 s, during which the collecting thread (a worker or the GUI thread)
holds the GIL: the event loop stalls. A job that allocates many long-lived
objects (a font parsed for the PDF, a catalog, metrics) triggers such
collections. :func:`calm_gc` wraps a job callable: while it runs, the objects
that existed when it started are frozen (:func:`gc.freeze`), so collections
only walk what the job created; when the last wrapped job ends they are
unfrozen, so nothing is kept alive for longer than a job.
"""

from __future__ import annotations

import functools
import gc
import threading
from typing import Any, Callable

_lock = threading.Lock()
_active = 0


def _enter() -> None:
    global _active
    with _lock:
        if _active == 0:
            gc.freeze()
        _active += 1


def _leave() -> None:
    global _active
    with _lock:
        _active -= 1
        if _active == 0:
            gc.unfreeze()


def calm_gc(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` (a job callable) run with the heap that existed before it frozen; see the module docstring."""

    @functools.wraps(fn)
    def job(*args: Any, **kwargs: Any) -> Any:
        _enter()
        try:
            return fn(*args, **kwargs)
        finally:
            _leave()

    return job


def active_jobs() -> int:
    """How many wrapped jobs are running now (the heap is frozen while this is above 0)."""
    return _active
