"""One run's results: headline metrics, confusion matrix, curves, report, per-patient table."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QAbstractItemView, QComboBox, QHBoxLayout, QHeaderView, QLabel, QPlainTextEdit, QPushButton, QTableWidget,
    QTableWidgetItem, QTabWidget, QVBoxLayout, QWidget,
)

from engine.runs import Run
from gui.results.plots import ConfusionMatrixWidget, CurvePlotWidget, TrainingCurvesWidget
from gui.results.runs_list import model_label

METRIC_ROWS = [
    ("images", lambda m: m.get("n")),
    ("accuracy", lambda m: m.get("accuracy")),
    ("balanced accuracy", lambda m: m.get("balanced_accuracy")),
    ("precision (positive)", lambda m: m.get("precision")),
    ("recall (positive)", lambda m: m.get("recall")),
    ("F1 (positive)", lambda m: m.get("f1")),
    ("precision (macro)", lambda m: (m.get("macro") or {}).get("precision")),
    ("recall (macro)", lambda m: (m.get("macro") or {}).get("recall")),
    ("F1 (macro)", lambda m: (m.get("macro") or {}).get("f1")),
    ("ROC AUC", lambda m: m.get("roc_auc")),
    ("average precision", lambda m: m.get("average_precision")),
    ("patient score", lambda m: (m.get("patient") or {}).get("patient_score")),
    ("patient vote accuracy", lambda m: (m.get("patient") or {}).get("patient_vote_accuracy")),
]
METRIC_SPLITS = ("test", "val")


def fmt(value: Any) -> str:
    """A metric as text: 4 decimals for floats, ``–`` when missing."""
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def _table(columns: list[str]) -> QTableWidget:
    table = QTableWidget(0, len(columns))
    table.setHorizontalHeaderLabels(columns)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setAlternatingRowColors(True)
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
    return table


class RunResultsWidget(QWidget):
    """Everything recorded about one run; also works for running, cancelled and failed runs."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.run: Run | None = None
        self.evaluation: dict[str, Any] = {}
        self.header = QLabel("No run selected.")
        self.header.setWordWrap(True)
        self.header.setTextFormat(Qt.TextFormat.RichText)
        self.split_combo = QComboBox()
        self.split_combo.currentTextChanged.connect(self._on_split_changed)
        top = QHBoxLayout()
        top.addWidget(self.header, 1)
        top.addWidget(QLabel("Split:"))
        top.addWidget(self.split_combo)
        self.browse_button = QPushButton("Browse predictions")
        self.browse_button.setToolTip("Per-image predictions with CAM heatmaps (Explain menu)")
        self.browse_button.setEnabled(False)
        self.browse_button.clicked.connect(self._on_browse_clicked)
        top.addWidget(self.browse_button)
        self.metrics_table = _table(["metric"] + list(METRIC_SPLITS))
        self.metrics_table.verticalHeader().setVisible(False)
        self.confusion = ConfusionMatrixWidget()
        self.roc = CurvePlotWidget("roc")
        self.pr = CurvePlotWidget("pr")
        curves = QWidget()
        row = QHBoxLayout(curves)
        row.addWidget(self.roc)
        row.addWidget(self.pr)
        self.training = TrainingCurvesWidget()
        self.report = QPlainTextEdit()
        self.report.setReadOnly(True)
        self.report.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.patients = _table(["patient", "images", "correct", "accuracy", "true", "predicted (vote)"])
        self.tabs = QTabWidget()
        for widget, title in ((self.metrics_table, "Metrics"), (self.confusion, "Confusion matrix"),
                              (curves, "ROC / PR"), (self.training, "Training curves"), (self.report, "Report"),
                              (self.patients, "Patients")):
            self.tabs.addTab(widget, title)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.tabs, 1)

    def set_run(self, run: Run | None) -> None:
        """Show ``run`` (``None`` clears the view); call again to refresh a running run."""
        self.run = run
        self.evaluation = (run.read("evaluation.json", {}) or {}) if run else {}
        self._set_header(run)
        self.browse_button.setEnabled(bool(run and run.file("predictions.csv").exists()))
        self._fill_metrics()
        self.training.set_rows(run.metrics() if run else [])
        ssl = bool(run and run.config.get("kind") == "ssl")
        for i in range(self.tabs.count()):  # an SSL run has no labels: only its training curves mean anything
            self.tabs.setTabEnabled(i, not ssl or self.tabs.widget(i) is self.training)
        if ssl:
            self.tabs.setCurrentWidget(self.training)
        splits = [s for s in ("test", "val", "train") if s in self.evaluation] + \
                 [s for s in self.evaluation if s not in ("test", "val", "train")]
        current = self.split_combo.currentText()
        self.split_combo.blockSignals(True)
        self.split_combo.clear()
        self.split_combo.addItems(splits)
        if current in splits:
            self.split_combo.setCurrentText(current)
        self.split_combo.blockSignals(False)
        self._on_split_changed(self.split_combo.currentText())

    def _set_header(self, run: Run | None) -> None:
        if run is None:
            self.header.setText("No run selected.")
            return
        summary, cfg = run.summary, run.config
        status = summary.get("status", "unknown")
        colour = {"completed": "#1b5e20", "failed": "#b00020", "cancelled": "#e65100"}.get(status, "#0d47a1")
        model = model_label(cfg) or "?"
        parts = [f"<b>{run.id}</b> &nbsp; <span style='color:{colour}'><b>{status}</b></span>",
                 f"model {model}", f"preset {cfg.get('preset') or 'custom'}",
                 f"split {summary.get('split_mode', '?')}", f"device {summary.get('device', '?')}"]
        if summary.get("epochs_run") is not None:
            parts.append(f"{summary['epochs_run']} epochs (best {summary.get('best_epoch')})")
        text = " · ".join(parts)
        if summary.get("image_level_split"):
            text += "<br><span style='color:#e65100'>Image-level split: test figures may be optimistic.</span>"
        if status == "failed":
            text += f"<br><span style='color:#b00020'>Error: {_escape(summary.get('error', 'unknown error'))}</span>"
        elif status in ("running", "preparing"):
            text += f"<br>Still running: {len(run.metrics())} epoch(s) recorded so far."
        elif status == "cancelled":
            text += "<br>Cancelled: the best weights so far were kept; it can be resumed."
        if cfg.get("kind") == "ssl":
            text += ("<br>Self-supervised pretraining: no labels, so no test metrics. Use Self-supervised → "
                     "Linear probe / fine-tune to measure it, or Analyze → Embeddings to look at its features.")
        elif not self.evaluation and status not in ("running", "preparing"):
            text += "<br>No evaluation.json: test metrics are not available for this run."
        self.header.setText(text)

    def _fill_metrics(self) -> None:
        self.metrics_table.setRowCount(len(METRIC_ROWS))
        for r, (name, getter) in enumerate(METRIC_ROWS):
            self.metrics_table.setItem(r, 0, QTableWidgetItem(name))
            for c, split in enumerate(METRIC_SPLITS, 1):
                m = self.evaluation.get(split)
                self.metrics_table.setItem(r, c, QTableWidgetItem(fmt(getter(m)) if m else "–"))

    def _on_browse_clicked(self) -> None:
        actions = getattr(self.window(), "explain_actions", None)  # installed by gui.explain.actions
        if actions is not None and self.run is not None:
            actions.open_browser(str(self.run.path))

    def _on_split_changed(self, split: str) -> None:
        m = self.evaluation.get(split) or {}
        self.confusion.set_metrics(m)
        self.roc.set_metrics(m)
        self.pr.set_metrics(m)
        report = m.get("classification_report", "")
        if m.get("auc_note"):
            report += f"\n\nnote: {m['auc_note']}"
        self.report.setPlainText(report or "No classification report for this split.")
        rows = (m.get("patient") or {}).get("per_patient") or []
        self.patients.setRowCount(len(rows))
        for r, p in enumerate(rows):
            values = [p.get("patient"), p.get("n"), p.get("correct"), fmt(p.get("accuracy")),
                      p.get("true_label"), p.get("predicted_label")]
            for c, v in enumerate(values):
                self.patients.setItem(r, c, QTableWidgetItem(str(v)))


def _escape(text: str) -> str:
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
