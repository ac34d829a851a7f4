"""Layers of an :class:`~gui.canvas.widget.ImageCanvas`: what the canvas draws, in base-image pixels.

The canvas's scene coordinates are the pixels of its *base layer* (the image at its own size, so a
300 x 100 image spans ``QRectF(0, 0, 300, 100)``); zoom 1.0 shows one image pixel per screen pixel.
A layer is any ``QGraphicsItem`` whose ``boundingRect()`` is in those coordinates. :class:`ImageLayer`
draws one whole image (the usual case, and the heatmap overlay, stretched over the base image when its
resolution differs). A slide viewer adds its own ``QGraphicsItem`` subclass whose ``paint`` draws only the
tiles in ``option.exposedRect`` from the pyramid level matching
``option.levelOfDetailFromTransform(painter.worldTransform())``; the canvas needs nothing else from it.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QSizeF, Qt
from PySide6.QtGui import QImage, QPixmap, QTransform
from PySide6.QtWidgets import QGraphicsItem, QGraphicsPixmapItem

from gui.images import numpy_to_qimage

__all__ = ["ImageLayer", "as_pixmap"]


def as_pixmap(image: QImage | QPixmap | np.ndarray | None) -> QPixmap:
    """``image`` (a QImage, QPixmap, uint8 numpy array or None) as a QPixmap (null for None); GUI thread."""
    if image is None:
        return QPixmap()
    if isinstance(image, QPixmap):
        return image
    if isinstance(image, QImage):
        return QPixmap.fromImage(image)
    return QPixmap.fromImage(numpy_to_qimage(image))


class ImageLayer(QGraphicsPixmapItem):
    """One whole image drawn over ``(0, 0) - size`` of the scene (its own pixel size by default)."""

    def __init__(self, parent: QGraphicsItem | None = None):
        super().__init__(parent)
        self.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self.setShapeMode(QGraphicsPixmapItem.ShapeMode.BoundingRectShape)

    def set_image(self, image: QImage | QPixmap | np.ndarray | None, size: QSizeF | None = None) -> None:
        """Show ``image`` (None clears), scaled to cover ``size`` scene units (default: its own pixel size)."""
        pixmap = as_pixmap(image)
        self.setPixmap(pixmap)
        transform = QTransform()
        if size is not None and not pixmap.isNull():
            transform.scale(size.width() / pixmap.width(), size.height() / pixmap.height())
        self.setTransform(transform)

    def has_image(self) -> bool:
        """True when an image is set."""
        return not self.pixmap().isNull()

    def scene_size(self) -> QSizeF:
        """The size the layer covers in scene units (base-image pixels)."""
        return self.mapRectToScene(self.boundingRect()).size() if self.has_image() else QSizeF()
