"""Comparison of runs: every figure with its interval, the best marked, and a paired test on the same images.

The table has one column per run (ids elided in the middle to the column's
width, full id and folder on hover) and marks the best value of each figure
by its point estimate in bold green, with "≈" where its interval overlaps
another run's; cells wrap onto a second line rather than need horizontal
scrolling. An amber banner lists the runs' small-sample warnings (each once, naming its runs). For runs
evaluated on the same test images the paired comparison with a reference run
(:func:`engine.evaluation.compare.compare_runs`: DeLong's p-value for the ROC
AUC difference and the paired patient-bootstrap interval of each difference)
runs in a worker thread, never in the GUI thread.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import (
    QComboBox, QHBoxLayout, QHeaderView, QLabel, QSplitter, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget,
)

from engine.errors import HistoDeskError
from engine.run_table import ci_text, model_label, num
from engine.runs import Run
from gui.results import detail_tables as dt
from gui.results.compare_pairs import compare_with, pair_cells
from gui.results.compare_ranking import best_indices, best_tip, grouped_warnings, overlapping
from gui.results.intervals import WarningBanner, interval_tip
from gui.results.plots import CurvePlotWidget, curve_sets
from gui.workers import JobQueue

#: Figures where lower is better (the others: higher is better); "images" is never marked.
LOWER_IS_BETTER = {"ECE (15 bins)", "Brier score"}
NOT_RANKED = {"images"}
BEST_BRUSH, BEST_TEXT = QColor("#e3f4e4"), QColor("#1b5e20")
MAX_ID = 26
OVERLAP_MARK = " ≈"
_SIDE_QUEUE: list[JobQueue] = []


def side_queue() -> JobQueue:
    """A queue for short analysis jobs (comparisons) that must not wait behind a long training job."""
    if not _SIDE_QUEUE:
        _SIDE_QUEUE.append(JobQueue())
    return _SIDE_QUEUE[0]


def elide(text: str, n: int = MAX_ID) -> str:
    """``text`` shortened in the middle to ``n`` characters (run ids share prefixes and suffixes)."""
    return text if len(text) <= n else text[: n // 2 - 1] + "…" + text[-(n - n // 2):]


class CompareRunsWidget(QWidget):
    """Runs side by side: figures with intervals (best marked), ROC curves, paired test against a reference."""

    def __init__(self, runs: list[Run], parent: QWidget | None = None, split: str = "test",
                 queue: JobQueue | None = None):
        super().__init__(parent)
        self.split = split
        self.queue = queue or side_queue()
        self.job = None
        self.queue.job_failed.connect(self._on_job_failed)
        self.pairs: dict[str, dict] = {}
        self.best: dict[str, list[int]] = {}
        self.overlaps: dict[str, list[int]] = {}
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.banner = WarningBanner()
        self.table = dt.table(["metric"])
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.table.setWordWrap(True)
        self._fit_timer = QTimer(self)
        self._fit_timer.setSingleShot(True)
        self._fit_timer.setInterval(0)
        self._fit_timer.timeout.connect(self._fit_table)
        self.table.horizontalHeader().sectionResized.connect(lambda *_a: self._fit_timer.start())
        self.roc = CurvePlotWidget("roc")
        self.roc.setTitle(f"ROC curves ({split})")
        self.reference_combo = QComboBox()
        self.reference_combo.currentIndexChanged.connect(lambda _i: self.start_pairs())
        self.pair_status = QLabel()
        self.pair_status.setWordWrap(True)
        self.pair_status.setMinimumHeight(2 * self.pair_status.fontMetrics().lineSpacing() + 4)
        self.pair_table = QTableWidget(0, 5)
        self.pair_table.setHorizontalHeaderLabels(["run B", "paired on", "ROC AUC B − A [95% CI]", "DeLong",
                                                   "accuracy B − A [95% CI]"])
        self.pair_table.verticalHeader().setVisible(False)
        self.pair_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.pair_table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.pair_table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.pair_table.verticalHeader().setDefaultSectionSize(24)
        ref_row = QHBoxLayout()
        ref_row.addWidget(QLabel("<b>Paired comparison</b> on the same test images. Reference run A:"))
        ref_row.addWidget(self.reference_combo, 1)
        pairs = QWidget()
        pl = QVBoxLayout(pairs)
        pl.setContentsMargins(0, 0, 0, 0)
        pl.addLayout(ref_row)
        pl.addWidget(self.pair_status)
        pl.addWidget(self.pair_table, 1)
        bottom = QSplitter(Qt.Orientation.Horizontal)
        bottom.addWidget(self.roc)
        bottom.addWidget(pairs)
        bottom.setSizes([420, 700])
        body = QSplitter(Qt.Orientation.Vertical)
        body.addWidget(self.table)
        body.addWidget(bottom)
        body.setSizes([360, 340])
        layout = QVBoxLayout(self)
        layout.addWidget(self.note)
        layout.addWidget(self.banner)
        layout.addWidget(body, 1)
        self.set_runs(runs)

    # --- public API -------------------------------------------------------
    def set_runs(self, runs: list[Run]) -> None:
        """Compare ``runs`` (a run without an evaluation is listed with empty cells)."""
        self.runs = list(runs)
        evals = [(r.read("evaluation.json", {}) or {}).get(self.split) or {} for r in self.runs]
        self._plot(evals)
        self._fill_table(evals)
        warnings = grouped_warnings([(run.id, m.get("warnings") or []) for run, m in zip(self.runs, evals)])
        self.banner.set_warnings(warnings, f"Read these {self.split} figures with care")
        self._fit_table()
        self.reference_combo.blockSignals(True)
        self.reference_combo.clear()
        for run in self.runs:
            self.reference_combo.addItem(elide(run.id), str(run.path))
            self.reference_combo.setItemData(self.reference_combo.count() - 1, str(run.path),
                                             Qt.ItemDataRole.ToolTipRole)
        self.reference_combo.blockSignals(False)
        self.start_pairs()

    def start_pairs(self) -> None:
        """Queue the paired comparisons of every run with the reference run (in a worker thread)."""
        self.pairs = {}
        self.pair_table.setRowCount(0)
        if len(self.runs) < 2:
            self.pair_status.setText("Select two or more runs for a paired comparison.")
            return
        if self.job is not None and self.job.state in ("queued", "running"):
            self.queue.cancel(self.job)
        reference = self.reference_combo.currentData() or str(self.runs[0].path)
        others = [str(r.path) for r in self.runs if str(r.path) != reference]
        self.pair_status.setText("Computing DeLong's test and the paired bootstrap…")
        self.job = self.queue.submit(f"Compare {len(others) + 1} runs", compare_with, reference, others, self.split,
                                     kind="compare", on_finished=self._on_pairs_done)

    def shutdown(self) -> None:
        """Stop the paired comparison still running (when the window closes)."""
        if self.job is not None and self.job.state in ("queued", "running"):
            self.queue.cancel(self.job)

    def closeEvent(self, event) -> None:
        """Cancel the running comparison."""
        self.shutdown()
        super().closeEvent(event)

    # --- helpers ----------------------------------------------------------
    def _plot(self, evals: list[dict]) -> None:
        self.roc.clear_curves()
        missing = []
        for run, m in zip(self.runs, evals):
            sets = curve_sets(m, "roc")
            if not sets:
                missing.append(run.id)
                continue
            name, x, y = next((s for s in sets if s[0] == "micro"), sets[0])
            suffix = " micro" if name == "micro" else ""
            self.roc.add_curve(x, y, f"{elide(run.id, 22)}{suffix} (AUC {ci_text(m.get('roc_auc'))})")
        note = (f"Comparing {len(self.runs)} runs on the {self.split} split. Brackets: 95% patient-bootstrap "
                "intervals; the best value of each figure (by its point estimate) is <b style='color:#1b5e20'>bold "
                "green</b> (ties included), with <b>≈</b> where its interval overlaps another run's: that difference "
                "may be chance (see the paired test below). Hover a column for the full run id.")
        if missing:
            note += f" No {self.split} ROC curve for: {', '.join(missing)}."
        self.note.setText(note)

    def _fill_table(self, evals: list[dict]) -> None:
        self.table.clear()
        self.table.setColumnCount(1 + len(self.runs))
        self.table.setHorizontalHeaderLabels(["metric"] + [r.id for r in self.runs])
        for j, run in enumerate(self.runs, 1):
            self.table.horizontalHeaderItem(j).setToolTip(f"{run.id}\n{run.path}")
        info = [("model", lambda r: model_label(r.config)), ("preset", lambda r: r.config.get("preset") or "custom"),
                ("status", lambda r: r.summary.get("status", "?"))]
        rows = [r for r in dt.METRIC_ROWS if any(m and r[1](m) is not None for m in evals)]
        self.table.setRowCount(len(info) + len(rows))
        for i, (label, getter) in enumerate(info):
            self.table.setItem(i, 0, QTableWidgetItem(label))
            for j, run in enumerate(self.runs, 1):
                try:
                    text = str(getter(run))
                except HistoDeskError:
                    text = "unreadable"
                self.table.setItem(i, j, QTableWidgetItem(text))
        self.best = {}
        self.overlaps = {}
        for i, (label, getter, ci_key) in enumerate(rows, len(info)):
            self.table.setItem(i, 0, QTableWidgetItem(label))
            values, cis = [], []
            for j, m in enumerate(evals, 1):
                value = getter(m) if m else None
                ci = (m.get("ci") or {}).get(ci_key) if ci_key else None
                item = dt.ci_item(value, ci)
                tip = interval_tip(m.get("bootstrap")) if ci_key else "No interval is computed for this figure."
                item.setToolTip(f"{self.runs[j - 1].id}: {item.text()}\n{tip}")
                self.table.setItem(i, j, item)
                values.append(num(value))
                cis.append(ci)
            if label not in NOT_RANKED:
                self._mark_best(i, label, values, cis if ci_key else None)

    def _mark_best(self, row: int, label: str, values: list[float | None], cis: list | None) -> None:
        """Bold green on the best cells (by point estimate), "≈" added where an interval overlaps another run's."""
        best = best_indices(values, label in LOWER_IS_BETTER)
        if not best:
            return
        self.best[label] = [j + 1 for j in best]
        others = overlapping(best, cis, values) if cis else []
        if others:
            self.overlaps[label] = [j + 1 for j in others]
        tip = best_tip(label, [r.id for r in self.runs], best, others, cis is not None)
        for j in self.best[label]:
            item = self.table.item(row, j)
            font = QFont(item.font())
            font.setBold(True)
            item.setFont(font)
            item.setForeground(QBrush(BEST_TEXT))
            item.setBackground(QBrush(BEST_BRUSH))
            item.setText(item.text() + (OVERLAP_MARK if others else ""))
            item.setToolTip(f"{item.toolTip()}\n{tip}")

    def _fit_table(self) -> None:
        """Run ids elided in the middle to their column's width; a cell too wide for its column wraps onto a
        second line (the table never scrolls sideways)."""
        metrics = self.table.horizontalHeader().fontMetrics()
        for j, run in enumerate(self.runs, 1):
            header = self.table.horizontalHeaderItem(j)
            if header is not None:
                width = max(self.table.columnWidth(j) - 12, 40)
                header.setText(metrics.elidedText(run.id, Qt.TextElideMode.ElideMiddle, width))
        least = self.table.verticalHeader().defaultSectionSize()
        for row in range(self.table.rowCount()):
            self.table.setRowHeight(row, max(least, self.table.sizeHintForRow(row)))


    def _on_job_failed(self, job, message: str, _trace: str) -> None:
        if job is self.job:
            self.pair_status.setText(f"The paired comparison failed: {message}")

    def _on_pairs_done(self, result: dict) -> None:
        try:
            self.pairs = result
            names = {str(r.path): r.id for r in self.runs}
            self.pair_table.setRowCount(len(result))
            for i, (path, pair) in enumerate(result.items()):
                item = QTableWidgetItem(elide(names.get(path, path)))
                item.setToolTip(path)
                self.pair_table.setItem(i, 0, item)
                for c, text in enumerate(pair_cells(pair), 1):
                    cell = QTableWidgetItem(text)
                    cell.setToolTip(text)
                    self.pair_table.setItem(i, c, cell)
            errors = sum("error" in p for p in result.values())
            self.pair_status.setText(
                "B − A with a 95% paired patient-bootstrap interval (same resampled patients for both runs); "
                "DeLong's test treats images as independent." + (f" {errors} pair(s) could not be compared "
                                                                 "(hover the row for why)." if errors else ""))
        except RuntimeError:  # the window was closed while the job ran
            pass
