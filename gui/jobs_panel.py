"""The Jobs tab: every queued/running/finished job, the view made for its kind, its log and Cancel.

Bookkeeping jobs (``job.parent`` set: the split after a dataset scan, the scan after the demo) are nested
under the job that caused them; a new job is scrolled into view. Views: :mod:`gui.jobs`.
"""

from __future__ import annotations

import html

from PySide6.QtCore import Qt, Slot
from PySide6.QtWidgets import (QHBoxLayout, QLabel, QPlainTextEdit, QProgressBar, QPushButton, QSplitter,
                               QStackedWidget, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget)

from engine.jobs import Progress, format_duration
from gui import errors
from gui.jobs.batch_views import ClassifyJobView, ScanJobView
from gui.jobs.kinds import CLASSIFY, GENERIC, PRETRAIN, SCAN, TRAIN, view_kind
from gui.jobs.views import CurvesJobView, GenericJobView, JobView, ssl_curves_view
from gui.workers import DONE, QUEUED, RUNNING, TERMINAL_STATES, Job, JobQueue

COLUMNS = ("Job", "Stage", "Progress", "State")
_MAX_LOG_BLOCKS = 5000


def progress_text(event: Progress | None, eta_s: float | None = None) -> str:
    """Text shown on a job's progress bar, e.g. ``42% - ETA 1m05s``."""
    if event is None:
        return ""
    frac = event.fraction
    pct = f"{frac * 100:.0f}%" if frac is not None else event.stage
    eta = event.eta_s if event.eta_s is not None else eta_s
    return f"{pct} - ETA {format_duration(eta)}" if eta is not None else pct


class JobsPanelWidget(QWidget):
    """Lists the jobs of a :class:`JobQueue` (bookkeeping steps nested); shows the selected job's view and log."""

    def __init__(self, queue: JobQueue, parent: QWidget | None = None):
        super().__init__(parent)
        self.queue = queue
        self._items: dict[int, QTreeWidgetItem] = {}
        self._bars: dict[int, QProgressBar] = {}
        self._jobs: dict[int, Job] = {}

        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(COLUMNS)
        self.tree.setRootIsDecorated(True)
        self.tree.setColumnWidth(0, 260)
        self.tree.setColumnWidth(1, 170)
        self.tree.setColumnWidth(2, 200)
        self.tree.currentItemChanged.connect(self._on_current_changed)

        self.title_label = QLabel("Select a job to see its curves and log.")
        self.title_label.setWordWrap(True)
        self.error_label = QLabel()  # why the selected job failed, wrapped below the title
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("QLabel { color: #b71c1c; }")
        self.error_label.hide()
        self.cancel_button = QPushButton("Cancel job")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self._on_cancel_clicked)
        self.views: dict[str, JobView] = {TRAIN: CurvesJobView(), PRETRAIN: ssl_curves_view(),
                                          CLASSIFY: ClassifyJobView(), SCAN: ScanJobView(),
                                          GENERIC: GenericJobView()}
        self.view_stack = QStackedWidget()
        for view in self.views.values():
            self.view_stack.addWidget(view)
        self.view_stack.setCurrentWidget(self.views[GENERIC])
        self.log_view = QPlainTextEdit()
        self.log_view.setReadOnly(True)
        self.log_view.setMaximumBlockCount(_MAX_LOG_BLOCKS)
        self.log_view.setPlaceholderText("Log of the selected job")

        head = QHBoxLayout()
        head.addWidget(self.title_label, 1)
        head.addWidget(self.cancel_button)
        detail = QWidget()
        dl = QVBoxLayout(detail)
        dl.setContentsMargins(0, 0, 0, 0)
        dl.addLayout(head)
        dl.addWidget(self.error_label)
        inner = QSplitter(Qt.Orientation.Vertical)
        inner.addWidget(self.view_stack)
        inner.addWidget(self.log_view)
        inner.setSizes([260, 160])
        dl.addWidget(inner, 1)

        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.tree)
        splitter.addWidget(detail)
        splitter.setSizes([160, 440])
        layout = QVBoxLayout(self)
        layout.addWidget(splitter)

        queue.job_added.connect(self._on_job_added)
        queue.job_started.connect(self._on_job_changed)
        queue.job_progress.connect(self._on_job_progress)
        queue.job_finished.connect(self._on_job_changed)
        queue.job_failed.connect(self._on_job_failed)
        for job in queue.jobs:
            self._on_job_added(job)

    # --- public -----------------------------------------------------------
    def selected_job(self) -> Job | None:
        """The job whose details are shown, or None."""
        item = self.tree.currentItem()
        return self._jobs.get(item.data(0, Qt.ItemDataRole.UserRole)) if item else None

    def select_job(self, job: Job) -> None:
        """Show ``job``'s view and log."""
        item = self._items.get(job.id)
        if item is not None:
            self.tree.setCurrentItem(item)

    def current_view(self) -> JobView:
        """The view shown for the selected job (the generic one when none is selected)."""
        return self.view_stack.currentWidget()  # type: ignore[return-value]

    @property
    def curves(self) -> CurvesJobView:
        """The curves view of the selected job (training or SSL), else the training one (``points(key)``)."""
        view = self.current_view()
        return view if isinstance(view, CurvesJobView) else self.views[TRAIN]  # type: ignore[return-value]

    # --- queue signals ----------------------------------------------------
    @Slot(object)
    def _on_job_added(self, job: Job) -> None:
        item = QTreeWidgetItem([job.title, "", "", job.state])
        item.setData(0, Qt.ItemDataRole.UserRole, job.id)
        item.setToolTip(0, job.title)
        parent = self._items.get(job.parent.id) if job.parent is not None else None
        if parent is not None:
            parent.addChild(item)  # a bookkeeping step: under the job that caused it, shown on expand
        else:
            self.tree.addTopLevelItem(item)
        bar = QProgressBar()
        bar.setRange(0, 1000)
        bar.setValue(0)
        bar.setTextVisible(True)
        bar.setFormat("waiting")
        self.tree.setItemWidget(item, 2, bar)
        self._items[job.id], self._bars[job.id], self._jobs[job.id] = item, bar, job
        if self.tree.currentItem() is None or (parent is None and job.kind == "train"):
            self.tree.setCurrentItem(item)
        self.tree.scrollToItem(parent or item)
        self._update_row(job)

    @Slot(object)
    def _on_job_changed(self, job: Job) -> None:
        self._update_row(job)
        if job is self.selected_job():
            self._update_detail_header(job)
            self.current_view().show_job(job)

    @Slot(object, object)
    def _on_job_progress(self, job: Job, event: Progress) -> None:
        self._update_row(job)
        if job is not self.selected_job():
            return
        if event.stage == "log":
            self.log_view.appendPlainText(event.message)
        else:
            self.current_view().on_progress(job, event)

    @Slot(object, str, str)
    def _on_job_failed(self, job: Job, message: str, tb: str) -> None:
        self._on_job_changed(job)
        errors.show_error(self.window(), f"{job.title} failed", message, tb or None)

    # --- user actions -----------------------------------------------------
    @Slot(object, object)
    def _on_current_changed(self, current, _previous) -> None:
        job = self.selected_job()
        self.log_view.clear()
        self.view_stack.setCurrentWidget(self.views[view_kind(job) if job is not None else GENERIC])
        if job is not None:
            self.current_view().show_job(job)
        if job is None:
            self.title_label.setText("Select a job to see its curves and log.")
            self.error_label.hide()
            self.cancel_button.setEnabled(False)
            return
        if job.log:
            self.log_view.setPlainText("\n".join(job.log[-_MAX_LOG_BLOCKS:]))
        self._update_detail_header(job)

    @Slot()
    def _on_cancel_clicked(self) -> None:
        job = self.selected_job()
        if job is not None and job.state in (QUEUED, RUNNING):
            self.queue.cancel(job)
            self.cancel_button.setEnabled(False)
            self.cancel_button.setText("Cancelling...")

    # --- helpers ----------------------------------------------------------
    def _update_detail_header(self, job: Job) -> None:
        self.title_label.setText(f"<b>{html.escape(job.title)}</b> - {job.state}")
        self.error_label.setText(job.error)
        self.error_label.setVisible(bool(job.error))
        active = job.state in (QUEUED, RUNNING) and not (job.token and job.token.cancelled)
        self.cancel_button.setEnabled(active)
        self.cancel_button.setText("Cancel job" if active or job.state in TERMINAL_STATES else "Cancelling...")

    def _update_row(self, job: Job) -> None:
        item, bar = self._items.get(job.id), self._bars.get(job.id)
        if item is None:
            return
        event = job.progress
        stage = event.stage if event else ""
        if event is not None and event.message and job.state not in TERMINAL_STATES:
            stage = f"{event.stage}: {event.message}"
        elif job.state in TERMINAL_STATES:
            stage = job.error or (event.message if event is not None and event.stage == "done" else "")
        item.setText(1, stage)
        item.setToolTip(1, stage)
        item.setText(3, job.state)
        if job.state == DONE:
            bar.setRange(0, 1000)
            bar.setValue(1000)
            bar.setFormat("done")
        elif job.state in TERMINAL_STATES:  # failed or cancelled: never a full bar
            bar.setRange(0, 1000)
            bar.setValue(0)
            bar.setFormat(job.state)
        elif event is not None:
            frac = event.fraction
            if frac is None:
                bar.setRange(0, 0)  # busy indicator
            else:
                bar.setRange(0, 1000)
                bar.setValue(int(frac * 1000))
            bar.setFormat(progress_text(event, job.eta_s))
        elif job.state == RUNNING:
            bar.setFormat("starting")
