"""File > Export model to ONNX...: export a run to a verified package and show the parity report.

Only finished classifier runs are offered; a self-supervised run (an encoder without a classifier) is
explained in a sentence with a Fine-tune... button instead.
"""

from __future__ import annotations

import html
from pathlib import Path

from PySide6.QtCore import Slot
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDialog, QDialogButtonBox, QFormLayout, QHBoxLayout, QLabel,
                               QPushButton, QVBoxLayout, QWidget)

from gui.deploy.fields import PathFieldWidget, completed_runs
from gui.run_lists import is_ssl_run


def ssl_run_sentence(run_dir: str) -> str:
    """Why a self-supervised run cannot be exported, and what to do instead."""
    return (f"{Path(run_dir).name} is a self-supervised run: it learned image features but has no classifier to "
            "export. Fine-tune it on labelled images first; the fine-tuned run can then be exported.")


def parity_report_html(result: dict) -> str:
    """The export result (from ``export_run``) as a short HTML report."""
    diff = result["max_prob_diff"]
    verdict = "<span style='color:#1a7f37'><b>PASS</b></span>" if result.get("parity_ok") \
        else "<span style='color:#c62828'><b>FAIL</b></span>"
    lines = [f"Parity check: {verdict} &mdash; max |p<sub>PyTorch</sub> &minus; p<sub>ONNX</sub>| = "
             f"<b>{diff:.2e}</b> (limit 1e-04) on "
             f"{result.get('parity_source') or str(result.get('parity_images', '?')) + ' images'}"]
    if result.get("int8"):
        from engine.deploy.quantize import describe_int8

        lines.append(html.escape(describe_int8(result["int8"])).replace("-&gt;", "&rarr;"))
    lines.append(f"Package: <code>{result['package']}</code>")
    return "<br>".join(lines)


class ExportDialog(QDialog):
    """Choose a run, an output folder and int8; "Export" queues the job and the report appears here.

    ``submit(run_dir, out, int8, on_finished, on_failed, on_cancelled=...)`` queues the export (given by the
    deploy actions) and returns the Job; :meth:`show_result` / :meth:`show_failure` / :meth:`show_cancelled`
    fill the report when it ends. ``fine_tune(ssl_run_dir)`` (optional) opens the fine-tune dialog for an SSL run.
    """

    def __init__(self, runs_dir: str | None, submit, parent: QWidget | None = None, *, run_dir: str | None = None,
                 fine_tune=None):
        super().__init__(parent)
        self.setWindowTitle("Export model to ONNX")
        self.setMinimumWidth(680)
        self._submit = submit
        self._fine_tune = fine_tune
        self.ssl_run: str | None = None  # the SSL run asked for, explained instead of listed
        self._closed = False  # set when the dialog ends: late job callbacks must not touch its widgets
        self.job = None
        self.result: dict | None = None
        self.run_combo = QComboBox()
        for run in completed_runs(runs_dir):
            self.run_combo.addItem(run.id, str(run.path))
        self.ssl_label = QLabel()
        self.ssl_label.setWordWrap(True)
        self.fine_tune_button = QPushButton("Fine-tune...")
        self.fine_tune_button.setToolTip("Train a classifier from this SSL run's encoder on a labelled dataset")
        self.fine_tune_button.clicked.connect(self._on_fine_tune)
        self.ssl_row = QWidget()
        ssl_layout = QHBoxLayout(self.ssl_row)
        ssl_layout.setContentsMargins(0, 0, 0, 0)
        ssl_layout.addWidget(self.ssl_label, 1)
        ssl_layout.addWidget(self.fine_tune_button)
        self.ssl_row.hide()
        if run_dir:
            self.set_run(run_dir)
        self.out_field = PathFieldWidget("Folder for the model package", placeholder="(inside the run folder)")
        self.int8_check = QCheckBox(
            "Also write an int8 model (smaller and faster on CPU; its accuracy change is measured)")
        form = QFormLayout()
        form.addRow("Run:", self.run_combo)
        form.addRow("Save package in:", self.out_field)
        form.addRow("", self.int8_check)
        self.report_label = QLabel("The export is checked against PyTorch: the ONNX model must give the same "
                                   "probabilities (within 1e-4) on the run's test images.")
        self.report_label.setWordWrap(True)
        self.report_label.setMinimumHeight(70)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Close)
        self.export_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.export_button.setText("Export")
        self.export_button.setEnabled(self.run_combo.count() > 0)
        self.buttons.accepted.connect(self._on_export)
        self.buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(self.ssl_row)
        lay.addLayout(form)
        lay.addWidget(self.report_label, 1)
        lay.addWidget(self.buttons)
        if self.run_combo.count() == 0:
            self.report_label.setText("No finished run to export yet: train a model first (Train > New training).")

    # --- public API ---------------------------------------------------------
    def run_dir(self) -> str:
        """The selected run folder ("" when none)."""
        return self.run_combo.currentData() or ""

    def set_run(self, run_dir: str) -> None:
        """Select ``run_dir`` (added to the list when missing); an SSL run is explained instead (Fine-tune...)."""
        from engine.runs import Run

        if is_ssl_run(Run(Path(run_dir))):
            self.ssl_run = str(run_dir)
            self.ssl_label.setText(ssl_run_sentence(run_dir))
            self.fine_tune_button.setVisible(self._fine_tune is not None)
            self.ssl_row.show()
            return
        index = self.run_combo.findData(str(run_dir))
        if index < 0:
            self.run_combo.addItem(Path(run_dir).name, str(run_dir))
            index = self.run_combo.count() - 1
        self.run_combo.setCurrentIndex(index)

    def show_result(self, result: dict) -> None:
        """Show the parity report of a finished export."""
        if self._closed:
            return
        self.result = result
        self.report_label.setText(parity_report_html(result))
        self._set_busy(False)

    def show_failure(self, message: str) -> None:
        """Show why the export failed (the Jobs tab also shows it in an error dialog)."""
        if self._closed:
            return
        self.report_label.setText(f"<span style='color:#c62828'><b>Export failed:</b></span> {message}")
        self._set_busy(False)

    def show_cancelled(self) -> None:
        """The export job was cancelled (from the Jobs tab): ready for another export."""
        if self._closed:
            return
        self.report_label.setText("Export cancelled.")
        self._set_busy(False)

    def done(self, result: int) -> None:
        """Closing: the export job keeps running in the Jobs tab, but no longer reports here."""
        self._closed = True
        super().done(result)

    # --- internals ------------------------------------------------------------
    def _set_busy(self, busy: bool) -> None:
        self.export_button.setEnabled(not busy)
        self.run_combo.setEnabled(not busy)

    @Slot()
    def _on_fine_tune(self) -> None:
        """Close this dialog and open the fine-tune dialog for the SSL run."""
        if self.ssl_run is None or self._fine_tune is None:
            return
        run_dir = self.ssl_run
        self.reject()
        self._fine_tune(run_dir)

    @Slot()
    def _on_export(self) -> None:
        if not self.run_dir():
            return
        self.result = None
        self._set_busy(True)
        self.report_label.setText("Exporting and checking parity... (progress in the Jobs tab)")
        self.job = self._submit(self.run_dir(), self.out_field.path() or None, self.int8_check.isChecked(),
                                self.show_result, self.show_failure, on_cancelled=self.show_cancelled)
