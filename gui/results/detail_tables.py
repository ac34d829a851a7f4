"""The tables of one evaluation: metrics with intervals, patient pooling rules, per-magnification figures."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem

from gui.results.intervals import ci_item, interval_tip

#: (label, getter of the value, key of its interval in ``metrics["ci"]`` or None)
METRIC_ROWS: list[tuple[str, Any, str | None]] = [
    ("images", lambda m: m.get("n"), None),
    ("accuracy", lambda m: m.get("accuracy"), "accuracy"),
    ("balanced accuracy", lambda m: m.get("balanced_accuracy"), "balanced_accuracy"),
    ("ROC AUC", lambda m: m.get("roc_auc"), "roc_auc"),
    ("sensitivity", lambda m: m.get("sensitivity"), "sensitivity"),
    ("specificity", lambda m: m.get("specificity"), "specificity"),
    ("precision (positive)", lambda m: m.get("precision"), "precision"),
    ("F1 (positive)", lambda m: m.get("f1"), "f1"),
    ("precision (macro)", lambda m: (m.get("macro") or {}).get("precision"), None),
    ("recall (macro)", lambda m: (m.get("macro") or {}).get("recall"), None),
    ("F1 (macro)", lambda m: (m.get("macro") or {}).get("f1"), "f1_macro"),
    ("average precision", lambda m: m.get("average_precision"), None),
    ("ECE (15 bins)", lambda m: (m.get("calibration") or {}).get("ece"), None),
    ("Brier score", lambda m: (m.get("calibration") or {}).get("brier"), None),
    ("patient score", lambda m: (m.get("patient") or {}).get("patient_score"), None),
    ("patient vote accuracy", lambda m: (m.get("patient") or {}).get("patient_vote_accuracy"), None),
]


def table(columns: list[str], stretch: bool = True) -> QTableWidget:
    """A read-only table with ``columns`` (stretched to the width, or sized to their contents)."""
    t = QTableWidget(0, len(columns))
    t.setHorizontalHeaderLabels(columns)
    t.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    t.setAlternatingRowColors(True)
    t.verticalHeader().setVisible(False)
    t.verticalHeader().setDefaultSectionSize(24)
    mode = QHeaderView.ResizeMode.Stretch if stretch else QHeaderView.ResizeMode.ResizeToContents
    t.horizontalHeader().setSectionResizeMode(mode)
    return t


def fill_metrics(t: QTableWidget, evaluations: list[tuple[str, dict | None]]) -> None:
    """One column per ``(split name, metrics)``: every figure with its interval ``0.912 [0.850, 0.960]``."""
    t.clear()
    t.setColumnCount(1 + len(evaluations))
    t.setHorizontalHeaderLabels(["metric"] + [name for name, _ in evaluations])
    rows = [r for r in METRIC_ROWS if any(m and r[1](m) is not None for _, m in evaluations)] or METRIC_ROWS[:4]
    t.setRowCount(len(rows))
    for r, (label, getter, ci_key) in enumerate(rows):
        t.setItem(r, 0, QTableWidgetItem(label))
        for c, (_name, m) in enumerate(evaluations, 1):
            m = m or {}
            ci = (m.get("ci") or {}).get(ci_key) if ci_key else None
            tip = interval_tip(m.get("bootstrap")) if ci_key else "No interval is computed for this figure."
            t.setItem(r, c, ci_item(getter(m) if m else None, ci, 4, tip))


def fill_aggregation(t: QTableWidget, metrics: dict) -> None:
    """Patient pooling rules (mean, median, max, vote): patients, accuracy and ROC AUC with intervals."""
    rules = ((metrics.get("patient") or {}).get("aggregation")) or {}
    t.setRowCount(len(rules))
    for r, (rule, row) in enumerate(rules.items()):
        t.setItem(r, 0, QTableWidgetItem(rule))
        t.setItem(r, 1, ci_item(row.get("n_patients")))
        t.setItem(r, 2, ci_item(row.get("accuracy"), row.get("accuracy_ci")))
        t.setItem(r, 3, ci_item(row.get("roc_auc"), row.get("roc_auc_ci")))


def fill_magnifications(t: QTableWidget, metrics: dict) -> None:
    """Per magnification: images, patients (or images) resampled, accuracy and ROC AUC with intervals."""
    mags = metrics.get("magnification") or {}
    t.setRowCount(len(mags))
    for r, (mag, row) in enumerate(mags.items()):
        t.setItem(r, 0, QTableWidgetItem(str(mag)))
        t.setItem(r, 1, ci_item(row.get("n")))
        t.setItem(r, 2, ci_item(row.get("n_units")))
        t.setItem(r, 3, ci_item(row.get("accuracy"), row.get("accuracy_ci")))
        t.setItem(r, 4, ci_item(row.get("roc_auc"), row.get("roc_auc_ci")))


def fill_patients(t: QTableWidget, metrics: dict) -> None:
    """One row per patient: images, correct, accuracy, true label, pooled (mean) prediction."""
    rows = (metrics.get("patient") or {}).get("per_patient") or []
    t.setRowCount(len(rows))
    for r, p in enumerate(rows):
        values = [p.get("patient"), p.get("n"), p.get("correct"), None, p.get("true_label"), p.get("predicted_label")]
        for c, v in enumerate(values):
            t.setItem(r, c, ci_item(p.get("accuracy"), None, 4) if c == 3 else QTableWidgetItem(str(v)))
