"""A heatmap on the image's own pixels: where the model's square input lies on the original image.

A CAM is computed over the square the model sees (:meth:`engine.deploy.spec.InputSpec.square`):
the whole image stretched to a square (``keep_aspect`` off) or, with ``keep_aspect``, the centre
square of the image resized with its aspect ratio kept. :func:`input_box` gives that square's
rectangle in the original image's pixels, and :func:`place_cam` puts the CAM there at the image's
own size and aspect ratio; pixels the model did not see are NaN, which
:func:`engine.explain.overlay.overlay_heatmap` leaves uncoloured.
"""

from __future__ import annotations

import numpy as np

from engine.explain.overlay import colormap_lut, resize_cam

MAX_SIDE = 4096
"""Longest side of a source image shown or saved under its heatmap; larger ones are scaled down, aspect kept."""

Box = tuple[float, float, float, float]  # top, left, height, width in the image's pixels


def input_box(spec, height: int, width: int) -> Box:
    """``(top, left, height, width)`` of the model's square input in a ``height`` x ``width`` image's pixels.

    ``spec`` is an :class:`~engine.deploy.spec.InputSpec`; the sizes follow its loader and square step
    (``resize_image``, then torchvision's shorter-side resize and centre crop) exactly.
    """
    size = int(spec.size)
    if not spec.keep_aspect:
        return 0.0, 0.0, float(height), float(width)
    load = spec.load_size
    scale = load / min(height, width)
    if width <= height:
        rw, rh = load, max(load, round(height * scale))
    else:
        rw, rh = max(load, round(width * scale)), load
    if min(rh, rw) != size:  # FitSquare: shorter side to ``size``, longer = int(size * long / short)
        rw, rh = (size, int(size * rh / rw)) if rw <= rh else (int(size * rw / rh), size)
    top, left = round((rh - size) / 2.0), round((rw - size) / 2.0)
    sy, sx = height / rh, width / rw
    return top * sy, left * sx, size * sy, size * sx


def scale_box(box: Box, sy: float, sx: float) -> Box:
    """``box`` in an image scaled by ``sy`` (rows) and ``sx`` (columns)."""
    top, left, height, width = box
    return top * sy, left * sx, height * sy, width * sx


def place_cam(cam: np.ndarray, box: Box, height: int, width: int) -> np.ndarray:
    """float32 ``height`` x ``width`` map: ``cam`` resized into ``box``, NaN outside it (not seen by the model)."""
    top, left, bh, bw = box
    y0, x0 = max(0, int(round(top))), max(0, int(round(left)))
    y1, x1 = min(height, int(round(top + bh))), min(width, int(round(left + bw)))
    out = np.full((height, width), np.nan, np.float32)
    if y1 > y0 and x1 > x0:
        out[y0:y1, x0:x1] = resize_cam(cam, y1 - y0, x1 - x0)
    return out


def heat_rgba(cam: np.ndarray, box: Box, height: int, width: int, colormap: str = "jet",
              max_side: int = 1024) -> np.ndarray:
    """The coloured heatmap over a ``height`` x ``width`` image as uint8 RGBA, transparent where not seen.

    Drawn at most ``max_side`` pixels long (the image's aspect ratio kept), to be stretched over the image:
    a heatmap has no finer detail than that, and colouring stays fast on the GUI thread.
    """
    factor = min(1.0, max_side / max(height, width))
    h, w = max(1, round(height * factor)), max(1, round(width * factor))
    placed = place_cam(cam, scale_box(box, h / height, w / width), h, w)
    seen = np.isfinite(placed)
    rgba = np.zeros((h, w, 4), np.uint8)
    rgba[..., :3] = colormap_lut(colormap)[np.round(np.nan_to_num(placed) * 255).astype(np.uint8)]
    rgba[..., 3] = np.where(seen, 255, 0)
    return rgba


def fit_side(image: np.ndarray, max_side: int = MAX_SIDE) -> np.ndarray:
    """``image`` scaled down (aspect kept) so its longest side is at most ``max_side``; unchanged otherwise."""
    h, w = image.shape[:2]
    if max(h, w) <= max_side:
        return image
    import cv2

    factor = max_side / max(h, w)
    return cv2.resize(image, (max(1, round(w * factor)), max(1, round(h * factor))), interpolation=cv2.INTER_AREA)


def on_source(spec, source: np.ndarray) -> tuple[np.ndarray, Box]:
    """(``source`` at most :data:`MAX_SIDE` pixels long, aspect kept; the model's square in its pixels)."""
    height, width = source.shape[:2]
    image = fit_side(source)
    h, w = image.shape[:2]
    return image, scale_box(input_box(spec, height, width), h / height, w / width)


def overlay_on_source(spec, source: np.ndarray, cam: np.ndarray, *, alpha: float = 0.5,
                      colormap: str = "jet") -> np.ndarray:
    """The heatmap ``cam`` (over the model's square) blended over the decoded ``source`` image at its own
    size and aspect ratio (at most :data:`MAX_SIDE` pixels long); uint8 H x W x 3."""
    from engine.explain.overlay import overlay_heatmap

    image, box = on_source(spec, source)
    return overlay_heatmap(image, place_cam(cam, box, *image.shape[:2]), alpha=alpha, colormap=colormap)
