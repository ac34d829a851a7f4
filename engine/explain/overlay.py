"""Heatmap colouring and blending over the image (OpenCV colour maps, no matplotlib).

OpenCV is imported on first use, so the CLI's parser (which lists :data:`COLORMAPS`) starts without it.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from engine.errors import ConfigError
from engine.io_utils import atomic_write_bytes
from engine.options import Colormap, literal_values
from engine.schema import Probability, check_value

_CV2_MAPS = {name: f"COLORMAP_{name.upper()}" for name in literal_values(Colormap)}  # OpenCV's constant per map

COLORMAPS: list[str] = list(_CV2_MAPS)
"""Names accepted by :func:`colorize` and :func:`overlay_heatmap`."""


def colormap_lut(colormap: str = "jet") -> np.ndarray:
    """The 256 x 3 uint8 RGB lookup table of ``colormap`` (value 0 -> row 0)."""
    colormap = check_value(Colormap, colormap, "colormap")
    import cv2

    ramp = np.arange(256, dtype=np.uint8)[:, None]
    return cv2.applyColorMap(ramp, getattr(cv2, _CV2_MAPS[colormap]))[:, 0, ::-1].copy()


def resize_cam(cam: np.ndarray, height: int, width: int) -> np.ndarray:
    """``cam`` (float H' x W') resized bilinearly to ``height`` x ``width``, NaN -> 0, clipped to [0, 1]."""
    cam = np.nan_to_num(np.asarray(cam, np.float32), nan=0.0, posinf=1.0, neginf=0.0)
    if cam.ndim != 2:
        raise ConfigError(f"A heatmap must be 2-D (H x W), got shape {cam.shape}.")
    if cam.shape != (height, width):
        import cv2

        cam = cv2.resize(cam, (width, height), interpolation=cv2.INTER_LINEAR)
    return np.clip(cam, 0.0, 1.0)


def colorize(cam: np.ndarray, colormap: str = "jet") -> np.ndarray:
    """``cam`` in [0, 1] as a uint8 RGB image through ``colormap``."""
    cam = resize_cam(cam, *np.shape(cam)[:2])
    return colormap_lut(colormap)[np.round(cam * 255).astype(np.uint8)]


def overlay_heatmap(image_rgb_uint8: np.ndarray, cam: np.ndarray, *, alpha: float = 0.5,
                    colormap: str = "jet") -> np.ndarray:
    """Blend the coloured ``cam`` over the image: ``(1 - alpha) * image + alpha * colours``.

    ``cam`` (values in [0, 1]) is resized to the image; returns uint8 H x W x 3. Pixels where ``cam`` is
    NaN (outside the part of the image the model saw, see :mod:`engine.explain.placement`) keep the image.
    """
    image = np.asarray(image_rgb_uint8)
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ConfigError(f"Expected an RGB image (H x W x 3), got shape {image.shape}.")
    alpha = check_value(Probability, alpha, "alpha")  # the heatmap's opacity
    height, width = image.shape[:2]
    heat = colorize(resize_cam(cam, height, width), colormap).astype(np.float32)
    out = np.clip(np.round((1.0 - alpha) * image.astype(np.float32) + alpha * heat), 0, 255).astype(np.uint8)
    unseen = np.isnan(np.asarray(cam, np.float32))
    if unseen.any():
        if unseen.shape != (height, width):
            import cv2

            unseen = cv2.resize(unseen.astype(np.uint8), (width, height), interpolation=cv2.INTER_NEAREST) > 0
        out[unseen] = image[unseen]
    return out


def save_png(path: str | os.PathLike, rgb_uint8: np.ndarray) -> Path:
    """Write an RGB uint8 image as PNG (atomically; parent folders are created)."""
    import cv2

    path = Path(path)
    image = np.ascontiguousarray(np.asarray(rgb_uint8, np.uint8))
    if image.ndim == 3:
        image = image[:, :, ::-1]  # OpenCV writes BGR
    ok, data = cv2.imencode(".png", image)
    if not ok:
        raise ConfigError(f"Could not encode a PNG for {path}.")
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, data.tobytes())
    return path
