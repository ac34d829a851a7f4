"""gui.images: the single numpy -> QImage/QPixmap converter."""

from __future__ import annotations

import numpy as np
import pytest

from gui.images import numpy_to_pixmap, numpy_to_qimage


def test_rgb_grey_and_rgba_arrays_convert(qapp):
    rgb = np.zeros((5, 7, 3), np.uint8)
    rgb[1, 2] = (10, 20, 30)
    image = numpy_to_qimage(rgb)
    assert (image.width(), image.height()) == (7, 5)
    assert image.pixelColor(2, 1).getRgb()[:3] == (10, 20, 30)

    grey = np.full((4, 3), 200, np.uint8)
    assert numpy_to_qimage(grey).pixelColor(0, 0).getRgb()[:3] == (200, 200, 200)
    assert numpy_to_qimage(grey[:, :, None]).width() == 3

    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[0, 1] = (1, 2, 3, 255)
    assert numpy_to_qimage(rgba).pixelColor(1, 0).getRgb() == (1, 2, 3, 255)

    pixmap = numpy_to_pixmap(rgb)
    assert not pixmap.isNull() and (pixmap.width(), pixmap.height()) == (7, 5)


def test_non_contiguous_arrays_and_owned_pixels(qapp):
    big = np.arange(6 * 8 * 3, dtype=np.uint8).reshape(6, 8, 3)
    view = big[::2, ::2]  # not contiguous
    image = numpy_to_qimage(view)
    assert (image.width(), image.height()) == (4, 3)
    expected = tuple(int(v) for v in view[1, 3])
    big[:] = 0  # the QImage owns a copy
    assert image.pixelColor(3, 1).getRgb()[:3] == expected


def test_bad_shapes_are_refused(qapp):
    with pytest.raises(ValueError):
        numpy_to_qimage(np.zeros((2, 2, 2), np.uint8))
    with pytest.raises(ValueError):
        numpy_to_qimage(np.zeros(5, np.uint8))
