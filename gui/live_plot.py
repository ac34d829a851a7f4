"""Live per-epoch curves (pyqtgraph): supervised training and self-supervised pretraining panel sets."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtWidgets import QHBoxLayout, QWidget

_TRAIN_PEN = pg.mkPen("#1f77b4", width=2)
_VAL_PEN = pg.mkPen("#d62728", width=2)
#: Supervised training: (plot title, y label, [(metric key, legend name, pen)])
TRAINING_PANELS = (
    ("Loss", "loss", [("train_loss", "train", _TRAIN_PEN), ("val_loss", "val", _VAL_PEN)]),
    ("Accuracy", "accuracy", [("train_acc", "train", _TRAIN_PEN), ("val_acc", "val", _VAL_PEN)]),
    ("Validation AUC", "AUC", [("val_auc", "val", _VAL_PEN)]),
)
#: Self-supervised pretraining: the method's loss and the kNN monitor (labelled datasets only).
SSL_PANELS = (
    ("SSL loss", "SSL loss", [("train_loss", "train", _TRAIN_PEN), ("val_loss", "val", _VAL_PEN)]),
    ("kNN accuracy (val images)", "kNN accuracy", [("knn_acc", "kNN", _VAL_PEN)]),
)
PANELS = TRAINING_PANELS  # the name earlier code imported
_UNIT_RANGE_LABELS = ("accuracy", "AUC", "kNN accuracy")


class LiveCurvesWidget(QWidget):
    """Small plots, one per panel of ``panels``, updated per "epoch" event with ``setData`` (cheap)."""

    def __init__(self, parent: QWidget | None = None, panels=TRAINING_PANELS):
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.plots: dict[str, pg.PlotWidget] = {}
        self.curves: dict[str, pg.PlotDataItem] = {}
        self._data: dict[str, tuple[list[float], list[float]]] = {}
        for title, ylabel, series in panels:
            plot = pg.PlotWidget(title=title)
            plot.setMinimumSize(180, 150)
            plot.setLabel("bottom", "epoch")
            plot.setLabel("left", ylabel)
            plot.showGrid(x=True, y=True, alpha=0.3)
            plot.addLegend(offset=(-5, 5))
            for key, name, pen in series:
                self.curves[key] = plot.plot([], [], pen=pen, name=name, symbol="o", symbolSize=5,
                                             symbolBrush=pen.color())
                self._data[key] = ([], [])
            self.plots[title] = plot
            layout.addWidget(plot)
        self._reset_ranges()

    def clear(self) -> None:
        """Remove every point and forget the previous job's axis ranges."""
        for key, curve in self.curves.items():
            self._data[key] = ([], [])
            curve.setData([], [])
        self._reset_ranges()

    def append(self, metrics: dict) -> None:
        """Add one epoch's metrics (the keys of the panels, e.g. train_loss, val_loss, val_auc, knn_acc)."""
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

    def epochs(self, key: str) -> list[float]:
        """The x values (epochs) plotted for metric ``key`` (for tests)."""
        return list(self._data.get(key, ([], []))[0])

    def titles(self) -> list[str]:
        """The plots' titles, left to right."""
        return list(self.plots)

    def _reset_ranges(self) -> None:
        for plot in self.plots.values():
            plot.enableAutoRange()
            if plot.getAxis("left").labelText in _UNIT_RANGE_LABELS:
                plot.setYRange(0.0, 1.0, padding=0.05)
            plot.setXRange(1.0, 2.0, padding=0.05)
            plot.enableAutoRange(axis="x")
