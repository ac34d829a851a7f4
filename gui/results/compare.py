"""Comparison of runs: overlaid test ROC curves and a side-by-side metrics table."""

from __future__ import annotations

from PySide6.QtWidgets import QHBoxLayout, QHeaderView, QLabel, QTableWidgetItem, QVBoxLayout, QWidget

from engine.runs import Run
from gui.results.plots import CurvePlotWidget, curve_sets
from gui.results.run_view import METRIC_ROWS, _table, fmt


class CompareRunsWidget(QWidget):
    """Test ROC curves of 2+ runs on one plot (legend: run id + AUC) and their metrics side by side."""

    def __init__(self, runs: list[Run], parent: QWidget | None = None, split: str = "test"):
        super().__init__(parent)
        self.split = split
        self.roc = CurvePlotWidget("roc")
        self.roc.setTitle(f"ROC curves ({split})")
        self.table = _table(["metric"])
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.note = QLabel()
        self.note.setWordWrap(True)
        body = QHBoxLayout()
        body.addWidget(self.roc, 1)
        body.addWidget(self.table, 1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.note)
        layout.addLayout(body, 1)
        self.set_runs(runs)

    def set_runs(self, runs: list[Run]) -> None:
        """Compare ``runs`` (a run without an evaluation is listed with empty cells)."""
        self.runs = list(runs)
        self.roc.clear_curves()
        evals = [(r.read("evaluation.json", {}) or {}).get(self.split) or {} for r in self.runs]
        missing = []
        for run, m in zip(self.runs, evals):
            sets = curve_sets(m, "roc")
            if not sets:
                missing.append(run.id)
                continue
            name, x, y = next((s for s in sets if s[0] == "micro"), sets[0])
            suffix = " micro" if name == "micro" else ""
            self.roc.add_curve(x, y, f"{run.id}{suffix} (AUC {fmt(m.get('roc_auc'))})")
        note = f"Comparing {len(self.runs)} runs on the {self.split} split."
        if missing:
            note += f" No {self.split} ROC curve for: {', '.join(missing)}."
        if len(self.runs) < 2:
            note += " Select two or more runs to compare."
        self.note.setText(note)
        self.table.setColumnCount(1 + len(self.runs))
        self.table.setHorizontalHeaderLabels(["metric"] + [r.id for r in self.runs])
        rows = [("model", lambda r, m: (r.config.get("model") or {}).get("name")),
                ("preset", lambda r, m: r.config.get("preset") or "custom"),
                ("status", lambda r, m: r.summary.get("status"))]
        rows += [(name, (lambda g: lambda r, m: g(m) if m else None)(getter)) for name, getter in METRIC_ROWS]
        self.table.setRowCount(len(rows))
        for i, (name, getter) in enumerate(rows):
            self.table.setItem(i, 0, QTableWidgetItem(name))
            for j, (run, m) in enumerate(zip(self.runs, evals), 1):
                self.table.setItem(i, j, QTableWidgetItem(fmt(getter(run, m))))
