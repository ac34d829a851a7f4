"""Accuracy and AUC against the fraction of training labels, one curve per encoder initialisation."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import (QHBoxLayout, QLabel, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

#: (metric key in results.json, plot title)
METRICS = (("accuracy", "Accuracy"), ("roc_auc", "ROC AUC"))
PENS = {"ssl": "#d62728", "random": "#7f7f7f", "imagenet": "#1f77b4"}
NAMES = {"ssl": "SSL-initialised", "random": "random init", "imagenet": "ImageNet"}
_FALLBACK = ("#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")


def _pen(encoder: str, index: int):
    return pg.mkPen(PENS.get(encoder, _FALLBACK[index % len(_FALLBACK)]), width=2)


class LabelEfficiencyPlotWidget(QWidget):
    """Two plots (accuracy, AUC) with a log-scaled label-fraction axis, plus the numbers as a table.

    :meth:`load` opens a study folder (or its results.json);
    :meth:`set_study` shows a study dict as returned by ``load_study``.
    """

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.study: dict = {}
        self.path: Path | None = None
        self.title = QLabel()
        self.title.setWordWrap(True)
        self.plots: dict[str, pg.PlotWidget] = {}
        self.curves: dict[tuple[str, str], pg.PlotDataItem] = {}
        row = QHBoxLayout()
        for key, title in METRICS:
            plot = pg.PlotWidget(title=title)
            plot.setLogMode(x=True, y=False)
            plot.setLabel("bottom", "fraction of training labels")
            plot.setLabel("left", title)
            plot.showGrid(x=True, y=True, alpha=0.3)
            plot.setYRange(0.0, 1.0, padding=0.05)
            plot.setMinimumSize(280, 240)
            plot.addLegend(offset=(-5, -5))
            self.plots[key] = plot
            row.addWidget(plot)
        self.table = QTableWidget(0, 0)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        layout = QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addLayout(row, 1)
        layout.addWidget(self.table)

    # --- public API -------------------------------------------------------
    def load(self, path: str | Path) -> None:
        """Show the study in folder ``path`` (or the results.json file ``path``)."""
        from engine.ssl.label_efficiency import load_study

        self.path = Path(path)
        self.set_study(load_study(path))

    def set_study(self, study: dict) -> None:
        """Plot ``study`` (``{"rows": [{"encoder", "fraction", "accuracy", "roc_auc", ...}], ...}``)."""
        from engine.ssl.label_efficiency import study_plot_data

        self.study = study
        data = study_plot_data(study)
        for plot in self.plots.values():
            plot.clear()
            if plot.plotItem.legend is not None:
                plot.plotItem.legend.clear()
        self.curves.clear()
        fractions = sorted({x for series in data.values() for xs, _ in series.values() for x in xs})
        for key, plot in self.plots.items():
            for i, (encoder, by_metric) in enumerate(data.items()):
                xs, ys = by_metric.get(key, ([], []))
                keep = [(x, y) for x, y in zip(xs, ys) if y is not None and not math.isnan(float(y))]
                if not keep:
                    continue
                pen = _pen(encoder, i)
                curve = plot.plot([x for x, _ in keep], [float(y) for _, y in keep], pen=pen, symbol="o",
                                  name=NAMES.get(encoder, encoder), symbolSize=7, symbolBrush=pen.color())
                self.curves[(key, encoder)] = curve
            plot.getAxis("bottom").setTicks([[(math.log10(f), f"{f * 100:g}%") for f in fractions if f > 0]])
            if fractions:
                plot.setXRange(math.log10(min(fractions)), math.log10(max(fractions)), padding=0.08)
        self._fill_table(data, fractions)
        name = self.path.name if self.path is not None else study.get("name", "")
        source = study.get("ssl_run") or study.get("config", {}).get("ssl_run", "")
        self.title.setText(f"<b>Label efficiency</b> {name}" + (f" - SSL run {Path(source).name}" if source else ""))

    def curve_data(self, metric: str, encoder: str) -> tuple[list[float], list[float]]:
        """The (x, y) points plotted for ``metric`` and ``encoder`` (x = label fraction)."""
        curve = self.curves.get((metric, encoder))
        if curve is None:
            return [], []
        xs, ys = curve.getOriginalDataset()
        return [float(x) for x in np.asarray(xs)], [float(y) for y in np.asarray(ys)]

    def encoders(self, metric: str = "accuracy") -> list[str]:
        """Encoders with a curve on ``metric``'s plot."""
        return [enc for key, enc in self.curves if key == metric]

    # --- helpers ----------------------------------------------------------
    def _fill_table(self, data: dict, fractions: list[float]) -> None:
        n_images = {r["fraction"]: r.get("n_train_images") for r in self.study.get("rows", [])}
        headers = ["encoder"] + [f"{f * 100:g}% ({n_images.get(f, '?')} img): acc / AUC" for f in fractions]
        self.table.clear()
        self.table.setColumnCount(len(headers))
        self.table.setHorizontalHeaderLabels(headers)
        self.table.setRowCount(len(data))
        for r, (encoder, by_metric) in enumerate(data.items()):
            self.table.setItem(r, 0, QTableWidgetItem(NAMES.get(encoder, encoder)))
            lookup = {key: dict(zip(*by_metric.get(key, ([], [])))) for key, _ in METRICS}
            for c, f in enumerate(fractions, start=1):
                acc, auc = lookup["accuracy"].get(f), lookup["roc_auc"].get(f)
                self.table.setItem(r, c, QTableWidgetItem(f"{_fmt(acc)} / {_fmt(auc)}"))
        self.table.resizeColumnsToContents()
        rows = sum(self.table.rowHeight(r) for r in range(self.table.rowCount()))
        self.table.setFixedHeight(self.table.horizontalHeader().sizeHint().height() + rows
                                  + 2 * self.table.frameWidth() + 2)


def _fmt(value) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{float(value):.3f}"
