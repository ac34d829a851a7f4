"""Lasso selection: a free-form polygon dragged on the plot selects the points inside it."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal


def points_in_polygon(points, polygon) -> np.ndarray:
    """Boolean mask [N]: which ``points`` [N, 2] lie inside ``polygon`` [M, 2] (even-odd ray casting, vectorised)."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    poly = np.asarray(polygon, dtype=np.float64).reshape(-1, 2)
    inside = np.zeros(len(pts), dtype=bool)
    if len(poly) < 3 or not len(pts):
        return inside
    x, y = pts[:, 0], pts[:, 1]
    x1, y1 = poly[:, 0], poly[:, 1]
    x2, y2 = np.roll(x1, -1), np.roll(y1, -1)
    for ax, ay, bx, by in zip(x1, y1, x2, y2):
        crosses = (ay > y) != (by > y)
        with np.errstate(divide="ignore", invalid="ignore"):
            xs = ax + (y - ay) * (bx - ax) / (by - ay)
        inside ^= crosses & (x < xs)
    return inside


class LassoViewBox(pg.ViewBox):
    """A ViewBox that, while ``lasso`` is on, turns a left-button drag into a polygon (``lasso_finished``)."""

    lasso_finished = Signal(object)  # np.ndarray [M, 2] polygon in data coordinates

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.lasso = False
        self._path: list[tuple[float, float]] = []
        self._curve = pg.PlotCurveItem(pen=pg.mkPen("#d62728", width=2, style=Qt.PenStyle.DashLine))
        self._curve.setZValue(1000)
        self.addItem(self._curve, ignoreBounds=True)

    def set_lasso(self, on: bool) -> None:
        """Switch lasso mode (a drag draws a selection) on or off (a drag pans)."""
        self.lasso = bool(on)
        self.clear_lasso()

    def clear_lasso(self) -> None:
        """Remove the drawn polygon."""
        self._path = []
        self._curve.setData([], [])

    def show_polygon(self, polygon) -> None:
        """Draw ``polygon`` (closed) as the current lasso."""
        poly = np.asarray(polygon, dtype=float).reshape(-1, 2)
        closed = np.vstack([poly, poly[:1]]) if len(poly) else poly
        self._curve.setData(closed[:, 0], closed[:, 1])

    def mouseDragEvent(self, ev, axis=None):
        """Record the lasso path while lasso mode is on; otherwise pan/zoom as usual."""
        if not self.lasso or ev.button() != Qt.MouseButton.LeftButton:
            return super().mouseDragEvent(ev, axis)
        ev.accept()
        p = self.mapSceneToView(ev.scenePos())
        if ev.isStart():
            self._path = []
        self._path.append((p.x(), p.y()))
        self.show_polygon(self._path)
        if ev.isFinish() and len(self._path) >= 3:
            self.lasso_finished.emit(np.asarray(self._path))
        return None
