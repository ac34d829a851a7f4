"""One run's results: every figure with its interval, warnings first, calibration, patients, magnifications.

The split selector lists the run's own splits (test, val, train) and its
external evaluations ("external: <name>", read from ``external/<name>/``).
The amber banner at the top lists the small-sample warnings of the split
shown (and run-wide ones: image-level split, curation of test images).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QComboBox, QHBoxLayout, QLabel, QPlainTextEdit, QPushButton, QTabWidget, QTextBrowser, QVBoxLayout, QWidget,
)

from engine.errors import HistoDeskError
from engine.run_table import model_label
from engine.runs import Run
from gui.results import detail_tables as dt
from gui.results.calibration_view import CalibrationWidget
from gui.results.data_notes import external_html, external_warnings, run_notes_html, run_warnings
from gui.results.intervals import WarningBanner, html_escape
from gui.results.plots import ConfusionMatrixWidget, CurvePlotWidget, TrainingCurvesWidget

METRIC_SPLITS = ("test", "val")
EXTERNAL_PREFIX = "external: "


def fmt(value: Any) -> str:
    """A metric as text: 4 decimals for floats, ``–`` when missing."""
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def _vbox(*widgets: QWidget) -> QWidget:
    box = QWidget()
    lay = QVBoxLayout(box)
    lay.setContentsMargins(0, 0, 0, 0)
    for w in widgets:
        lay.addWidget(w, 0 if isinstance(w, QLabel) else 1)
    return box


class RunResultsWidget(QWidget):
    """Everything recorded about one run; also works for running, cancelled and failed runs."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.run: Run | None = None
        self.summary: dict[str, Any] = {}  # the run's summary.json and config.json
        self.config: dict[str, Any] = {}
        self.evaluation: dict[str, Any] = {}
        self.externals: dict[str, dict] = {}  # split label -> meta.json of an external evaluation
        self.header = QLabel("No run selected.")
        self.header.setWordWrap(True)
        self.header.setTextFormat(Qt.TextFormat.RichText)
        self.split_combo = QComboBox()
        self.split_combo.setMinimumContentsLength(12)
        self.split_combo.setToolTip("The run's splits and its external evaluations")
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
        self.banner = WarningBanner()
        self.metrics_table = dt.table(["metric"] + list(METRIC_SPLITS))
        self.interval_note = QLabel()
        self.interval_note.setStyleSheet("color: #555;")
        self.calibration = CalibrationWidget()
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
        self.aggregation = dt.table(["pooling rule", "patients", "accuracy [95% CI]", "ROC AUC [95% CI]"])
        self.aggregation.setMaximumHeight(150)
        self.patient_note = QLabel()
        self.patients = dt.table(["patient", "images", "correct", "accuracy", "true", "predicted (mean)"])
        self.magnifications = dt.table(["magnification", "images", "patients resampled", "accuracy [95% CI]",
                                        "ROC AUC [95% CI]"])
        self.mag_note = QLabel()
        self.data_notes = QTextBrowser()
        self.tabs = QTabWidget()
        self.patients_page = _vbox(QLabel("<b>Patient level</b>: each patient's images pooled into one "
                                          "prediction by four rules"), self.aggregation, self.patient_note,
                                   self.patients)
        mag_page = _vbox(self.mag_note, self.magnifications)
        for widget, title in ((_vbox(self.metrics_table, self.interval_note), "Metrics"),
                              (self.calibration, "Calibration"), (self.confusion, "Confusion"),
                              (curves, "ROC / PR"), (self.training, "Training"), (self.report, "Report"),
                              (self.patients_page, "Patients"), (mag_page, "Magnifications"),
                              (self.data_notes, "Data")):
            self.tabs.addTab(widget, title)
        # Each tab is drawn when it is shown (a run or split change redraws only the visible tab): the GUI
        # thread never spends long on plots nobody looks at.
        self._renderers = {self.calibration: self._render_calibration, self.confusion: self._render_confusion,
                           curves: self._render_curves, self.training: self._render_training,
                           self.report: self._render_report, self.patients_page: self._render_patients,
                           mag_page: self._render_magnifications, self.data_notes: self._render_notes}
        self._dirty: set = set()
        self._m: dict = {}
        self._meta: dict | None = None
        self.tabs.currentChanged.connect(lambda _i: self._render_current())
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.banner)
        layout.addWidget(self.tabs, 1)

    # --- public API -------------------------------------------------------
    def set_run(self, run: Run | None, split: str | None = None) -> None:
        """Show ``run`` (``None`` clears the view) on ``split`` (default: the split shown before, else test);
        call again to refresh a running run."""
        self.run = run
        self.summary, self.config = (run.summary, run.config) if run else ({}, {})  # read once per selection
        self.evaluation = (run.read("evaluation.json", {}) or {}) if run else {}
        self.externals = self._external_metas(run)
        self._set_header(run)
        self.browse_button.setEnabled(bool(run and run.file("predictions.csv").exists()))
        self._dirty.add(self.training)
        ssl = self.config.get("kind") == "ssl"
        for i in range(self.tabs.count()):  # an SSL run has no labels: only its training curves mean anything
            self.tabs.setTabEnabled(i, not ssl or self.tabs.widget(i) is self.training)
        if ssl:
            self.tabs.setCurrentWidget(self.training)
        splits = [s for s in ("test", "val", "train") if s in self.evaluation] + \
                 [s for s in self.evaluation if s not in ("test", "val", "train")] + list(self.externals)
        current = self.split_combo.currentText() if split is None else split
        current = current if current in splits else EXTERNAL_PREFIX + current
        self.split_combo.blockSignals(True)
        self.split_combo.clear()
        self.split_combo.addItems(splits)
        if current in splits:
            self.split_combo.setCurrentText(current)
        self.split_combo.blockSignals(False)
        self._on_split_changed(self.split_combo.currentText())

    def select_split(self, name: str) -> bool:
        """Show split ``name`` ("test", or an external evaluation's name / "external: <name>"); False if absent."""
        label = name if self.split_combo.findText(name) >= 0 else EXTERNAL_PREFIX + name
        if self.split_combo.findText(label) < 0:
            return False
        self.split_combo.setCurrentText(label)
        return True

    def split_metrics(self, label: str) -> dict:
        """The metrics of split ``label`` (an external evaluation's are read from its folder)."""
        if label in self.externals:
            meta = self.externals[label]
            if "metrics" not in meta:
                from engine.evaluation.external import load_external_evaluation

                try:
                    meta["metrics"] = (load_external_evaluation(self.run, meta["name"]) or {}).get("external") or {}
                except (HistoDeskError, OSError, ValueError) as exc:
                    meta["metrics"], meta["error"] = {}, str(exc)
            return meta["metrics"]
        return self.evaluation.get(label) or {}

    # --- helpers ----------------------------------------------------------
    @staticmethod
    def _external_metas(run: Run | None) -> dict[str, dict]:
        if run is None or not run.file("external").is_dir():
            return {}
        from engine.evaluation.external import list_external_evaluations

        return {EXTERNAL_PREFIX + m["name"]: m for m in list_external_evaluations(run)}

    def _set_header(self, run: Run | None) -> None:
        if run is None:
            self.header.setText("No run selected.")
            return
        summary, cfg = self.summary, self.config
        status = summary.get("status", "unknown")
        colour = {"completed": "#1b5e20", "failed": "#b00020", "cancelled": "#e65100"}.get(status, "#0d47a1")
        parts = [f"<b>{html_escape(run.id)}</b> &nbsp; <span style='color:{colour}'><b>{status}</b></span>",
                 f"model {html_escape(model_label(cfg) or '?')}",
                 f"preset {html_escape(cfg.get('preset') or 'custom')}",
                 f"split {summary.get('split_mode', '?')}", f"device {summary.get('device', '?')}"]
        if summary.get("epochs_run") is not None:
            parts.append(f"{summary['epochs_run']} epochs (best {summary.get('best_epoch')})")
        text = " · ".join(parts)
        if status == "failed":
            error = html_escape(summary.get("error", "unknown error"))
            text += f"<br><span style='color:#b00020'>Error: {error}</span>"
        elif status in ("running", "preparing"):
            text += f"<br>Still running: {len(run.metrics())} epoch(s) recorded so far."
        elif status == "cancelled":
            text += "<br>Cancelled: the best weights so far were kept. Resume it with Resume (under the runs list)."
        if cfg.get("kind") == "ssl":
            text += ("<br>Self-supervised pretraining: no labels, so no test metrics. Use Self-supervised → "
                     "Linear probe / fine-tune to measure it, or Analyze → Embeddings to look at its features.")
        elif not self.evaluation and status not in ("running", "preparing"):
            text += "<br>No evaluation.json: test metrics are not available for this run."
        self.header.setText(text)

    def _on_browse_clicked(self) -> None:
        from gui.explain.actions import ExplainActions
        from gui.extensions import ExtensionHost

        host = self.window()
        actions = host.find_extension(ExplainActions) if isinstance(host, ExtensionHost) else None
        if actions is not None and self.run is not None:
            actions.open_browser(str(self.run.path))

    def _on_split_changed(self, split: str) -> None:
        m = self.split_metrics(split) if split else {}
        shown = [(s, self.evaluation.get(s)) for s in METRIC_SPLITS if s in self.evaluation or not split]
        if split and split not in METRIC_SPLITS:
            shown.append((split, m))
        dt.fill_metrics(self.metrics_table, shown or [(s, None) for s in METRIC_SPLITS])
        boot = m.get("bootstrap") or {}
        self.interval_note.setText(
            f"Brackets: {int(round(boot.get('level', 0.95) * 100))}% percentile intervals from a bootstrap over "
            f"{boot.get('n_units', '?')} {boot.get('unit', 'patient')}s ({boot.get('n', '?')} replicates; hover a "
            "figure for details)." if boot else "No intervals for this split (bootstrap off or not evaluated).")
        summary = self.summary
        meta = self.externals.get(split)
        warnings = [f"{split}: {w}" for w in m.get("warnings") or []] + run_warnings(summary)
        warnings += external_warnings(meta) if meta else []
        self.banner.set_warnings(warnings, "Read these figures with care")
        self._m, self._meta = m, meta
        self._dirty |= set(self._renderers) - {self.training}
        self._render_current()

    def render_all(self) -> None:
        """Draw every tab now (screenshots; the view itself draws a tab when it is shown)."""
        for widget in list(self._dirty):
            self._dirty.discard(widget)
            self._renderers[widget]()

    def _render_current(self) -> None:
        widget = self.tabs.currentWidget()
        if widget in self._dirty:
            self._dirty.discard(widget)
            self._renderers[widget]()

    def _render_calibration(self) -> None:
        self.calibration.set_metrics(self._m, self.summary.get("calibration"))

    def _render_confusion(self) -> None:
        self.confusion.set_metrics(self._m)

    def _render_curves(self) -> None:
        self.roc.set_metrics(self._m)
        self.pr.set_metrics(self._m)

    def _render_training(self) -> None:
        self.training.set_rows(self.run.metrics() if self.run else [])

    def _render_report(self) -> None:
        report = self._m.get("classification_report", "")
        if self._m.get("auc_note"):
            report += f"\n\nnote: {self._m['auc_note']}"
        self.report.setPlainText(report or "No classification report for this split.")

    def _render_magnifications(self) -> None:
        dt.fill_magnifications(self.magnifications, self._m)
        self.mag_note.setText("Figures per magnification, each with its own bootstrap interval." if
                              self._m.get("magnification") else "No magnification is known for the images of this "
                                                                "split.")

    def _render_notes(self) -> None:
        notes = external_html(self._meta) if self._meta else ""
        if self.run is not None:
            notes += ("<hr>" if notes else "") + run_notes_html(self.summary)
        self.data_notes.setHtml(notes or "No run selected.")

    def _render_patients(self) -> None:
        self._fill_patients(self._m)

    def _fill_patients(self, m: dict) -> None:
        patient = m.get("patient") or {}
        dt.fill_aggregation(self.aggregation, m)
        dt.fill_patients(self.patients, m)
        self.patient_note.setText(
            f"{patient.get('n_patients', 0)} patients · patient score (mean per-patient accuracy) "
            f"{fmt(patient.get('patient_score'))} · {patient.get('n_images_without_patient', 0)} images without a "
            "patient id left out" if patient else "No patient ids for this split: no patient-level figures.")
