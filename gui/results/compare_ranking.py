"""Which run is best for a figure, whether its interval overlaps another run's, and the runs' warnings grouped
(pure functions, no Qt).

The best value is chosen by its point estimate; when its interval overlaps the
interval of another run, the ranking may be chance and the compare view says so.
"""

from __future__ import annotations

from collections.abc import Sequence

Interval = Sequence[float] | None


def best_indices(values: Sequence[float | None], lower_is_better: bool = False) -> list[int]:
    """Indices of the best value (ties included); ``[]`` with fewer than two known values or when all are equal."""
    known = [v for v in values if v is not None]
    if len(known) < 2 or len(set(known)) == 1:
        return []
    best = min(known) if lower_is_better else max(known)
    return [i for i, v in enumerate(values) if v == best]


def intervals_overlap(a: Interval, b: Interval) -> bool:
    """Whether intervals ``[lo, hi]`` ``a`` and ``b`` share a point (False when either is missing)."""
    if not a or not b or len(a) < 2 or len(b) < 2:
        return False
    return a[0] <= b[1] and b[0] <= a[1]


def overlapping(best: Sequence[int], intervals: Sequence[Interval], values: Sequence[float | None]) -> list[int]:
    """Indices of the other runs (with a value) whose interval overlaps the interval of a best run."""
    return [j for j, ci in enumerate(intervals)
            if j not in best and values[j] is not None and any(intervals_overlap(intervals[i], ci) for i in best)]


def best_tip(label: str, run_ids: Sequence[str], best: Sequence[int], overlaps: Sequence[int],
             has_interval: bool) -> str:
    """Hover text of a best cell: best by point estimate, and whether the intervals tell the runs apart."""
    text = f"Best {label} by point estimate."
    if not has_interval:
        return text + " No interval is computed for this figure: the difference may be chance."
    if overlaps:
        names = ", ".join(run_ids[j] for j in overlaps)
        return (text + f" ≈ Its 95% interval overlaps that of {names}: the difference may be chance (see the paired "
                "test below).")
    return text + " Its 95% interval overlaps no other run's."


def grouped_warnings(per_run: Sequence[tuple[str, Sequence[str]]]) -> list[str]:
    """Each distinct warning once, naming its runs: ``"<warning> (all 3 runs)"`` or ``"... (runs: a, b)"``."""
    runs_of: dict[str, list[str]] = {}
    for run_id, warnings in per_run:
        for warning in warnings:
            runs_of.setdefault(str(warning), []).append(run_id)
    total = len(per_run)
    return [f"{w} ({f'all {total} runs' if len(ids) == total and total > 1 else 'runs: ' + ', '.join(ids)})"
            for w, ids in runs_of.items()]
