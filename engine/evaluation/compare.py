"""Paired comparison of two runs on the same images (``python main.py compare RUN_A RUN_B``).

Rows of both runs' ``predictions.csv`` are matched by image path; runs whose
images (or true labels, or classes) differ are refused. Two answers are given:

* **DeLong's test** of the ROC AUC difference (binary problems), with the
  fast midrank algorithm of Sun & Xu, "Fast Implementation of DeLong's
  Algorithm for Comparing the Areas Under Correlated Receiver Operating
  Characteristic Curves", IEEE Signal Processing Letters 2014 (DeLong et
  al., Biometrics 1988). It treats images as independent.
* A **paired patient-level bootstrap**: both runs are scored on the same
  resampled patients in every replicate, and the percentile interval of the
  per-replicate difference (B - A) is reported for every figure. It accounts
  for images of one patient being correlated.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import norm, rankdata

from engine.errors import DataError, HistoDeskError
from engine.evaluation.aggregation import small_sample_warnings
from engine.evaluation.bootstrap import BootstrapSpec, bootstrap_replicates, group_codes, intervals, point_figures
from engine.evaluation.predictions import prediction_classes, read_predictions_csv, rows_to_arrays
from engine.evaluation.thresholds import positive_class


def delong_covariance(y_bin: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(aucs (K,), covariance (K, K))`` of K score vectors (K x N) on one 0/1 target (Sun & Xu 2014).

    Midranks make ties count one half, as in the Mann-Whitney AUC. Needs at
    least one positive and one negative.
    """
    y_bin = np.asarray(y_bin).astype(bool)
    s = np.atleast_2d(np.asarray(scores, dtype=float))
    x, z = s[:, y_bin], s[:, ~y_bin]
    m, n = x.shape[1], z.shape[1]
    tx, ty = rankdata(x, axis=1), rankdata(z, axis=1)
    tz = rankdata(np.concatenate([x, z], axis=1), axis=1)
    aucs = (tz[:, :m].sum(axis=1) / m - (m + 1) / 2) / n
    v10 = (tz[:, :m] - tx) / n          # per positive: share of negatives scored below it
    v01 = 1 - (tz[:, m:] - ty) / m      # per negative: share of positives scored above it
    s10 = np.atleast_2d(np.cov(v10)) if m > 1 else np.zeros((len(s), len(s)))
    s01 = np.atleast_2d(np.cov(v01)) if n > 1 else np.zeros((len(s), len(s)))
    return aucs, s10 / m + s01 / n


def delong_test(y_bin: np.ndarray, score_a: np.ndarray, score_b: np.ndarray) -> dict[str, Any]:
    """Two-sided DeLong test of AUC(B) - AUC(A) on paired scores: AUCs, difference, its SE, z and p."""
    aucs, cov = delong_covariance(y_bin, np.stack([score_a, score_b]))
    var = float(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    diff = float(aucs[1] - aucs[0])
    out: dict[str, Any] = {"auc_a": float(aucs[0]), "auc_b": float(aucs[1]), "difference": diff,
                           "variance": max(var, 0.0), "se": float(np.sqrt(max(var, 0.0)))}
    if var <= 1e-15:
        same = abs(diff) <= 1e-12
        out.update(z=0.0 if same else None, p_value=1.0 if same else None,
                   note=None if same else "the difference has no variance (identical rankings); no p-value")
        return out
    z = diff / np.sqrt(var)
    out.update(z=float(z), p_value=float(2 * norm.sf(abs(z))))
    return out


def _split_rows(run_dir: Path, split: str) -> tuple[dict[str, dict], list[str]]:
    """``({path: row}, classes)`` of a run's predictions.csv rows of ``split``."""
    path = run_dir / "predictions.csv"
    if not path.is_file():
        raise HistoDeskError(f"{run_dir.name} has no predictions.csv: only runs whose training completed (or "
                             "that were evaluated) can be compared.")
    rows = [r for r in read_predictions_csv(path) if r.get("split") == split]
    if not rows:
        raise DataError(f"{path} has no rows of the '{split}' split; choose another --split.")
    return {r["path"]: r for r in rows}, prediction_classes(rows)


def _matched(rows_a: dict, rows_b: dict, name_a: str, name_b: str, split: str) -> list[str]:
    """The common image paths, in A's order; DataError when the image sets differ."""
    only_a, only_b = set(rows_a) - set(rows_b), set(rows_b) - set(rows_a)
    if only_a or only_b:
        example = sorted(only_a or only_b)[0]
        raise DataError(f"{name_a} and {name_b} were evaluated on different {split} images ({len(only_a)} only in "
                        f"the first, {len(only_b)} only in the second, e.g. {example}); a paired comparison needs "
                        "the same images: train both runs on the same data and split (split seed and ratios).")
    differ = [p for p in rows_a if rows_a[p]["true_label"] != rows_b[p]["true_label"]]
    if differ:
        raise DataError(f"{name_a} and {name_b} disagree on the true label of {len(differ)} {split} image(s), "
                        f"e.g. {differ[0]}; they were not trained on the same labelled data.")
    return list(rows_a)


def compare_predictions(y: np.ndarray, models: list[tuple[np.ndarray, np.ndarray]], patients: list[Any],
                        classes: list[str], spec: BootstrapSpec, pos: int | None) -> dict[str, Any]:
    """Both models' figures with intervals and the paired difference (B - A) with its interval and DeLong p."""
    codes, unit = group_codes(patients, len(y))
    reps = bootstrap_replicates(y, models, codes, spec.n, spec.seed, pos)
    runs: list[dict[str, Any]] = []
    for (probs, pred), rep in zip(models, reps):
        ci, dropped = intervals(rep, spec.level)
        runs.append({"figures": point_figures(y, probs, pred, codes, pos), "ci": ci, "dropped": dropped})
    diff_ci, diff_dropped = intervals({k: reps[1][k] - reps[0][k] for k in reps[0]}, spec.level)
    difference = {}
    for key in reps[0]:
        a, b = runs[0]["figures"][key], runs[1]["figures"][key]
        difference[key] = {"value": None if a is None or b is None else b - a, "ci": diff_ci[key]}
    delong = None
    if pos is not None and 0 < int(np.sum(y == pos)) < len(y):
        delong = delong_test(y == pos, models[0][0][:, pos], models[1][0][:, pos])
    return {"n_images": int(len(y)), "unit": unit, "n_units": int(codes.max()) + 1, "runs": runs,
            "difference": difference, "delong": delong, "warnings": small_sample_warnings(y, classes, patients),
            "bootstrap": {"n": spec.n, "level": spec.level, "seed": spec.seed, "unit": unit, "paired": True,
                          "dropped": diff_dropped}}


def compare_runs(run_a: str | Path, run_b: str | Path, split: str = "test") -> dict[str, Any]:
    """Compare two runs on the same ``split`` images (rows of predictions.csv matched by path).

    Intervals use run A's ``config.evaluation`` (replicates, level, seed).
    Raises :class:`DataError` when the runs' images, labels or classes differ.
    """
    from engine.runs import Run
    from engine.training.config import TrainConfig

    ra, rb = Run.open(run_a), Run.open(run_b)
    rows_a, classes = _split_rows(ra.path, split)
    rows_b, classes_b = _split_rows(rb.path, split)
    if classes != classes_b:
        raise DataError(f"{ra.id} has classes {classes} and {rb.id} has {classes_b}; only runs with the same "
                        "classes (in the same order) can be compared.")
    paths = _matched(rows_a, rows_b, ra.id, rb.id, split)
    index = {c: i for i, c in enumerate(classes)}
    arrays = [rows_to_arrays([rows[p] for p in paths]) for rows in (rows_a, rows_b)]
    y, _, _, patients = arrays[0]  # the true labels of both runs were checked equal
    models = [(probs, np.array([index[rows[p]["predicted_label"]] for p in paths]))
              for (_, probs, _, _), rows in zip(arrays, (rows_a, rows_b))]
    positive = positive_class(classes)
    pos = classes.index(positive) if positive is not None else None
    spec = BootstrapSpec.from_config(TrainConfig.from_dict(ra.config).evaluation) or BootstrapSpec()
    out = compare_predictions(y, models, patients, classes, spec, pos)
    for info, run in zip(out["runs"], (ra, rb)):
        info.update(id=run.id, path=str(run.path))
    out.update(split=split, classes=classes, positive_class=positive)
    return out
