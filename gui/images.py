"""numpy arrays to Qt images: the one converter the GUI uses.

:func:`numpy_to_qimage` is safe in any thread (worker threads decode
thumbnails with it); :func:`numpy_to_pixmap` needs the GUI thread.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QImage, QPixmap

__all__ = ["numpy_to_pixmap", "numpy_to_qimage"]

_FORMATS = {1: QImage.Format.Format_Grayscale8, 3: QImage.Format.Format_RGB888, 4: QImage.Format.Format_RGBA8888}


def numpy_to_qimage(array: np.ndarray) -> QImage:
    """A deep-copied QImage of a uint8 grey ``H x W`` (or ``H x W x 1``), RGB ``H x W x 3`` or RGBA ``H x W x 4`` array.

    Other dtypes are cast to uint8; the array need not be contiguous. The
    result owns its pixels, so the array may be freed or changed afterwards.
    """
    arr = np.asarray(array)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3 or arr.shape[2] not in _FORMATS:
        raise ValueError(f"expected an H x W, H x W x 3 or H x W x 4 image array, got shape {arr.shape}")
    arr = np.ascontiguousarray(arr, dtype=np.uint8)
    h, w, channels = arr.shape
    return QImage(arr.data, w, h, channels * w, _FORMATS[channels]).copy()


def numpy_to_pixmap(array: np.ndarray) -> QPixmap:
    """A QPixmap of an image array (see :func:`numpy_to_qimage`); GUI thread only."""
    return QPixmap.fromImage(numpy_to_qimage(array))
