"""Interval bands for ROC and precision-recall curves by a patient-level bootstrap of the curve.

Each replicate resamples patients (an image without a patient id is its own
group) with the index generator of :mod:`engine.evaluation.bootstrap`, so the
bands and the figures' intervals come from the same kind of resampling. A
replicate's curve is read on a fixed grid and the band is the percentile
interval of the replicates at each grid point:

* ROC: *vertical averaging* (Fawcett, "An introduction to ROC analysis",
  Pattern Recognition Letters 2006, section 8.1): the TPR at each of 101
  fixed FPR values, linearly interpolated along the replicate's curve;
* PR: the interpolated precision (the highest precision at a recall >= r)
  at 101 fixed recall values.

A replicate that draws a single class has no ROC curve (no positive: no PR
curve) and is dropped and counted. Everything is vectorised over a chunk of
replicates: one cumulative sum per chunk, no Python loop over replicates.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.evaluation.bootstrap import CHUNK_ELEMENTS, BootstrapSpec, group_codes, group_counts
from engine.jobs import CancelToken

GRID = np.linspace(0.0, 1.0, 101)


def _rowwise_interp(grid: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``np.interp(grid, x[r], y[r])`` for every row ``r`` of ``x`` (values in [0, 1], non-decreasing)."""
    r = x.shape[0]
    offset = (np.arange(r) * 2.0)[:, None]
    flat = np.interp((grid[None, :] + offset).ravel(), (x + offset).ravel(), y.ravel())
    return flat.reshape(r, len(grid))


def _rowwise_first_at_least(grid: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``y[r, k]`` at the first ``k`` with ``x[r, k] >= g`` for each grid value ``g`` (x non-decreasing)."""
    r, n = x.shape
    offset = (np.arange(r) * 2.0)[:, None]
    idx = np.searchsorted((x + offset).ravel(), (grid[None, :] + offset).ravel(), side="left")
    idx = np.minimum(idx.reshape(r, len(grid)), (np.arange(r)[:, None] + 1) * n - 1)
    return y.ravel()[idx]


class _Sorted:
    """One score sorted once (descending), with its tie-block ends and the image groups."""

    def __init__(self, target: np.ndarray, score: np.ndarray, codes: np.ndarray):
        order = np.argsort(-score, kind="mergesort")
        s = score[order]
        self.target = target[order].astype(np.float64)
        self.codes = codes[order]
        self.ends = np.r_[np.flatnonzero(s[1:] != s[:-1]), len(s) - 1]

    def cumulative(self, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Weighted true- and false-positive counts at each distinct threshold (replicates x thresholds)."""
        w = counts[:, self.codes]
        tp = np.cumsum(w * self.target, axis=1)[:, self.ends]
        fp = np.cumsum(w * (1.0 - self.target), axis=1)[:, self.ends]
        return tp, fp


def roc_pr_curves(tp: np.ndarray, fp: np.ndarray) -> dict[str, np.ndarray]:
    """TPR on the FPR grid and interpolated precision on the recall grid, per row; NaN rows where undefined."""
    pos, neg = tp[:, -1:], fp[:, -1:]
    zeros = np.zeros((tp.shape[0], 1))
    with np.errstate(invalid="ignore", divide="ignore"):
        tpr = np.hstack([zeros, tp / pos])
        fpr = np.hstack([zeros, fp / neg])
        recall = tp / pos
        precision = tp / np.maximum(tp + fp, 1e-300)
    roc = _rowwise_interp(GRID, np.nan_to_num(fpr), np.nan_to_num(tpr))
    roc[(pos[:, 0] <= 0) | (neg[:, 0] <= 0)] = np.nan
    best = np.maximum.accumulate(precision[:, ::-1], axis=1)[:, ::-1]  # highest precision at recall >= here
    pr = _rowwise_first_at_least(GRID, np.nan_to_num(recall), best)
    pr[pos[:, 0] <= 0] = np.nan
    return {"roc": roc, "pr": pr}


def curve_bands(target: np.ndarray, score: np.ndarray, patients: Any, spec: BootstrapSpec,
                cancel: CancelToken | None = None) -> dict[str, Any]:
    """Bootstrap bands of one score's ROC and PR curves.

    Returns ``{"grid", "roc_lo", "roc_hi", "pr_lo", "pr_hi", "n", "level", "unit", "n_units",
    "dropped_roc", "dropped_pr"}`` (lists; a band is None when every replicate was dropped).
    """
    target = np.asarray(target).astype(bool)
    score = np.asarray(score, dtype=float)
    codes, unit = group_codes(patients, len(target))
    n_groups = int(codes.max()) + 1
    prepared = _Sorted(target, score, codes)
    chunk = max(1, CHUNK_ELEMENTS // max(1, len(target)))
    parts: dict[str, list[np.ndarray]] = {"roc": [], "pr": []}
    for counts in group_counts(n_groups, spec.n, spec.seed, chunk):
        if cancel is not None:
            cancel.raise_if_cancelled()
        for key, values in roc_pr_curves(*prepared.cumulative(counts)).items():
            parts[key].append(values)
    out: dict[str, Any] = {"grid": GRID.tolist(), "n": spec.n, "level": spec.level, "unit": unit,
                           "n_units": n_groups}
    tail = 100 * (1 - spec.level) / 2
    for key in ("roc", "pr"):
        values = np.vstack(parts[key])
        kept = values[np.isfinite(values).all(axis=1)]
        out[f"dropped_{key}"] = int(len(values) - len(kept))
        lo, hi = (np.percentile(kept, [tail, 100 - tail], axis=0) if len(kept) else (None, None))
        out[f"{key}_lo"] = None if lo is None else lo.tolist()
        out[f"{key}_hi"] = None if hi is None else hi.tolist()
    return out


def spec_from_config(config: dict) -> BootstrapSpec:
    """The run's bootstrap settings (config.json ``evaluation``), or the defaults for an older run."""
    section = config.get("evaluation") if isinstance(config, dict) else None
    if not isinstance(section, dict):
        return BootstrapSpec()
    default = BootstrapSpec()
    n = int(section.get("n_bootstrap", default.n) or default.n)  # 0 (off) still gets a band in the report
    return BootstrapSpec(n, float(section.get("ci_level", default.level)),
                         int(section.get("bootstrap_seed", default.seed)))
