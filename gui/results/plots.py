"""Plots of a run: confusion matrix, ROC / PR curves and training curves (pyqtgraph)."""

from __future__ import annotations

from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView, QCheckBox, QGridLayout, QHBoxLayout, QHeaderView, QLabel, QTableWidget, QTableWidgetItem,
    QVBoxLayout, QWidget,
)

PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"]
pg.setConfigOptions(antialias=True, background="w", foreground="k")


def pen(i: int, width: float = 2, dashed: bool = False):
    """The i-th palette pen."""
    style = Qt.PenStyle.DashLine if dashed else Qt.PenStyle.SolidLine
    return pg.mkPen(PALETTE[i % len(PALETTE)], width=width, style=style)


def curve_sets(metrics: dict, kind: str) -> list[tuple[str, list, list]]:
    """ROC (``kind='roc'``: fpr, tpr) or PR (``'pr'``: recall, precision) curves as (label, x, y).

    A binary evaluation has one curve for the positive class; a multi-class one
    has a micro average plus one per class.
    """
    key, xk, yk = ("roc_curve", "fpr", "tpr") if kind == "roc" else ("pr_curve", "recall", "precision")
    curve = metrics.get(key)
    if not curve:
        return []
    if xk in curve:
        return [(str(metrics.get("positive_class", "positive")), curve[xk], curve[yk])]
    return [(name, c[xk], c[yk]) for name, c in curve.items() if c]


def _clean(x: list, y: list) -> tuple[list, list]:
    pts = [(a, b) for a, b in zip(x, y) if a is not None and b is not None]
    return [a for a, _ in pts], [b for _, b in pts]


class CurvePlotWidget(pg.PlotWidget):
    """A square-ish plot for ROC or PR curves with a legend."""

    def __init__(self, kind: str = "roc", parent: QWidget | None = None):
        super().__init__(parent)
        self.kind = kind
        self.setMinimumSize(260, 220)
        self.showGrid(x=True, y=True, alpha=0.25)
        self.setXRange(0, 1, padding=0.02)
        self.setYRange(0, 1, padding=0.02)
        labels = ("False positive rate", "True positive rate") if kind == "roc" else ("Recall", "Precision")
        self.setLabel("bottom", labels[0])
        self.setLabel("left", labels[1])
        self.setTitle("ROC curve" if kind == "roc" else "Precision-recall curve")
        self.legend = self.addLegend(offset=(-10, -10) if kind == "roc" else (10, -10))
        self.curves: list[pg.PlotDataItem] = []

    def clear_curves(self) -> None:
        """Remove all curves."""
        self.clear()
        self.legend.clear()
        self.curves = []
        if self.kind == "roc":
            self.plot([0, 1], [0, 1], pen=pg.mkPen("#999999", width=1, style=Qt.PenStyle.DashLine))

    def add_curve(self, x: list, y: list, name: str) -> pg.PlotDataItem:
        """Draw one curve with the next colour."""
        x, y = _clean(x, y)
        item = self.plot(x, y, pen=pen(len(self.curves)), name=name)
        self.curves.append(item)
        return item

    def set_metrics(self, metrics: dict | None) -> None:
        """Draw the ROC or PR curves of one evaluation (AUC / AP in the legend)."""
        self.clear_curves()
        if not metrics:
            return
        sets = curve_sets(metrics, self.kind)
        for name, x, y in sets:
            score = _area(metrics, self.kind, name, len(sets) == 1)
            self.add_curve(x, y, f"{name} ({'AUC' if self.kind == 'roc' else 'AP'} {score})")


def _area(metrics: dict, kind: str, name: str, single: bool) -> str:
    if single:
        value = metrics.get("roc_auc" if kind == "roc" else "average_precision")
    elif name == "micro":
        value = metrics.get("roc_auc_ovr_micro" if kind == "roc" else "average_precision_micro")
    else:
        value = (metrics.get("roc_auc_per_class" if kind == "roc" else "average_precision_per_class") or {}).get(name)
    return f"{value:.3f}" if isinstance(value, (int, float)) else "n/a"


class ConfusionMatrixWidget(QWidget):
    """Confusion matrix as a table of coloured cells (rows: true class, columns: predicted)."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.normalized_check = QCheckBox("Normalised by true class (row)")
        self.normalized_check.toggled.connect(self._on_normalized_toggled)
        self.table = QTableWidget()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        for header in (self.table.horizontalHeader(), self.table.verticalHeader()):
            header.setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.setMinimumSize(240, 160)
        self.table.setMaximumSize(680, 420)
        self.table.horizontalHeader().setMinimumSectionSize(110)
        axis = QHBoxLayout()
        axis.addWidget(QLabel("<b>rows: true class · columns: predicted class</b>"))
        axis.addStretch(1)
        axis.addWidget(self.normalized_check)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(axis)
        centre = QHBoxLayout()
        centre.addStretch(1)
        centre.addWidget(self.table, 10)
        centre.addStretch(1)
        layout.addLayout(centre, 10)
        layout.addStretch(1)
        self._metrics: dict[str, Any] = {}

    def set_metrics(self, metrics: dict | None) -> None:
        """Show the confusion matrix of one evaluation (``compute_metrics`` output)."""
        self._metrics = metrics or {}
        self._render()

    def _on_normalized_toggled(self, _checked: bool) -> None:
        self._render()

    def matrix(self) -> list[list[float]]:
        """The matrix currently shown (counts or row-normalised)."""
        key = "confusion_matrix_normalized" if self.normalized_check.isChecked() else "confusion_matrix"
        return self._metrics.get(key) or []

    def _render(self) -> None:
        cm = self.matrix()
        classes = self._metrics.get("classes") or [str(i) for i in range(len(cm))]
        self.table.setRowCount(len(cm))
        self.table.setColumnCount(len(cm))
        self.table.setHorizontalHeaderLabels([f"pred. {c}" for c in classes])
        self.table.setVerticalHeaderLabels([f"true {c}" for c in classes])
        counts = self._metrics.get("confusion_matrix") or cm
        for i, row in enumerate(cm):
            total = sum(counts[i]) or 1
            for j, value in enumerate(row):
                text = f"{value:.2f}" if self.normalized_check.isChecked() else str(value)
                item = QTableWidgetItem(text)
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                share = counts[i][j] / total
                item.setBackground(_heat(share, diagonal=i == j))
                item.setForeground(QColor("white" if share > 0.55 else "black"))
                self.table.setItem(i, j, item)


def _heat(share: float, diagonal: bool) -> QColor:
    """Blue for the diagonal, red off it; darker for a larger share of the row."""
    base = QColor(25, 90, 170) if diagonal else QColor(190, 40, 40)
    s = max(0.0, min(1.0, share))
    return QColor(int(255 + (base.red() - 255) * s), int(255 + (base.green() - 255) * s),
                  int(255 + (base.blue() - 255) * s))


class TrainingCurvesWidget(QWidget):
    """Per-epoch loss (log-scale option), accuracy and AUC from metrics.jsonl."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.log_check = QCheckBox("Log-scale loss")
        self.log_check.toggled.connect(self._on_log_toggled)
        self.plots = {}
        grid = QGridLayout()
        for i, (key, title) in enumerate((("loss", "Loss"), ("acc", "Accuracy"), ("auc", "Validation AUC / F1"))):
            plot = pg.PlotWidget(title=title)
            plot.showGrid(x=True, y=True, alpha=0.25)
            plot.setLabel("bottom", "epoch")
            plot.addLegend(offset=(-10, 10))
            plot.setMinimumSize(220, 180)
            self.plots[key] = plot
            grid.addWidget(plot, 0, i)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.log_check)
        layout.addLayout(grid, 1)

    def set_rows(self, rows: list[dict]) -> None:
        """Draw the curves of ``rows`` (one dict per epoch)."""
        series = {"loss": [("train_loss", "train"), ("val_loss", "val")],
                  "acc": [("train_acc", "train"), ("val_acc", "val")],
                  "auc": [("val_auc", "val AUC"), ("val_f1", "val F1")]}
        epochs = [r.get("epoch", n + 1) for n, r in enumerate(rows)]
        ticks = [[(e, str(e)) for e in epochs]] if 0 < len(epochs) <= 15 else None
        for key, plot in self.plots.items():
            plot.getAxis("bottom").setTicks(ticks)
            plot.clear()
            plot.plotItem.legend.clear()
            for i, (col, name) in enumerate(series[key]):
                pts = [(r.get("epoch", n + 1), r.get(col)) for n, r in enumerate(rows)]
                pts = [(e, v) for e, v in pts if isinstance(v, (int, float)) and (key != "loss" or v > 0)]
                if pts:
                    plot.plot([e for e, _ in pts], [v for _, v in pts], pen=pen(i), symbol="o", symbolSize=5,
                              symbolBrush=PALETTE[i], name=name)
        self._on_log_toggled(self.log_check.isChecked())

    def _on_log_toggled(self, on: bool) -> None:
        self.plots["loss"].setLogMode(y=on)
