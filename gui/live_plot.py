"""Live training curves: loss, accuracy and validation AUC per epoch (pyqtgraph)."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtWidgets import QHBoxLayout, QWidget

_TRAIN_PEN = pg.mkPen("#1f77b4", width=2)
_VAL_PEN = pg.mkPen("#d62728", width=2)
#: (plot title, y label, [(metric key, legend name, pen)])
PANELS = (
    ("Loss", "loss", [("train_loss", "train", _TRAIN_PEN), ("val_loss", "val", _VAL_PEN)]),
    ("Accuracy", "accuracy", [("train_acc", "train", _TRAIN_PEN), ("val_acc", "val", _VAL_PEN)]),
    ("Validation AUC", "AUC", [("val_auc", "val", _VAL_PEN)]),
)


class LiveCurvesWidget(QWidget):
    """Three small plots updated per "epoch" event with ``setData`` (cheap)."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.plots: dict[str, pg.PlotWidget] = {}
        self.curves: dict[str, pg.PlotDataItem] = {}
        self._data: dict[str, tuple[list[float], list[float]]] = {}
        for title, ylabel, series in PANELS:
            plot = pg.PlotWidget(title=title)
            plot.setMinimumSize(180, 150)
            plot.setLabel("bottom", "epoch")
            plot.setLabel("left", ylabel)
            plot.showGrid(x=True, y=True, alpha=0.3)
            plot.addLegend(offset=(-5, 5))
            if ylabel in ("accuracy", "AUC"):
                plot.setYRange(0.0, 1.0, padding=0.05)
            for key, name, pen in series:
                self.curves[key] = plot.plot([], [], pen=pen, name=name, symbol="o", symbolSize=5,
                                             symbolBrush=pen.color())
                self._data[key] = ([], [])
            self.plots[title] = plot
            layout.addWidget(plot)

    def clear(self) -> None:
        """Remove every point."""
        for key, curve in self.curves.items():
            self._data[key] = ([], [])
            curve.setData([], [])

    def append(self, metrics: dict) -> None:
        """Add one epoch's metrics (keys train_loss, val_loss, train_acc, val_acc, val_auc)."""
        epoch = metrics.get("epoch")
        for key, curve in self.curves.items():
            value = metrics.get(key)
            if value is None or epoch is None:
                continue
            xs, ys = self._data[key]
            xs.append(float(epoch))
            ys.append(float(value))
            curve.setData(xs, ys)

    def set_history(self, rows: list[dict]) -> None:
        """Show exactly ``rows`` (one dict per epoch)."""
        self.clear()
        for row in rows:
            self.append(row)

    def points(self, key: str) -> list[float]:
        """The y values plotted for metric ``key`` (for tests)."""
        return list(self._data.get(key, ([], []))[1])
