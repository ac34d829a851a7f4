"""Decoding images for the canvas at their own size: safe in any thread (run it in a :class:`gui.tasks.TaskRunner`)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QImage

from gui.images import numpy_to_qimage

MAX_SIDE = 4096
"""Longest side an image is shown at; larger ones are scaled down, aspect ratio kept (= engine.explain.placement)."""


def load_native_qimage(path: str, page: int = 0, max_side: int = MAX_SIDE) -> QImage:
    """Decode page ``page`` of ``path`` at its own size (scaled down, aspect kept, when longer than ``max_side``).

    Raises the engine's one-line :class:`~engine.data.imageio.ImageReadError` for a file that cannot be read.
    """
    from engine.data.imageio import read_image

    image = numpy_to_qimage(read_image(path, page=page))
    if max(image.width(), image.height()) > max_side:
        image = image.scaled(max_side, max_side, Qt.AspectRatioMode.KeepAspectRatio,
                             Qt.TransformationMode.SmoothTransformation)
    return image
