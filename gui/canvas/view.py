"""The zoom and pan behaviour of the image canvas: a QGraphicsView over base-image pixels.

Wheel: zoom under the mouse. Keys: ``+``/``=`` zoom in, ``-`` zoom out, ``0`` fit, ``1`` one image pixel per
screen pixel. Drag: pan. While "fit" is on, the image refits when the view is resized; any zoom turns it off.
"""

from __future__ import annotations

import math

from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QColor, QKeyEvent, QPainter, QResizeEvent, QTransform, QWheelEvent
from PySide6.QtWidgets import QFrame, QGraphicsScene, QGraphicsView, QWidget

ZOOM_STEP = 1.25
MAX_ZOOM = 32.0
MIN_ZOOM = 0.01
WHEEL_NOTCH = 120  # angleDelta of one wheel notch


class CanvasView(QGraphicsView):
    """Shows a scene whose units are base-image pixels; :meth:`zoom` 1.0 is 1:1 (see the module docstring)."""

    zoom_changed = Signal(float)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self._fitting = True
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setRenderHints(QPainter.RenderHint.SmoothPixmapTransform | QPainter.RenderHint.Antialiasing)
        self.setBackgroundBrush(QColor("#e5e7eb"))
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)

    # --- zoom ---------------------------------------------------------------------
    def zoom(self) -> float:
        """Screen pixels per image pixel (1.0 = 1:1)."""
        return float(self.transform().m11())

    def is_fitting(self) -> bool:
        """True while the whole image is fitted to the view (and refitted on resize)."""
        return self._fitting

    def fit_zoom(self) -> float:
        """The zoom at which the whole scene fits the viewport, aspect ratio kept."""
        rect = self.sceneRect()
        view = self.viewport().rect()
        if rect.isEmpty() or view.isEmpty():
            return 1.0
        return min(view.width() / rect.width(), view.height() / rect.height())

    def fit(self) -> None:
        """Show the whole image, as large as the view allows, aspect ratio kept."""
        self._fitting = True
        self.setTransform(QTransform.fromScale(self.fit_zoom(), self.fit_zoom()))
        self.centerOn(self.sceneRect().center())
        self.zoom_changed.emit(self.zoom())

    def set_zoom(self, zoom: float, *, under_mouse: bool = False) -> None:
        """Zoom to ``zoom`` (clamped), about the view's centre or, with ``under_mouse``, the mouse position."""
        self._fitting = False
        zoom = min(MAX_ZOOM, max(min(MIN_ZOOM, self.fit_zoom()), float(zoom)))
        factor = zoom / self.zoom()
        if not math.isclose(factor, 1.0):
            anchors = QGraphicsView.ViewportAnchor
            self.setTransformationAnchor(anchors.AnchorUnderMouse if under_mouse else anchors.AnchorViewCenter)
            self.scale(factor, factor)
            self.setTransformationAnchor(anchors.AnchorUnderMouse)
        self.zoom_changed.emit(self.zoom())

    def zoom_by(self, factor: float, *, under_mouse: bool = False) -> None:
        """Multiply the zoom by ``factor``."""
        self.set_zoom(self.zoom() * factor, under_mouse=under_mouse)

    def set_scene_rect(self, rect: QRectF) -> None:
        """Set the scene's extent (the base layer's) and fit it."""
        self.scene().setSceneRect(rect)
        self.setSceneRect(rect)
        self.fit()

    # --- events -------------------------------------------------------------------
    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802 - Qt override
        """Zoom about the mouse position, one :data:`ZOOM_STEP` per wheel notch."""
        delta = event.angleDelta().y()
        if delta == 0 or self.sceneRect().isEmpty():
            event.ignore()
            return
        self.zoom_by(ZOOM_STEP ** (delta / WHEEL_NOTCH), under_mouse=True)
        event.accept()

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt override
        """``+``/``=`` zoom in, ``-`` zoom out, ``0`` fit, ``1`` 1:1; other keys go on as usual."""
        key = event.key()
        if key in (Qt.Key.Key_Plus, Qt.Key.Key_Equal):
            self.zoom_by(ZOOM_STEP)
        elif key in (Qt.Key.Key_Minus, Qt.Key.Key_Underscore):
            self.zoom_by(1 / ZOOM_STEP)
        elif key == Qt.Key.Key_0:
            self.fit()
        elif key == Qt.Key.Key_1:
            self.set_zoom(1.0)
        else:
            super().keyPressEvent(event)
            return
        event.accept()

    def resizeEvent(self, event: QResizeEvent) -> None:
        """Refit the image while "fit" is on."""
        super().resizeEvent(event)
        if self._fitting:
            self.fit()
