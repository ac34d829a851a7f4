"""One zoomable image canvas for every image view (dataset preview, prediction browser, Explain an image,
classifications preview): :class:`ImageCanvas`, built on :class:`CanvasView` and layers
(:mod:`gui.canvas.layers`) so that a slide viewer can supply its own tiled, multi-level layer."""

from gui.canvas.layers import ImageLayer
from gui.canvas.loading import load_native_qimage
from gui.canvas.view import CanvasView
from gui.canvas.widget import ImageCanvas

__all__ = ["CanvasView", "ImageCanvas", "ImageLayer", "load_native_qimage"]
