"""ROC and precision-recall curves for one score, thinned so JSON stays small.

Areas (ROC AUC, average precision) are always computed by scikit-learn on the
full data; only the curve *points* handed to plots and ``summary.json`` are
thinned to at most ``max_points`` (first and last point always kept).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score, roc_curve

DEFAULT_MAX_POINTS = 200


def thin_indices(n: int, max_points: int | None) -> np.ndarray:
    """Indices of at most ``max_points`` evenly spaced points of ``n``, first and last kept.

    ``max_points=None`` (or ``n <= max_points``) keeps every point.
    """
    if max_points is None or n <= max_points:
        return np.arange(n)
    if max_points < 2:
        raise ValueError("max_points must be at least 2 (first and last point).")
    return np.unique(np.linspace(0, n - 1, max_points).round().astype(int))


def finite_list(values: np.ndarray) -> list[float | None]:
    """Plain Python floats, with +-inf and NaN (not valid JSON) written as ``None``."""
    return [float(v) if math.isfinite(v) else None for v in np.asarray(values, dtype=float)]


def has_both_classes(y_bin: np.ndarray) -> bool:
    """True when the 0/1 vector holds at least one positive and one negative."""
    y_bin = np.asarray(y_bin)
    return bool(y_bin.any() and not y_bin.all())


def roc_points(y_bin: np.ndarray, scores: np.ndarray, max_points: int | None = DEFAULT_MAX_POINTS) -> dict[str, list]:
    """ROC curve ``{fpr, tpr, thresholds}`` of a 0/1 target, thinned to ``max_points``.

    scikit-learn's first threshold (+inf: "predict nothing positive") becomes
    ``None``. The caller must check :func:`has_both_classes` first.
    """
    fpr, tpr, thr = roc_curve(y_bin, scores, drop_intermediate=True)
    idx = thin_indices(len(fpr), max_points)
    return {"fpr": finite_list(fpr[idx]), "tpr": finite_list(tpr[idx]), "thresholds": finite_list(thr[idx])}


def pr_points(y_bin: np.ndarray, scores: np.ndarray, max_points: int | None = DEFAULT_MAX_POINTS) -> dict[str, list]:
    """Precision-recall curve ``{precision, recall, thresholds}``, thinned to ``max_points``.

    The three lists have the same length: the final point (recall 0,
    precision 1), which has no threshold in scikit-learn, gets ``None``.
    The caller must check that ``y_bin`` has at least one positive.
    """
    precision, recall, thr = precision_recall_curve(y_bin, scores)
    thr = np.append(thr, np.nan)
    idx = thin_indices(len(precision), max_points)
    return {
        "precision": finite_list(precision[idx]),
        "recall": finite_list(recall[idx]),
        "thresholds": finite_list(thr[idx]),
    }


def score_summary(y_bin: np.ndarray, scores: np.ndarray, max_points: int | None = DEFAULT_MAX_POINTS) -> dict[str, Any]:
    """ROC AUC, ROC curve, average precision and PR curve of one score vs a 0/1 target.

    Undefined quantities are ``None`` instead of raising: ROC needs both
    classes present, average precision and the PR curve need a positive.
    """
    y_bin = np.asarray(y_bin).astype(int)
    scores = np.asarray(scores, dtype=float)
    out: dict[str, Any] = {"roc_auc": None, "roc_curve": None, "average_precision": None, "pr_curve": None}
    if has_both_classes(y_bin):
        out["roc_auc"] = float(roc_auc_score(y_bin, scores))
        out["roc_curve"] = roc_points(y_bin, scores, max_points)
    if y_bin.any():
        out["average_precision"] = float(average_precision_score(y_bin, scores))
        out["pr_curve"] = pr_points(y_bin, scores, max_points)
    return out
