"""Classification metrics for one evaluation: image level and patient level.

:func:`compute_metrics` turns true labels and class probabilities into one
JSON-serialisable dict (written to ``summary.json``, shown by the GUI and the
CLI). Label metrics follow scikit-learn with ``labels=range(C)`` and
``zero_division=0``, so classes that are absent from the data still get a
row. Patient-level figures follow the BreaKHis convention (see
``methods.md``, "Protocol pitfalls"): the *patient score* is the mean over
patients of the per-patient image accuracy (Spanhol et al., "A Dataset for
Breast Cancer Histopathological Image Classification", IEEE TBME 2016).

Every evaluation also carries its uncertainty: ``"ci"`` holds percentile
intervals from a patient-level bootstrap (:mod:`engine.evaluation.bootstrap`),
``"warnings"`` flags splits too small to trust, ``"calibration"`` holds ECE,
Brier score and the reliability diagram (:mod:`engine.evaluation.calibration`),
``"threshold"`` the decision rule used (:mod:`engine.evaluation.thresholds`),
``"patient"["aggregation"]`` and ``"magnification"`` the patient- and
magnification-level figures (:mod:`engine.evaluation.aggregation`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import classification_report, confusion_matrix, precision_recall_fscore_support

from engine.errors import ConfigError, DataError
from engine.evaluation.aggregation import (
    magnification_figures,
    patient_aggregation,
    patient_groups,
    small_sample_warnings,
)
from engine.evaluation.bootstrap import DEFAULT_BOOTSTRAP, BootstrapSpec, bootstrap_intervals, snap_to_points
from engine.evaluation.calibration import calibration_summary
from engine.evaluation.curves import DEFAULT_MAX_POINTS, score_summary
from engine.evaluation.thresholds import describe_rule, predict_labels
from engine.io_utils import to_jsonable


def compute_metrics(
    y_true: Sequence[int] | np.ndarray,
    probs: Sequence[Sequence[float]] | np.ndarray,
    classes: Sequence[str],
    *,
    patients: Sequence[Any] | None = None,
    positive_class: str | None = None,
    max_curve_points: int | None = DEFAULT_MAX_POINTS,
    threshold: Any = None,
    threshold_source: str = "default",
    magnifications: Sequence[Any] | None = None,
    bootstrap: BootstrapSpec | None = DEFAULT_BOOTSTRAP,
) -> dict[str, Any]:
    """All metrics of one evaluation as a JSON-serialisable dict.

    ``y_true`` holds class indices (N,), ``probs`` class probabilities (N, C)
    (a single-logit binary model passes ``[1-p, p]``), ``classes`` the C class
    names. The prediction is the arg-max class unless ``threshold`` (a
    :class:`~engine.evaluation.thresholds.ThresholdRule` fitted on val, whose
    origin ``threshold_source`` names) says otherwise. With two classes the
    positive class is ``classes[1]`` unless ``positive_class`` names another.
    ``patients`` (N ids, ``None``/``""`` for unknown) adds a ``"patient"``
    block and makes the bootstrap resample patients; ``magnifications`` adds
    per-magnification figures. ``bootstrap`` (None: off) sets the replicates,
    level and seed of the ``"ci"`` intervals. Curves are thinned to
    ``max_curve_points`` (``None`` keeps all); areas are always computed on
    the full data. Undefined values (AUC with one class present) are ``None``
    with an explanatory ``"auc_note"``.

    Raises :class:`DataError` for empty or inconsistent inputs and
    :class:`ConfigError` for an unknown ``positive_class``.
    """
    y, p, names = _validate(y_true, probs, classes)
    if patients is not None and len(patients) != len(y):
        raise DataError(f"Got {len(patients)} patient ids for {len(y)} images; they must match.")
    pos = _positive_index(names, positive_class)
    y_pred = predict_labels(p, threshold, names)
    out: dict[str, Any] = {"n": int(len(y)), "classes": names}
    out["warnings"] = small_sample_warnings(y, names, patients)
    out.update(label_metrics(y, y_pred, names))
    if pos is not None:
        out.update(_binary_scores(y, p, names, pos, out["per_class"], max_curve_points))
    else:
        out.update(_multiclass_scores(y, p, names, max_curve_points))
    out["threshold"] = describe_rule(threshold if pos is not None else None, threshold_source)
    out["calibration"] = calibration_summary(y, p)
    if bootstrap is not None:
        out.update(bootstrap_intervals(y, p, y_pred, patients, bootstrap, pos))
        snap_to_points(out["ci"], {"accuracy": out["accuracy"], "balanced_accuracy": out["balanced_accuracy"],
                                   "roc_auc": out.get("roc_auc"), "f1": out.get("f1"),
                                   "precision": out.get("precision"), "sensitivity": out.get("recall"),
                                   "f1_macro": out["macro"]["f1"]})
    if patients is not None:
        out["patient"] = patient_level_metrics(y, p, names, patients, threshold=threshold, bootstrap=bootstrap,
                                               positive_class=names[pos] if pos is not None else None)
    if magnifications is not None:
        if len(magnifications) != len(y):
            raise DataError(f"Got {len(magnifications)} magnifications for {len(y)} images; they must match.")
        out["magnification"] = magnification_figures(y, p, y_pred, magnifications, patients, bootstrap, pos)
    return to_jsonable(out)


def _positive_index(classes: list[str], positive_class: str | None) -> int | None:
    """Index of the positive class of a binary problem (``classes[1]`` by default); None for C > 2."""
    if len(classes) != 2:
        return None
    if positive_class is None:
        return 1
    if str(positive_class) in classes:
        return classes.index(str(positive_class))
    raise ConfigError(f"Positive class {positive_class!r} is not one of the classes {classes}.")


def _validate(y_true: Any, probs: Any, classes: Sequence[str]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Check shapes and values; return int labels, float probabilities, class names."""
    names = [str(c) for c in classes]
    p = np.asarray(probs, dtype=float)
    y_raw = np.asarray(y_true)
    if y_raw.size == 0 or p.size == 0:
        raise DataError("There are no predictions to evaluate: the evaluated split is empty.")
    if len(names) < 2:
        raise DataError(f"Metrics need at least two classes; got {names}.")
    if p.ndim != 2 or p.shape[1] != len(names):
        raise DataError(f"Probabilities must have shape (N, {len(names)}) for classes {names}; got {p.shape}.")
    if y_raw.ndim != 1 or len(y_raw) != len(p):
        raise DataError(f"Got {y_raw.shape} labels for {len(p)} probability rows; they must match.")
    if not np.isfinite(p).all():
        raise DataError("The model produced NaN or infinite probabilities; training probably diverged.")
    y = y_raw.astype(int)
    if not np.array_equal(y, y_raw) or y.min() < 0 or y.max() >= len(names):
        raise DataError(f"Labels must be class indices 0..{len(names) - 1}.")
    return y, p, names


def _prf(y: np.ndarray, y_pred: np.ndarray, n_classes: int, average: str | None) -> tuple:
    """scikit-learn's precision, recall, F1, support over ``labels=range(C)``."""
    return precision_recall_fscore_support(
        y, y_pred, labels=list(range(n_classes)), average=average, zero_division=0
    )


def label_metrics(y: np.ndarray, y_pred: np.ndarray, classes: list[str]) -> dict[str, Any]:
    """Metrics of hard predictions: accuracy, per-class/macro/weighted P-R-F1, confusion matrix, report."""
    c = len(classes)
    labels = list(range(c))
    cm = confusion_matrix(y, y_pred, labels=labels)
    rows = cm.sum(axis=1, keepdims=True)
    cm_norm = np.divide(cm, rows, out=np.zeros(cm.shape, dtype=float), where=rows > 0)
    present = rows[:, 0] > 0
    prec, rec, f1, sup = _prf(y, y_pred, c, None)
    out: dict[str, Any] = {
        "accuracy": float(np.mean(y == y_pred)),
        # scikit-learn's definition: mean recall over the classes present in y_true.
        "balanced_accuracy": float(np.mean(np.diag(cm)[present] / rows[present, 0])),
        "per_class": {
            name: {"precision": prec[i], "recall": rec[i], "f1": f1[i], "support": int(sup[i])}
            for i, name in enumerate(classes)
        },
    }
    for avg in ("macro", "weighted"):
        ap, ar, af, _ = _prf(y, y_pred, c, avg)
        out[avg] = {"precision": float(ap), "recall": float(ar), "f1": float(af)}
    out["confusion_matrix"] = cm.tolist()
    out["confusion_matrix_normalized"] = cm_norm.tolist()
    report_kw = {"labels": labels, "target_names": classes, "zero_division": 0}
    out["classification_report"] = classification_report(y, y_pred, digits=4, **report_kw)
    out["classification_report_dict"] = classification_report(y, y_pred, output_dict=True, **report_kw)
    return out


def _binary_scores(
    y: np.ndarray,
    p: np.ndarray,
    classes: list[str],
    pos: int,
    per_class: dict[str, dict],
    max_points: int | None,
) -> dict[str, Any]:
    """Positive-class P/R/F1, sensitivity, specificity, ROC AUC, ROC and PR curves and AP of a two-class problem."""
    name = classes[pos]
    out: dict[str, Any] = {"positive_class": name}
    out.update({k: float(per_class[name][k]) for k in ("precision", "recall", "f1")})
    out["sensitivity"] = out["recall"]
    out["specificity"] = float(per_class[classes[1 - pos]]["recall"])
    out.update(score_summary(y == pos, p[:, pos], max_points))
    if out["roc_auc"] is None:
        out["auc_note"] = (
            f"ROC AUC is undefined: the evaluated data hold only class {classes[int(y[0])]!r}; "
            "evaluate on a split with both classes."
        )
    return out


def _multiclass_scores(y: np.ndarray, p: np.ndarray, classes: list[str], max_points: int | None) -> dict[str, Any]:
    """One-vs-rest ROC AUC (macro and micro), ROC/PR curves and AP of a C > 2 problem.

    The macro average is over the classes whose one-vs-rest AUC is defined
    (present in ``y_true`` and not the only class); skipped classes are named
    in ``"auc_note"``. ``"roc_auc"`` repeats the macro figure.
    """
    onehot = np.eye(len(classes), dtype=int)[y]
    micro = score_summary(onehot.ravel(), p.ravel(), max_points)
    per = {name: score_summary(onehot[:, i], p[:, i], max_points) for i, name in enumerate(classes)}
    aucs = [s["roc_auc"] for s in per.values() if s["roc_auc"] is not None]
    aps = [s["average_precision"] for s in per.values() if s["average_precision"] is not None]
    macro = float(np.mean(aucs)) if aucs else None
    out: dict[str, Any] = {
        "roc_auc_ovr_macro": macro,
        "roc_auc_ovr_micro": micro["roc_auc"],
        "roc_auc": macro,
        "roc_auc_per_class": {name: s["roc_auc"] for name, s in per.items()},
        "average_precision_macro": float(np.mean(aps)) if aps else None,
        "average_precision_micro": micro["average_precision"],
        "average_precision_per_class": {name: s["average_precision"] for name, s in per.items()},
        "roc_curve": {"micro": _xy(micro["roc_curve"], "fpr", "tpr")},
        "pr_curve": {"micro": _xy(micro["pr_curve"], "precision", "recall")},
    }
    out["average_precision"] = out["average_precision_macro"]
    for name, s in per.items():
        out["roc_curve"][name] = _xy(s["roc_curve"], "fpr", "tpr")
        out["pr_curve"][name] = _xy(s["pr_curve"], "precision", "recall")
    skipped = [name for name, s in per.items() if s["roc_auc"] is None]
    if skipped:
        out["auc_note"] = (
            f"One-vs-rest ROC AUC is undefined for {skipped} (absent from the evaluated data, or the only "
            "class present); the macro average covers the other classes only."
            if aucs
            else "ROC AUC is undefined: the evaluated data hold a single class."
        )
    return out


def _xy(curve: dict | None, x: str, y: str) -> dict | None:
    """Keep only the ``x`` and ``y`` lists of a curve (or ``None``)."""
    return None if curve is None else {x: curve[x], y: curve[y]}


def patient_level_metrics(
    y_true: Sequence[int] | np.ndarray,
    probs: np.ndarray,
    classes: Sequence[str],
    patients: Sequence[Any],
    *,
    threshold: Any = None,
    bootstrap: BootstrapSpec | None = None,
    positive_class: str | None = None,
) -> dict[str, Any] | None:
    """Patient-level figures; ``None`` when no image has a patient id.

    ``patient_score``: mean over patients of the per-patient image accuracy
    (the BreaKHis "patient-level accuracy"). ``patient_vote_accuracy``: one
    prediction per patient, the decision (arg-max, or ``threshold``) on the
    mean probability, against the patient's majority true label (ties go to
    the lower class index). ``aggregation``: accuracy and ROC AUC of each
    pooling rule (mean, median, max, vote) with intervals from a bootstrap
    over patients when ``bootstrap`` is given. Images whose id is ``None`` or
    ``""`` are left out and counted in ``n_images_without_patient``.
    """
    y = np.asarray(y_true, dtype=int)
    p = np.asarray(probs, dtype=float)
    classes = [str(c) for c in classes]
    if len(patients) != len(y):
        raise DataError(f"Got {len(patients)} patient ids for {len(y)} images; they must match.")
    groups = patient_groups(patients)
    if not groups:
        return None
    y_pred = predict_labels(p, threshold, classes)
    per_patient = []
    for pid, idx in groups.items():
        true = int(np.bincount(y[idx], minlength=len(classes)).argmax())
        pred = int(predict_labels(p[idx].mean(axis=0)[None], threshold, classes)[0])
        correct = int(np.sum(y_pred[idx] == y[idx]))
        per_patient.append(
            {
                "patient": pid,
                "n": len(idx),
                "correct": correct,
                "accuracy": correct / len(idx),
                "true_label": classes[true],
                "predicted_label": classes[pred],
            }
        )
    return {
        "n_patients": len(per_patient),
        "n_images_without_patient": int(len(y) - sum(len(i) for i in groups.values())),
        "patient_score": float(np.mean([r["accuracy"] for r in per_patient])),
        "patient_vote_accuracy": float(np.mean([r["true_label"] == r["predicted_label"] for r in per_patient])),
        "per_patient": per_patient,
        "aggregation": patient_aggregation(y, p, y_pred, patients, classes, threshold, bootstrap,
                                           _positive_index(classes, positive_class), groups=groups),
    }
