"""The scatter plot of a 2-D map: one ScatterPlotItem (fast for 10^4-10^5 points), categorical colours, legend,
nearest-point hover/click and the lasso."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Signal

from gui.embedding.lasso import LassoViewBox, points_in_polygon

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
           "#bcbd22", "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94")
LEGEND_MAX = 16
HOVER_PX = 8  # a point counts as under the mouse within this many screen pixels


def category_colours(values: list[str]) -> tuple[list[str], dict[str, pg.QtGui.QColor]]:
    """(sorted categories, {category: colour}); the palette first, then evenly spaced hues."""
    cats = sorted(set(values), key=lambda v: (v == "", v))
    colours = {}
    for i, c in enumerate(cats):
        colours[c] = pg.mkColor(PALETTE[i]) if len(cats) <= len(PALETTE) else pg.intColor(i, hues=len(cats))
    if "" in colours:
        colours[""] = pg.mkColor("#bbbbbb")
    return cats, colours


class EmbeddingPlotWidget(pg.PlotWidget):
    """Scatter of ``coords`` coloured by a category; emits hovered/clicked point indices and lasso selections."""

    point_hovered = Signal(int)        # index, or -1 when no point is under the mouse
    point_clicked = Signal(int)
    point_double_clicked = Signal(int)
    selection_changed = Signal(object)  # np.ndarray of selected indices

    def __init__(self, parent=None):
        self.view = LassoViewBox()
        super().__init__(parent, viewBox=self.view)
        self.coords = np.zeros((0, 2), np.float32)
        self.selected = np.zeros(0, dtype=int)
        self.excluded = np.zeros(0, dtype=bool)
        self._brushes: list = []
        self.scatter = pg.ScatterPlotItem(size=7, pen=None, pxMode=True)
        self.addItem(self.scatter)
        self.highlight = pg.ScatterPlotItem(size=11, pen=pg.mkPen("k", width=1.5), brush=None)
        self.addItem(self.highlight)
        self.legend = pg.LegendItem(offset=(-10, 10), labelTextSize="8pt")
        self.legend.setParentItem(self.getPlotItem().vb)
        self.getPlotItem().hideAxis("left")
        self.getPlotItem().hideAxis("bottom")
        self.view.lasso_finished.connect(self._on_lasso)
        self.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self.scene().sigMouseClicked.connect(self._on_mouse_clicked)

    # --- data -------------------------------------------------------------------
    def set_coords(self, coords) -> None:
        """New point positions (same points, e.g. PCA -> t-SNE); keeps colours and selection."""
        self.coords = np.asarray(coords, dtype=np.float32).reshape(-1, 2)
        if len(self.excluded) != len(self.coords):
            self.excluded = np.zeros(len(self.coords), dtype=bool)
        self._redraw()
        self.view.clear_lasso()
        if len(self.coords):
            self.view.autoRange(padding=0.05)

    def set_categories(self, values: list[str], title: str = "") -> None:
        """Colour each point by its category ``values[i]`` and rebuild the legend."""
        cats, colours = category_colours([str(v) for v in values])
        self._brushes = [pg.mkBrush(colours[str(v)]) for v in values]
        self.legend.clear()
        for c in cats[:LEGEND_MAX]:
            self.legend.addItem(pg.ScatterPlotItem(size=8, pen=None, brush=colours[c]), c or "(none)")
        if len(cats) > LEGEND_MAX:
            self.legend.addItem(pg.ScatterPlotItem(size=0, pen=None), f"... {len(cats) - LEGEND_MAX} more")
        self._redraw()

    def set_excluded(self, mask) -> None:
        """Points excluded from training are drawn as crosses."""
        self.excluded = np.asarray(mask, dtype=bool)
        self._redraw()

    @property
    def brushes(self) -> list:
        """The current brush of every point (for tests and exports)."""
        return list(self._brushes)

    def _redraw(self) -> None:
        n = len(self.coords)
        brushes = self._brushes if len(self._brushes) == n else [pg.mkBrush("#1f77b4")] * n
        symbols = np.where(self.excluded, "x", "o") if len(self.excluded) == n else "o"
        self.scatter.setData(pos=self.coords, brush=brushes, symbol=symbols, data=np.arange(n))
        self._draw_selection()

    # --- selection ----------------------------------------------------------------
    def select_polygon(self, polygon) -> np.ndarray:
        """Select the points inside ``polygon`` [M, 2] (data coordinates); returns their indices."""
        self.view.show_polygon(polygon)
        self.set_selection(np.flatnonzero(points_in_polygon(self.coords, polygon)))
        return self.selected

    def set_selection(self, indices) -> None:
        """Select these point indices (empty clears)."""
        self.selected = np.asarray(indices, dtype=int).reshape(-1)
        self._draw_selection()
        self.selection_changed.emit(self.selected)

    def _draw_selection(self) -> None:
        self.highlight.setData(pos=self.coords[self.selected] if len(self.selected) else np.zeros((0, 2)))

    def _on_lasso(self, polygon) -> None:
        self.select_polygon(polygon)

    # --- hover and click ------------------------------------------------------------
    def nearest(self, scene_pos: QPointF, radius_px: float = HOVER_PX) -> int:
        """Index of the point nearest to ``scene_pos`` within ``radius_px`` screen pixels, else -1."""
        if not len(self.coords) or not self.view.sceneBoundingRect().contains(scene_pos):
            return -1
        p = self.view.mapSceneToView(scene_pos)
        px = self.view.viewPixelSize()  # data units per screen pixel (x, y)
        d2 = ((self.coords[:, 0] - p.x()) / px[0]) ** 2 + ((self.coords[:, 1] - p.y()) / px[1]) ** 2
        i = int(np.argmin(d2))
        return i if d2[i] <= radius_px ** 2 else -1

    def _on_mouse_moved(self, scene_pos) -> None:
        self.point_hovered.emit(self.nearest(scene_pos))

    def _on_mouse_clicked(self, ev) -> None:
        i = self.nearest(ev.scenePos())
        if i < 0:
            return
        (self.point_double_clicked if ev.double() else self.point_clicked).emit(i)
