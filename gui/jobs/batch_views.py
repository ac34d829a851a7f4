"""Job views for jobs that go through files: folder classification (counts, throughput, latest rows) and
dataset scans (files found, images, skipped and why)."""

from __future__ import annotations

import os
from collections import Counter

from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QLabel, QTableWidget, QTableWidgetItem, QVBoxLayout, \
    QWidget

from engine.jobs import format_duration
from gui.jobs.views import FactsWidget, JobView, elapsed_s
from gui.workers import DONE, QUEUED, TERMINAL_STATES, Job

_LATEST_ROWS = 10


def _count(value) -> str:
    return f"{value:,}" if isinstance(value, int) else "-"


class _TableJobView(JobView):
    """Facts on top, a small read-only table below (its caption above it)."""

    def __init__(self, names: tuple[str, ...], caption: str, headers: list[str], parent: QWidget | None = None):
        super().__init__(parent)
        self.facts = FactsWidget(names)
        self.caption = QLabel(caption)
        self.table = QTableWidget(0, len(headers))
        self.table.setHorizontalHeaderLabels(headers)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.facts)
        layout.addWidget(self.caption)
        layout.addWidget(self.table, 1)

    def set_rows(self, rows: list[list[str]]) -> None:
        """Replace the table's rows."""
        self.table.setRowCount(len(rows))
        for r, values in enumerate(rows):
            for c, value in enumerate(values):
                item = QTableWidgetItem(value)
                item.setToolTip(value)
                self.table.setItem(r, c, item)

    def rows(self) -> list[list[str]]:
        """The table's text (for tests)."""
        return [[self.table.item(r, c).text() for c in range(self.table.columnCount())]
                for r in range(self.table.rowCount())]


class ClassifyJobView(_TableJobView):
    """A folder classification: files, classified, unreadable, images per second and the latest rows."""

    NAMES = ("Files", "Classified", "Unreadable", "Throughput", "Time")

    def __init__(self, parent: QWidget | None = None):
        super().__init__(self.NAMES, "Latest rows", ["File", "Class", "Probability / reason"], parent)

    def show_job(self, job: Job) -> None:
        """Counts and rows from the latest progress event, or from the result once done."""
        event, result = job.progress, job.result if isinstance(job.result, dict) else None
        metrics = event.metrics if event is not None and event.stage == "predict" else {}
        if job.state == DONE and result is not None:
            rows = result.get("rows") or []
            metrics = {"classified": result.get("n_ok"), "unreadable": result.get("n_failed"),
                       "per_s": metrics.get("per_s"), "latest": rows[-_LATEST_ROWS:]}
        total = event.total if event is not None and event.stage == "predict" else None
        self.facts.set("Files", _count(total) if total is not None else "")
        self.facts.set("Classified", _count(metrics.get("classified")))
        self.facts.set("Unreadable", _count(metrics.get("unreadable")))
        per_s = metrics.get("per_s")
        self.facts.set("Throughput", f"{per_s:.1f} images/s" if per_s else "")
        active = job.state not in TERMINAL_STATES and job.state != QUEUED
        self.facts.set("Time", f"about {format_duration(job.eta_s)} left" if active and job.eta_s is not None
                       else (f"took {format_duration(elapsed_s(job))}" if job.state == DONE else ""))
        self.set_rows([_row_cells(row) for row in reversed(metrics.get("latest") or [])])


def _row_cells(row: dict) -> list[str]:
    name = os.path.basename(str(row.get("path") or ""))
    if row.get("page"):
        name += f" (page {row['page']})"
    if row.get("status") == "ok":
        prob = row.get("prob")
        return [name, str(row.get("class") or ""), f"{prob:.3f}" if isinstance(prob, float) else ""]
    return [name, "unreadable", str(row.get("reason") or "")]


class ScanJobView(_TableJobView):
    """A dataset scan: files found and checked, images kept, files skipped and the commonest reasons."""

    NAMES = ("Files found", "Checked", "Images", "Skipped")

    def __init__(self, parent: QWidget | None = None):
        super().__init__(self.NAMES, "Why files were skipped", ["Reason", "Files"], parent)

    def show_job(self, job: Job) -> None:
        """Counts from the latest progress event, or from the catalog once done."""
        event = job.progress if job.progress is not None and job.progress.stage == "scan" else None
        catalog = job.result if job.state == DONE and hasattr(job.result, "skipped") else None
        found = event.total if event is not None else None
        self.facts.set("Files found", _count(found) if found is not None else
                       ("listing..." if event is not None and job.state not in TERMINAL_STATES else ""))
        self.facts.set("Checked", _count(event.step) if event is not None and found is not None else "")
        metrics = event.metrics if event is not None else {}
        images = len(catalog.records) if catalog is not None else metrics.get("images")
        skipped = catalog.skipped if catalog is not None else []
        self.facts.set("Images", _count(images))
        self.facts.set("Skipped", _count(len(skipped) if catalog is not None else metrics.get("skipped")))
        reasons = Counter(s.reason for s in skipped).most_common(_LATEST_ROWS)
        self.caption.setText("Why files were skipped" + ("" if catalog is not None else
                             (": see the message above" if job.state in TERMINAL_STATES else
                              ": listed when the scan has finished")))
        self.set_rows([[reason, f"{n:,}"] for reason, n in reasons])
