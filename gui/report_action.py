"""Export report...: the HTML / PDF report of a run or a study, written by a job, then opened on request.

:class:`ReportDialog` chooses the formats and the folder (the engine's
outputs folder by default), runs :func:`engine.report.export.export_report`
on the window's job queue with progress and Cancel, and then offers
"Open report" and "Open folder" (QDesktopServices).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QUrl, Slot
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QCheckBox, QDialog, QFormLayout, QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget,
)

from gui.extensions import ExtensionHost
from gui.path_field import PathFieldWidget
from gui.results.intervals import html_escape
from gui.workers import CANCELLED, DONE, Job


def _export_job(path: str, out_dir: str, formats: list[str], explain: bool, *, progress, cancel) -> dict:
    from engine.report.export import export_report

    return export_report(path, out_dir, formats, explain=explain, progress=progress, cancel=cancel)


class ReportDialog(QDialog):
    """Formats, folder, Export (a job with progress and Cancel), then Open report / Open folder."""

    def __init__(self, window: ExtensionHost, path: str | Path, parent: QWidget | None = None):
        super().__init__(parent or window)
        from engine.report.export import default_out_dir
        from engine.studies.store import is_study

        self.window_ = window
        self.path = Path(path)
        self.job: Job | None = None
        self.result: dict | None = None
        study = is_study(self.path)
        self.setWindowTitle(f"Export report: {self.path.name}")
        self.html_check, self.pdf_check = QCheckBox("HTML (one self-contained file)"), QCheckBox("PDF")
        self.html_check.setChecked(True)
        self.pdf_check.setChecked(True)
        formats = QHBoxLayout()
        formats.addWidget(self.html_check)
        formats.addWidget(self.pdf_check)
        formats.addStretch(1)
        self.folder_edit = PathFieldWidget("Report folder", text=str(default_out_dir()))
        self.explain_check = QCheckBox("Grad-CAM overlays of the worst errors (slower)")
        self.explain_check.setChecked(not study)
        self.explain_check.setEnabled(not study)
        form = QFormLayout()
        form.addRow("Report of:", QLabel(f"{'study' if study else 'run'} <b>{html_escape(self.path.name)}</b>"))
        form.addRow("Formats:", formats)
        form.addRow("Folder:", self.folder_edit)
        form.addRow("", self.explain_check)
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.status = QLabel("The report never goes inside the dataset folder or changes the run.")
        self.status.setWordWrap(True)
        self.export_button = QPushButton("Export")
        self.export_button.setDefault(True)
        self.cancel_button = QPushButton("Cancel")
        self.open_button = QPushButton("Open report")
        self.folder_button = QPushButton("Open folder")
        for button in (self.open_button, self.folder_button):
            button.setEnabled(False)
        self.export_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self._on_cancel)
        self.open_button.clicked.connect(self.open_report)
        self.folder_button.clicked.connect(self.open_folder)
        buttons = QHBoxLayout()
        buttons.addWidget(self.open_button)
        buttons.addWidget(self.folder_button)
        buttons.addStretch(1)
        buttons.addWidget(self.export_button)
        buttons.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.bar)
        layout.addWidget(self.status)
        layout.addLayout(buttons)
        queue = window.queue
        queue.job_progress.connect(self._on_progress)
        queue.job_finished.connect(self._on_finished)
        queue.job_failed.connect(self._on_failed)
        self.resize(640, 260)

    # --- public API -------------------------------------------------------
    def formats(self) -> list[str]:
        """The formats ticked."""
        return [f for f, box in (("html", self.html_check), ("pdf", self.pdf_check)) if box.isChecked()]

    def start(self) -> Job | None:
        """Queue the export job (nothing when no format is ticked or a job already runs)."""
        if self.job is not None and self.job.state in ("queued", "running"):
            return self.job
        if not self.formats():
            self._say("Tick HTML, PDF or both.", error=True)
            return None
        self.result = None
        for button in (self.open_button, self.folder_button):
            button.setEnabled(False)
        self.export_button.setEnabled(False)
        self.bar.setValue(0)
        self._say("Queued: the report starts when the jobs before it have ended." if not self.window_.queue.is_idle()
                  else "Writing the report…")
        self.job = self.window_.queue.submit(f"Report {self.path.name}", _export_job, str(self.path),
                                             self.folder_edit.path() or None, self.formats(),
                                             self.explain_check.isChecked(), kind="report")
        return self.job

    def report_file(self) -> str | None:
        """The PDF written (else the HTML), once the job is done."""
        if not self.result:
            return None
        return self.result.get("pdf") or self.result.get("html")

    def open_report(self) -> None:
        """Open the report in the system viewer."""
        if self.report_file():
            QDesktopServices.openUrl(QUrl.fromLocalFile(self.report_file()))

    def open_folder(self) -> None:
        """Open the folder holding the report."""
        if self.report_file():
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(Path(self.report_file()).parent)))

    # --- slots ------------------------------------------------------------
    def _say(self, text: str, error: bool = False) -> None:
        self.status.setStyleSheet("color: #b00020;" if error else "")
        self.status.setText(text)

    @Slot(object, object)
    def _on_progress(self, job, event) -> None:
        if job is not self.job or event.stage == "log":
            return
        if event.fraction is not None:
            self.bar.setValue(int(event.fraction * 1000))
        self._say(event.message or event.stage)

    @Slot(object)
    def _on_finished(self, job) -> None:
        if job is not self.job:
            return
        self.export_button.setEnabled(True)
        if job.state == CANCELLED:
            self._say("Cancelled: nothing was written.")
            return
        if job.state == DONE:
            self.result = job.result
            written = [self.result[k] for k in ("html", "pdf") if self.result.get(k)]
            self.bar.setValue(1000)
            self._say("Written:\n" + "\n".join(written))
            self.open_button.setEnabled(True)
            self.folder_button.setEnabled(True)
            self.cancel_button.setText("Close")

    @Slot(object, str, str)
    def _on_failed(self, job, message: str, _trace: str) -> None:
        if job is self.job:
            self.export_button.setEnabled(True)
            self._say(f"The report failed: {message}", error=True)

    def _on_cancel(self) -> None:
        if self.job is not None and self.job.state in ("queued", "running"):
            self.window_.queue.cancel(self.job)
            return
        self.close()


def open_report_dialog(window: ExtensionHost, path: str | Path) -> ReportDialog:
    """Open the report dialog for the run or study folder ``path`` over ``window`` (non-blocking)."""
    dialog = ReportDialog(window, path)
    dialog.show()
    return dialog
