"""ImageCanvas: a zoomable, pannable image with an optional overlay, or a one-line message instead.

Used by every image view of the app (dataset preview, prediction browser, Explain an image,
classifications preview). The image keeps its aspect ratio; the toolbar has Fit, 1:1, zoom out/in
and the zoom in percent; the keys and wheel of :class:`~gui.canvas.view.CanvasView` work once the
canvas has focus. Give it decoded images (decode them with :class:`gui.tasks.TaskRunner`, never in
the GUI thread); a failed decode is shown with :meth:`ImageCanvas.set_message`, which clears the image.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRectF, QSize, Qt, Signal, Slot
from PySide6.QtGui import QAction, QImage, QPainter, QPixmap
from PySide6.QtWidgets import QGraphicsItem, QLabel, QSizePolicy, QStackedLayout, QToolBar, QVBoxLayout, QWidget

from gui.canvas.layers import ImageLayer
from gui.canvas.view import ZOOM_STEP, CanvasView

ImageLike = QImage | QPixmap | np.ndarray | None


class ImageCanvas(QWidget):
    """One image (base layer) with an optional overlay at an adjustable opacity; see the module docstring."""

    image_changed = Signal()  # a new image or message is shown

    def __init__(self, empty_text: str = "", parent: QWidget | None = None, *, toolbar: bool = True):
        super().__init__(parent)
        self._empty_text = empty_text
        self.view = CanvasView()
        self.base = ImageLayer()
        self.overlay = ImageLayer()
        self.overlay.setOpacity(0.5)
        self.view.scene().addItem(self.base)
        self.view.scene().addItem(self.overlay)
        self.overlay.setZValue(1)
        self.label = QLabel(empty_text)
        self.label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.label.setWordWrap(True)
        self.label.setStyleSheet("QLabel { background: #f3f4f6; color: #6b7280; border-radius: 4px; }")
        self.label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self._stack = QStackedLayout()
        self._stack.addWidget(self.label)
        self._stack.addWidget(self.view)
        self.toolbar = QToolBar()
        self.toolbar.setIconSize(QSize(14, 14))
        self.toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.fit_action = self._action("Fit", "Show the whole image (key 0)", self.fit)
        self.actual_action = self._action("1:1", "One image pixel per screen pixel (key 1)", self.actual_size)
        self.zoom_out_action = self._action("−", "Zoom out (key -, or the mouse wheel)", self.zoom_out)
        self.zoom_in_action = self._action("+", "Zoom in (key +, or the mouse wheel); drag to pan", self.zoom_in)
        self.zoom_label = QLabel("")
        self.zoom_label.setStyleSheet("color: #6b7280; padding-left: 4px;")
        self.toolbar.addWidget(self.zoom_label)
        self.toolbar.setVisible(toolbar)
        self.view.zoom_changed.connect(self._on_zoom_changed)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addLayout(self._stack, 1)
        layout.addWidget(self.toolbar)
        self.setMinimumSize(QSize(160, 120))
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self._show_message(empty_text)

    def _action(self, text: str, tip: str, slot) -> QAction:
        action = QAction(text, self)
        action.setToolTip(tip)
        action.triggered.connect(slot)
        self.toolbar.addAction(action)
        return action

    # --- content ------------------------------------------------------------------
    def set_image(self, image: ImageLike, *, keep_view: bool = False) -> None:
        """Show ``image`` at its own aspect ratio (None clears to the empty text); removes the overlay.

        The view is fitted, unless ``keep_view`` and the new image has the size of the old one (stepping
        through same-sized images keeps the zoom and position).
        """
        old = self.base.scene_size()
        self.base.set_image(image)
        self.overlay.set_image(None)
        if not self.base.has_image():
            self._show_message(self._empty_text)
            return
        size = self.base.scene_size()
        self._stack.setCurrentWidget(self.view)
        self._set_enabled(True)
        if keep_view and size == old:
            self.view.setSceneRect(QRectF(0, 0, size.width(), size.height()))
        else:
            self.view.set_scene_rect(QRectF(0, 0, size.width(), size.height()))
        self.image_changed.emit()

    def set_overlay(self, image: ImageLike, opacity: float | None = None) -> None:
        """Draw ``image`` over the whole base image (stretched to it if its resolution differs); None removes it."""
        self.overlay.set_image(image if self.base.has_image() else None, self.base.scene_size())
        if opacity is not None:
            self.set_overlay_opacity(opacity)

    def set_overlay_opacity(self, opacity: float) -> None:
        """The overlay's opacity, 0 (invisible) to 1 (opaque)."""
        self.overlay.setOpacity(min(1.0, max(0.0, float(opacity))))

    def overlay_opacity(self) -> float:
        """The overlay's opacity."""
        return float(self.overlay.opacity())

    def add_layer(self, item: QGraphicsItem, z: float = 2.0) -> None:
        """Add a layer of one's own (e.g. a slide viewer's tiles or annotations) in base-image pixels."""
        item.setZValue(z)
        self.view.scene().addItem(item)

    def set_message(self, text: str) -> None:
        """Clear the image and overlay and show ``text`` (e.g. "Loading..." or why an image cannot be shown)."""
        self.base.set_image(None)
        self.overlay.set_image(None)
        self._show_message(text)

    def text(self) -> str:
        """The message shown instead of an image ("" while an image is shown)."""
        return "" if self.has_image() else self.label.text()

    def pixmap(self) -> QPixmap:
        """The base image at its own size (null when none is shown)."""
        return self.base.pixmap()

    def overlay_pixmap(self) -> QPixmap:
        """The overlay image (null when none)."""
        return self.overlay.pixmap()

    def has_image(self) -> bool:
        """True while an image is shown."""
        return self.base.has_image()

    def render_scene(self, size: QSize | None = None) -> QImage:
        """The image with its overlay as drawn, at ``size`` (default: the base image's own size)."""
        scene_size = self.base.scene_size()
        target = size or QSize(round(scene_size.width()), round(scene_size.height()))
        out = QImage(target, QImage.Format.Format_RGB32)
        out.fill(Qt.GlobalColor.white)
        painter = QPainter(out)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        self.view.scene().render(painter, QRectF(out.rect()), QRectF(0, 0, scene_size.width(), scene_size.height()))
        painter.end()
        return out

    # --- zoom -----------------------------------------------------------------------
    def zoom(self) -> float:
        """Screen pixels per image pixel (1.0 = 1:1)."""
        return self.view.zoom()

    def is_fitting(self) -> bool:
        """True while the whole image is fitted to the canvas."""
        return self.view.is_fitting()

    @Slot()
    def fit(self) -> None:
        """Show the whole image."""
        self.view.fit()

    @Slot()
    def actual_size(self) -> None:
        """One image pixel per screen pixel."""
        self.view.set_zoom(1.0)

    @Slot()
    def zoom_in(self) -> None:
        """Zoom in one step."""
        self.view.zoom_by(ZOOM_STEP)

    @Slot()
    def zoom_out(self) -> None:
        """Zoom out one step."""
        self.view.zoom_by(1 / ZOOM_STEP)

    # --- internals ------------------------------------------------------------------
    def _show_message(self, text: str) -> None:
        self.label.setText(text)
        self._stack.setCurrentWidget(self.label)
        self._set_enabled(False)
        self.zoom_label.setText("")
        self.view.scene().setSceneRect(QRectF())
        self.image_changed.emit()

    def _set_enabled(self, on: bool) -> None:
        for action in (self.fit_action, self.actual_action, self.zoom_in_action, self.zoom_out_action):
            action.setEnabled(on)

    @Slot(float)
    def _on_zoom_changed(self, zoom: float) -> None:
        self.zoom_label.setText(f"{zoom * 100:.0f}%" if self.has_image() else "")
