"""Classification metrics for one evaluation: image level and patient level.

:func:`compute_metrics` turns true labels and class probabilities into one
JSON-serialisable dict (written to ``summary.json``, shown by the GUI and the
CLI). Label metrics follow scikit-learn with ``labels=range(C)`` and
``zero_division=0``, so classes that are absent from the data still get a
row. Patient-level figures follow the BreaKHis convention (see
``methods.md``, "Protocol pitfalls"): the *patient score* is the mean over
patients of the per-patient image accuracy (Spanhol et al., "A Dataset for
Breast Cancer Histopathological Image Classification", IEEE TBME 2016).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import classification_report, confusion_matrix, precision_recall_fscore_support

from engine.errors import ConfigError, DataError
from engine.evaluation.curves import DEFAULT_MAX_POINTS, score_summary
from engine.io_utils import to_jsonable


def compute_metrics(
    y_true: Sequence[int] | np.ndarray,
    probs: Sequence[Sequence[float]] | np.ndarray,
    classes: Sequence[str],
    *,
    patients: Sequence[Any] | None = None,
    positive_class: str | None = None,
    max_curve_points: int | None = DEFAULT_MAX_POINTS,
) -> dict[str, Any]:
    """All metrics of one evaluation as a JSON-serialisable dict.

    ``y_true`` holds class indices (N,), ``probs`` class probabilities (N, C)
    (a single-logit binary model passes ``[1-p, p]``), ``classes`` the C class
    names. The prediction is the arg-max class. With two classes the positive
    class is ``classes[1]`` unless ``positive_class`` names another.
    ``patients`` (N ids, ``None``/``""`` for unknown) adds a ``"patient"``
    block. Curves are thinned to ``max_curve_points`` (``None`` keeps all);
    areas are always computed on the full data. Undefined values (AUC with one
    class present) are ``None`` with an explanatory ``"auc_note"``.

    Raises :class:`DataError` for empty or inconsistent inputs and
    :class:`ConfigError` for an unknown ``positive_class``.
    """
    y, p, names = _validate(y_true, probs, classes)
    y_pred = p.argmax(axis=1)
    out: dict[str, Any] = {"n": int(len(y)), "classes": names}
    out.update(label_metrics(y, y_pred, names))
    if len(names) == 2:
        out.update(_binary_scores(y, p, names, positive_class, out["per_class"], max_curve_points))
    else:
        out.update(_multiclass_scores(y, p, names, max_curve_points))
    if patients is not None:
        out["patient"] = patient_level_metrics(y, p, names, patients)
    return to_jsonable(out)


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
    positive_class: str | None,
    per_class: dict[str, dict],
    max_points: int | None,
) -> dict[str, Any]:
    """Positive-class P/R/F1, ROC AUC, ROC and PR curves and AP of a two-class problem."""
    if positive_class is None:
        pos = 1
    elif str(positive_class) in classes:
        pos = classes.index(str(positive_class))
    else:
        raise ConfigError(f"Positive class {positive_class!r} is not one of the classes {classes}.")
    name = classes[pos]
    out: dict[str, Any] = {"positive_class": name}
    out.update({k: float(per_class[name][k]) for k in ("precision", "recall", "f1")})
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
) -> dict[str, Any] | None:
    """Patient-level figures; ``None`` when no image has a patient id.

    ``patient_score``: mean over patients of the per-patient image accuracy
    (the BreaKHis "patient-level accuracy"). ``patient_vote_accuracy``: one
    prediction per patient, the arg-max of the mean probability, against the
    patient's majority true label (ties go to the lower class index). Images
    whose id is ``None`` or ``""`` are left out and counted in
    ``n_images_without_patient``.
    """
    y = np.asarray(y_true, dtype=int)
    p = np.asarray(probs, dtype=float)
    if len(patients) != len(y):
        raise DataError(f"Got {len(patients)} patient ids for {len(y)} images; they must match.")
    groups: dict[str, list[int]] = {}
    for i, pid in enumerate(patients):
        if pid is not None and str(pid) != "":
            groups.setdefault(str(pid), []).append(i)
    if not groups:
        return None
    y_pred = p.argmax(axis=1)
    per_patient = []
    for pid, idx in groups.items():
        true = int(np.bincount(y[idx], minlength=len(classes)).argmax())
        pred = int(p[idx].mean(axis=0).argmax())
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
    }


def _fmt(value: Any, width: int = 8) -> str:
    """A metric right-aligned with 4 decimals, or ``n/a`` when undefined."""
    return f"{value:>{width}.4f}" if isinstance(value, (int, float)) else f"{'n/a':>{width}}"


def format_metrics_table(metrics: dict[str, Any]) -> str:
    """A compact aligned text summary of :func:`compute_metrics`' output for the CLI.

    Shows image counts, accuracy, balanced accuracy, ROC AUC, average
    precision, a precision/recall/F1 table (per class, macro, weighted; the
    positive class of a binary problem is starred) and patient-level figures.
    """
    classes = metrics.get("classes", [])
    pos = metrics.get("positive_class")
    head = f"{metrics.get('n', 0)} images, {len(classes)} classes" + (f" (positive: {pos})" if pos else "")
    auc_label = "ROC AUC" if len(classes) == 2 else "ROC AUC (OvR macro)"
    lines = [
        head,
        f"  {'accuracy':<20}{_fmt(metrics.get('accuracy'))}    {'balanced accuracy':<20}"
        f"{_fmt(metrics.get('balanced_accuracy'))}",
        f"  {auc_label:<20}{_fmt(metrics.get('roc_auc'))}    {'average precision':<20}"
        f"{_fmt(metrics.get('average_precision'))}",
    ]
    if "roc_auc_ovr_micro" in metrics:
        lines.append(f"  {'ROC AUC (micro)':<20}{_fmt(metrics['roc_auc_ovr_micro'])}")
    width = max([len(c) + 2 for c in classes] + [14])
    lines += ["", f"  {'':<{width}}{'precision':>10}{'recall':>8}{'f1':>8}{'support':>9}"]
    for name, row in metrics.get("per_class", {}).items():
        label = f"{name} *" if name == pos else name
        lines.append(
            f"  {label:<{width}}{_fmt(row['precision'], 10)}{_fmt(row['recall'])}{_fmt(row['f1'])}{row['support']:>9}"
        )
    for avg in ("macro", "weighted"):
        row = metrics.get(avg, {})
        lines.append(
            f"  {avg + ' avg':<{width}}{_fmt(row.get('precision'), 10)}{_fmt(row.get('recall'))}{_fmt(row.get('f1'))}"
        )
    patient = metrics.get("patient")
    if patient:
        lines += [
            "",
            f"  {'patients':<20}{patient['n_patients']:>8}    {'patient score':<20}{_fmt(patient['patient_score'])}",
            f"  {'':<20}{'':>8}    {'patient vote acc.':<20}{_fmt(patient['patient_vote_accuracy'])}",
        ]
    if metrics.get("auc_note"):
        lines += ["", f"  note: {metrics['auc_note']}"]
    return "\n".join(lines)
