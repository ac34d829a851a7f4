"""Patient- and magnification-level figures with bootstrap intervals, and small-sample warnings.

Patient level (methods.md "Protocol pitfalls"): a patient's images are
pooled into one prediction by one of four rules, each scored against the
patient's majority true label (ties: the lower class index):

* ``mean`` / ``median`` / ``max``: the per-class mean, median or maximum of
  the image probabilities (median and max renormalised to sum to 1; for two
  classes ``max`` is "the most suspicious image decides"); the decision rule
  (arg-max or the val threshold) is applied to the pooled probabilities;
* ``vote``: each image votes for its decided class; the pooled "probability"
  of a class is its share of the votes (ties: the lower class index).

Patient-level accuracy and ROC AUC get percentile intervals from a
bootstrap over patients. Images without a patient id are left out.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from engine.evaluation.bootstrap import BootstrapSpec, bootstrap_replicates, group_codes, intervals, point_figures
from engine.evaluation.thresholds import predict_labels

RULES = ("mean", "median", "max", "vote")
MIN_IMAGES = 30
MIN_PATIENTS_PER_CLASS = 5


def unit_figures(y: np.ndarray, probs: np.ndarray, pred: np.ndarray, codes: np.ndarray, spec: BootstrapSpec | None,
                 pos: int | None, keys: Sequence[str] = ("accuracy", "roc_auc")) -> dict[str, Any]:
    """Point values of ``keys`` and, with ``spec``, their ``<key>_ci`` intervals resampling ``codes`` groups."""
    point = point_figures(y, probs, pred, codes, pos)
    out: dict[str, Any] = {k: point[k] for k in keys}
    if spec is not None:
        reps = bootstrap_replicates(y, [(probs, pred)], codes, spec.n, spec.seed, pos)[0]
        ci, dropped = intervals({k: reps[k] for k in keys}, spec.level)
        out.update({f"{k}_ci": ci[k] if point[k] is not None else None for k in keys})
        if dropped:
            out["bootstrap_dropped"] = dropped
    return out


def pool(probs: np.ndarray, pred: np.ndarray, rule: str, n_classes: int) -> np.ndarray:
    """One patient's pooled class probabilities (C,) from its images' ``probs`` and decided ``pred``."""
    if rule == "mean":
        return probs.mean(axis=0)
    if rule == "vote":
        return np.bincount(pred, minlength=n_classes) / len(pred)
    pooled = np.median(probs, axis=0) if rule == "median" else probs.max(axis=0)
    total = pooled.sum()
    return pooled / total if total > 0 else np.full(n_classes, 1.0 / n_classes)


def patient_groups(patients: Sequence[Any]) -> dict[str, list[int]]:
    """``{patient id: [image indices]}`` in order of first appearance; images without an id are left out."""
    members: dict[str, list[int]] = {}
    for i, pid in enumerate(patients):
        if pid is not None and str(pid) != "":
            members.setdefault(str(pid), []).append(i)
    return members


def patient_aggregation(y: np.ndarray, probs: np.ndarray, pred: np.ndarray, patients: Sequence[Any],
                        classes: list[str], threshold, spec: BootstrapSpec | None, pos: int | None, *,
                        groups: dict[str, list[int]] | None = None) -> dict | None:
    """``{rule: {n_patients, accuracy, accuracy_ci, roc_auc, roc_auc_ci}}`` for each pooling rule; None without ids.

    ``groups``: :func:`patient_groups` of ``patients`` when the caller has it already.
    """
    members = groups if groups is not None else patient_groups(patients)
    if not members:
        return None
    c = len(classes)
    truth = np.array([np.bincount(y[idx], minlength=c).argmax() for idx in members.values()])
    codes = np.arange(len(members))
    out = {}
    for rule in RULES:
        pooled = np.stack([pool(probs[idx], pred[idx], rule, c) for idx in members.values()])
        decided = pooled.argmax(axis=1) if rule == "vote" else predict_labels(pooled, threshold, classes)
        out[rule] = {"n_patients": len(members), **unit_figures(truth, pooled, decided, codes, spec, pos)}
    return out


def magnification_figures(y: np.ndarray, probs: np.ndarray, pred: np.ndarray, magnifications: Sequence[Any],
                          patients: Sequence[Any] | None, spec: BootstrapSpec | None,
                          pos: int | None) -> dict[str, dict] | None:
    """``{magnification: {n, n_units, accuracy, accuracy_ci, roc_auc, roc_auc_ci}}`` where it is known."""
    mags = [None if m is None or str(m) == "" else str(m) for m in magnifications]
    known = sorted({m for m in mags if m is not None}, key=_mag_key)
    if not known:
        return None
    out = {}
    for mag in known:
        idx = np.array([i for i, m in enumerate(mags) if m == mag])
        sub_patients = None if patients is None else [patients[i] for i in idx]
        codes, _unit = group_codes(sub_patients, len(idx))
        out[mag] = {"n": int(len(idx)), "n_units": int(codes.max()) + 1,
                    **unit_figures(y[idx], probs[idx], pred[idx], codes, spec, pos)}
    return out


def _mag_key(mag: str) -> tuple:
    """Sort "40X" < "100X" < "200X" numerically, other names after them."""
    digits = "".join(ch for ch in mag if ch.isdigit())
    return (0, int(digits), mag) if digits else (1, 0, mag)


def small_sample_warnings(y: np.ndarray, classes: list[str], patients: Sequence[Any] | None) -> list[str]:
    """Plain sentences for a split too small to trust: < 30 images, or < 5 patients of a class."""
    out = []
    n = len(y)
    if n < MIN_IMAGES:
        out.append(f"Small sample: only {n} images were evaluated (fewer than {MIN_IMAGES}); every figure here "
                   "is uncertain, so read the intervals, not the point values.")
    codes, unit = group_codes(patients, n)
    word = "patients" if unit == "patient" else "images"
    for k, name in enumerate(classes):
        units = len(np.unique(codes[y == k]))
        if units < MIN_PATIENTS_PER_CLASS:
            counted = f"{units} {word[:-1] if units == 1 else word}"
            out.append(f"Small sample: class '{name}' has {counted} here (fewer than {MIN_PATIENTS_PER_CLASS}); "
                       f"its figures rest on too few {word} to generalise.")
    return out
