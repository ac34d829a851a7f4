"""Vectorised patient-level bootstrap: percentile intervals for every headline figure.

A replicate resamples the *groups* (patients; an image without a patient id
is a group of its own) with replacement. Group ``g`` drawn ``k`` times gives
each of its images weight ``k``, so a whole batch of replicates is a
``replicates x groups`` multiplicity matrix, and every metric is a weighted
sum over images: confusion counts by one matrix product, ROC AUC by one sort
per score plus cumulative sums of weights (the Mann-Whitney statistic with
ties counted one half, identical to scikit-learn's trapezoidal ROC AUC). No
Python loop runs over replicates; replicates are processed in chunks so the
weight matrix stays small.

Groups are numbered in order of first appearance; replicate ``r`` draws
``numpy.random.default_rng(seed).integers(0, G, size=(B, G))[r]`` (Efron &
Tibshirani, "An Introduction to the Bootstrap", 1993, ch. 13: percentile
intervals). A replicate in which a figure is undefined (ROC AUC or
sensitivity with a single class drawn, the positive-class F1 with no
positive drawn or predicted) is dropped for that figure and counted; macro
F1 averages the classes present or predicted in the replicate (scikit-learn's
default label set), balanced accuracy the classes present.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

CHUNK_ELEMENTS = 2_000_000  # replicates x images per chunk (16 MB of float64)


@dataclass(frozen=True)
class BootstrapSpec:
    """How many replicates, the interval level and the seed."""

    n: int = 1000
    level: float = 0.95
    seed: int = 0

    @classmethod
    def from_config(cls, evaluation: Any) -> "BootstrapSpec | None":
        """From a config's ``evaluation`` section; ``None`` when ``n_bootstrap`` is 0 (off)."""
        if evaluation is None:
            return cls()
        n = int(evaluation.n_bootstrap)
        return cls(n, float(evaluation.ci_level), int(evaluation.bootstrap_seed)) if n > 0 else None


DEFAULT_BOOTSTRAP = BootstrapSpec()


def group_codes(patients: Sequence[Any] | None, n: int) -> tuple[np.ndarray, str]:
    """``(codes, unit)``: a group index per image and "patient" or "image".

    Images sharing a patient id share a group; an image whose id is ``None``
    or ``""`` (or all images when ``patients`` is ``None``) is its own group.
    Groups are numbered in order of first appearance.
    """
    if patients is None:
        return np.arange(n), "image"
    index: dict[Any, int] = {}
    codes = np.empty(n, dtype=np.int64)
    for i, pid in enumerate(patients):
        key = ("patient", str(pid)) if pid is not None and str(pid) != "" else ("image", i)
        codes[i] = index.setdefault(key, len(index))
    unit = "patient" if any(k[0] == "patient" for k in index) else "image"
    return codes, unit


def group_counts(n_groups: int, n_boot: int, seed: int, chunk: int) -> Iterator[np.ndarray]:
    """Chunks of the ``replicates x groups`` multiplicity matrix (float64), ``chunk`` replicates each."""
    rng = np.random.default_rng(seed)
    done = 0
    while done < n_boot:
        r = min(chunk, n_boot - done)
        draws = rng.integers(0, n_groups, size=(r, n_groups))
        flat = (draws + (np.arange(r) * n_groups)[:, None]).ravel()
        yield np.bincount(flat, minlength=r * n_groups).reshape(r, n_groups).astype(np.float64)
        done += r


def _div(num: np.ndarray, den: np.ndarray, fill: float = 0.0) -> np.ndarray:
    """``num / den`` with ``fill`` where ``den`` is 0 (no warning)."""
    out = np.full(np.broadcast(num, den).shape, fill, dtype=np.float64)
    np.divide(num, den, out=out, where=den > 0)
    return out


class _Prepared:
    """Per-model data that does not change between replicates: cell indicators and score orders."""

    def __init__(self, y: np.ndarray, probs: np.ndarray, pred: np.ndarray, codes: np.ndarray, n_groups: int,
                 pos: int | None):
        c = probs.shape[1]
        self.c, self.pos = c, pos
        cells = np.zeros((n_groups, c * c))
        np.add.at(cells, (codes, y * c + pred), 1.0)
        self.cells = cells  # groups x (true, predicted) counts
        columns = [pos] if c == 2 else list(range(c))
        self.scores = [self._order(probs[:, k], y == k, codes) for k in columns]

    @staticmethod
    def _order(score: np.ndarray, target: np.ndarray, codes: np.ndarray) -> tuple:
        order = np.argsort(score, kind="mergesort")
        s = score[order]
        starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
        return codes[order], target[order].astype(np.float64), starts


def weighted_auc(weights: np.ndarray, prepared_score: tuple) -> np.ndarray:
    """ROC AUC per row of ``weights`` (replicates x groups); NaN where one class has no weight."""
    codes_sorted, target, starts = prepared_score
    w = weights[:, codes_sorted]  # replicates x images, in ascending score order
    wp = w * target
    pb = np.add.reduceat(wp, starts, axis=1)  # positive weight per tie block
    nb = np.add.reduceat(w, starts, axis=1) - pb
    below = np.cumsum(nb, axis=1) - nb
    u = np.sum(pb * (below + 0.5 * nb), axis=1)
    p_tot, n_tot = pb.sum(axis=1), nb.sum(axis=1)
    return _div(u, p_tot * n_tot, np.nan)


def replicate_metrics(weights: np.ndarray, prepared: _Prepared) -> dict[str, np.ndarray]:
    """Every bootstrapped figure for a chunk of replicates (rows of ``weights``)."""
    c, pos = prepared.c, prepared.pos
    cm = (weights @ prepared.cells).reshape(-1, c, c)
    tp = np.diagonal(cm, axis1=1, axis2=2)
    support, predicted = cm.sum(axis=2), cm.sum(axis=1)
    recall = _div(tp, support)
    present = support > 0
    seen = (support + predicted) > 0  # F1 of a class neither present nor predicted is undefined
    f1 = _div(2 * tp, support + predicted, np.nan)
    out = {
        "accuracy": tp.sum(axis=1) / cm.sum(axis=(1, 2)),
        "balanced_accuracy": (recall * present).sum(axis=1) / present.sum(axis=1),
        "f1_macro": np.where(seen, f1, 0.0).sum(axis=1) / seen.sum(axis=1),
    }
    aucs = np.stack([weighted_auc(weights, s) for s in prepared.scores], axis=1)
    if c == 2:
        assert pos is not None  # a binary task always has its positive class
        neg = 1 - pos
        out["f1"] = f1[:, pos]
        out["sensitivity"] = _div(tp[:, pos], support[:, pos], np.nan)
        out["specificity"] = _div(tp[:, neg], support[:, neg], np.nan)
        out["precision"] = _div(tp[:, pos], predicted[:, pos], np.nan)
        out["roc_auc"] = aucs[:, 0]
    else:  # macro over the classes whose one-vs-rest AUC is defined in the replicate
        defined = np.isfinite(aucs)
        out["roc_auc"] = _div(np.where(defined, aucs, 0.0).sum(axis=1), defined.sum(axis=1), np.nan)
    return out


def bootstrap_replicates(y: np.ndarray, models: Sequence[tuple[np.ndarray, np.ndarray]], codes: np.ndarray,
                         n_boot: int, seed: int, pos: int | None = None) -> list[dict[str, np.ndarray]]:
    """Replicate values of every figure for each ``(probs, pred)`` in ``models``, sharing one resampling.

    Sharing the replicates makes the bootstrap *paired* when several models
    predicted the same images. Returns one ``{figure: (n_boot,) array}`` per model.
    """
    n_groups = int(codes.max()) + 1
    prepared = [_Prepared(y, np.asarray(p, float), np.asarray(pr, int), codes, n_groups, pos) for p, pr in models]
    chunk = max(1, CHUNK_ELEMENTS // max(1, len(y)))
    parts: list[list[dict]] = [[] for _ in models]
    for counts in group_counts(n_groups, n_boot, seed, chunk):
        for k, prep in enumerate(prepared):
            parts[k].append(replicate_metrics(counts, prep))
    return [{key: np.concatenate([p[key] for p in chunks]) for key in chunks[0]} for chunks in parts]


def point_figures(y: np.ndarray, probs: np.ndarray, pred: np.ndarray, codes: np.ndarray,
                  pos: int | None = None) -> dict[str, float | None]:
    """The same figures on the data as they are (every group weight 1); undefined ones are ``None``."""
    n_groups = int(codes.max()) + 1
    prep = _Prepared(y, np.asarray(probs, float), np.asarray(pred, int), codes, n_groups, pos)
    values = replicate_metrics(np.ones((1, n_groups)), prep)
    return {k: float(v[0]) if np.isfinite(v[0]) else None for k, v in values.items()}


def percentile_interval(values: np.ndarray, level: float) -> tuple[list[float] | None, int]:
    """``([lo, hi], n_dropped)``: the percentile interval over the finite replicate values."""
    finite = values[np.isfinite(values)]
    dropped = int(len(values) - len(finite))
    if not len(finite):
        return None, dropped
    tail = 100 * (1 - level) / 2
    lo, hi = np.percentile(finite, [tail, 100 - tail])
    return [float(lo), float(hi)], dropped


def snap_to_points(ci: dict[str, list | None], points: dict[str, Any], tol: float = 1e-9) -> None:
    """Set interval bounds within ``tol`` of their point figure to it (in place).

    The vectorised replicates and scikit-learn's point value of the same figure can differ by float noise
    (0.9975 vs 0.99749999...), which would print a point just outside its own interval ("0.997 [0.998, ...]").
    """
    for key, bounds in ci.items():
        point = points.get(key)
        if bounds is None or not isinstance(point, (int, float)):
            continue
        ci[key] = [point if abs(b - point) <= tol else b for b in bounds]


def intervals(replicates: dict[str, np.ndarray], level: float) -> tuple[dict[str, list | None], dict[str, int]]:
    """``(ci, dropped)``: a percentile interval per figure and how many replicates each dropped."""
    ci, dropped = {}, {}
    for key, values in replicates.items():
        ci[key], d = percentile_interval(values, level)
        if d:
            dropped[key] = d
    return ci, dropped


def bootstrap_intervals(y: np.ndarray, probs: np.ndarray, pred: np.ndarray, patients: Sequence[Any] | None,
                        spec: BootstrapSpec, pos: int | None = None,
                        keys: Sequence[str] | None = None) -> dict[str, Any]:
    """``{"ci": {figure: [lo, hi] | None}, "bootstrap": {n, level, seed, unit, n_units, dropped}}``.

    Binary figures: accuracy, balanced_accuracy, roc_auc, f1 (positive class),
    f1_macro, sensitivity, specificity, precision; multi-class: accuracy,
    balanced_accuracy, f1_macro, roc_auc (macro one-vs-rest). ``keys`` keeps
    only those figures. ``pos`` is the positive class index of a binary problem.
    """
    codes, unit = group_codes(patients, len(y))
    reps = bootstrap_replicates(y, [(probs, pred)], codes, spec.n, spec.seed, pos)[0]
    if keys is not None:
        reps = {k: v for k, v in reps.items() if k in keys}
    ci, dropped = intervals(reps, spec.level)
    info = {"n": spec.n, "level": spec.level, "seed": spec.seed, "unit": unit, "n_units": int(codes.max()) + 1,
            "method": "percentile", "dropped": dropped}
    return {"ci": ci, "bootstrap": info}
