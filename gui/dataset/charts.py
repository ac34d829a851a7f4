"""Summary charts: class balance per magnification, images per patient, text summary."""

from __future__ import annotations

from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

from engine.data.catalog import Catalog
from gui.dataset.tree import natural_key

PALETTE = ["#4e79a7", "#e15759", "#59a14f", "#f28e2b", "#76b7b2", "#edc948",
           "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"]


def class_colors(classes: list[str]) -> dict[str, str]:
    """A stable colour per class."""
    return {c: PALETTE[i % len(PALETTE)] for i, c in enumerate(classes)}


def summary_text(summary: dict[str, Any]) -> str:
    """The catalog summary as short HTML."""
    per_class = ", ".join(f"{k}: {v:,}" for k, v in summary.get("per_class", {}).items()) or "-"
    sizes = list(summary.get("image_sizes", {}).items())
    size_text = ", ".join(f"{k} ({v:,})" for k, v in sizes[:4]) + (" ..." if len(sizes) > 4 else "")
    mags = ", ".join(sorted(summary.get("magnifications", []), key=natural_key)) or "-"
    return (f"<b>{summary.get('images', 0):,}</b> images &middot; "
            f"<b>{len(summary.get('classes', []))}</b> classes &middot; "
            f"<b>{summary.get('patients', 0):,}</b> patients &middot; "
            f"<b>{summary.get('skipped', 0):,}</b> skipped<br>"
            f"Per class: {per_class}<br>Magnifications: {mags}<br>"
            f"Image sizes: {size_text or '-'}<br>"
            f"Importer: {summary.get('importer') or '-'} &middot; root: {summary.get('root') or '-'}")


def _plot(title: str) -> pg.PlotWidget:
    plot = pg.PlotWidget(background="w")
    plot.setTitle(title, color="#333", size="10pt")
    plot.setMenuEnabled(False)
    plot.setMouseEnabled(x=False, y=False)
    plot.hideButtons()
    for name in ("left", "bottom"):
        plot.getAxis(name).setTextPen("#333")
        plot.getAxis(name).setPen("#888")
    plot.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
    return plot


class DatasetChartsWidget(QWidget):
    """The "Summary" tab: two bar charts and the catalog summary as text."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.text = QLabel()
        self.text.setTextFormat(Qt.TextFormat.RichText)
        self.text.setWordWrap(True)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.balance_plot = _plot("Images per class and magnification")
        self.patient_plot = _plot("Images per patient, by class")
        self.bars: dict[str, list[pg.BarGraphItem]] = {"balance": [], "patients": []}
        self._patients: list[str] = []
        self.patient_plot.getViewBox().sigResized.connect(self._on_patient_plot_resized)
        charts = QHBoxLayout()
        charts.addWidget(self.balance_plot, 1)
        charts.addWidget(self.patient_plot, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.text)
        layout.addLayout(charts, 1)
        self.set_catalog(None)

    def set_catalog(self, catalog: Catalog | None) -> None:
        """Redraw everything from ``catalog`` (None or empty: empty charts)."""
        summary = catalog.summary() if catalog is not None else {}
        self.summary = summary
        self.text.setText(summary_text(summary) if summary.get("images") else
                          "No images loaded. Import a dataset to see its summary.")
        colors = class_colors(summary.get("classes", []))
        self._draw_balance(summary.get("per_class_magnification", {}), colors)
        self._draw_patients(summary.get("per_patient", {}), colors)

    def _reset(self, plot: pg.PlotWidget, name: str) -> pg.PlotItem:
        item = plot.getPlotItem()
        item.clear()
        if item.legend is not None:
            item.legend.scene().removeItem(item.legend)
            item.legend = None
        self.bars[name] = []
        return item

    def _draw_balance(self, per_class_mag: dict[str, dict[str, int]], colors: dict[str, str]) -> None:
        """Grouped bars: x = magnification, one bar per class."""
        item = self._reset(self.balance_plot, "balance")
        mags = sorted({m for counts in per_class_mag.values() for m in counts},
                      key=lambda m: natural_key(None if m == "-" else m))
        classes = list(per_class_mag)
        self.balance_plot.setVisible(bool(mags and classes))
        if not mags or not classes:
            return
        legend = item.addLegend(offset=(-10, 10), labelTextColor="#333", brush=pg.mkBrush(255, 255, 255, 200))
        width = 0.8 / len(classes)
        for ci, label in enumerate(classes):
            xs = [mi - 0.4 + width * (ci + 0.5) for mi in range(len(mags))]
            heights = [per_class_mag[label].get(m, 0) for m in mags]
            bar = pg.BarGraphItem(x=xs, height=heights, width=width * 0.9, brush=colors[label], pen=None)
            item.addItem(bar)
            legend.addItem(bar, label)
            self.bars["balance"].append(bar)
        item.getAxis("bottom").setTicks([[(i, m) for i, m in enumerate(mags)]])
        item.setXRange(-0.6, len(mags) - 0.4, padding=0)
        top = max(max(c.values(), default=0) for c in per_class_mag.values())
        item.setYRange(0, top * 1.25 + 1, padding=0)
        item.setLabel("left", "images")

    def _draw_patients(self, per_patient: dict[str, dict[str, int]], colors: dict[str, str]) -> None:
        """Horizontal stacked bars: one row per patient, segments per class."""
        item = self._reset(self.patient_plot, "patients")
        def order(p: str) -> tuple:  # grouped by main class, then most images first
            counts = per_patient[p]
            return (max(sorted(counts), key=counts.get), -sum(counts.values()), natural_key(p))

        patients = sorted(per_patient, key=order)
        self._patients = []
        self.patient_plot.setVisible(bool(patients))
        if not patients:
            return
        classes = sorted({c for counts in per_patient.values() for c in counts})
        left = [0.0] * len(patients)
        ys = list(range(len(patients)))
        for label in classes:
            widths = [per_patient[p].get(label, 0) for p in patients]
            bar = pg.BarGraphItem(x0=left, y=ys, height=0.7, width=widths, brush=colors.get(label, "#999"),
                                  pen=None)
            item.addItem(bar)
            self.bars["patients"].append(bar)
            left = [a + b for a, b in zip(left, widths)]
        self._patients = patients
        self._on_patient_plot_resized()
        item.setYRange(-0.6, len(patients) - 0.4, padding=0)
        item.setXRange(0, max(left) * 1.05 + 1, padding=0)
        item.setLabel("bottom", "images")
        item.invertY(True)

    def _on_patient_plot_resized(self, *_args) -> None:
        """Label only as many patients as fit the plot's height (about 14 px each)."""
        patients = self._patients
        if not patients:
            return
        height = max(1.0, self.patient_plot.getViewBox().height())
        step = max(1, -(-len(patients) * 14 // int(height)))
        ticks = [(i, patients[i]) for i in range(0, len(patients), step)]
        self.patient_plot.getAxis("left").setTicks([ticks, []])
