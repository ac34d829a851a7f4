"""engine.explain.placement: heatmaps drawn on the image's own pixels, at its own size and aspect ratio."""

from __future__ import annotations

import numpy as np
import pytest

from engine.deploy.spec import InputSpec
from engine.explain.placement import heat_rgba, input_box, overlay_on_source, place_cam


def _coordinates(height: int, width: int) -> np.ndarray:
    """An image whose red channel is the column and green the row (scaled to 0-255)."""
    ys, xs = np.mgrid[0:height, 0:width]
    image = np.zeros((height, width, 3), np.uint8)
    image[..., 0] = np.round(xs * 255 / (width - 1))
    image[..., 1] = np.round(ys * 255 / (height - 1))
    return image


@pytest.mark.parametrize("height,width", [(200, 300), (300, 200), (460, 700)])
@pytest.mark.parametrize("resize", [None, 48])
def test_input_box_is_where_the_models_square_comes_from(height, width, resize):
    """The box's corners hold the original coordinates of the square's corner pixels (keep_aspect: centre crop)."""
    from engine.data.cache import resize_image

    spec = InputSpec(size=32, resize=resize, keep_aspect=True)
    square = spec.square(resize_image(_coordinates(height, width), spec.load_size, spec.keep_aspect))
    top, left, bh, bw = input_box(spec, height, width)
    assert bh == pytest.approx(bw, rel=0.05) and bh == pytest.approx(min(height, width), rel=0.05)
    cell = max(height, width) / 32 + 2  # one model pixel, plus rounding
    col = lambda value: value / 255 * (width - 1)  # noqa: E731 - the red channel back to a column
    row = lambda value: value / 255 * (height - 1)  # noqa: E731
    assert col(float(square[16, 0, 0])) == pytest.approx(left, abs=cell)
    assert col(float(square[16, -1, 0])) == pytest.approx(left + bw, abs=cell)
    assert row(float(square[0, 16, 1])) == pytest.approx(top, abs=cell)
    assert row(float(square[-1, 16, 1])) == pytest.approx(top + bh, abs=cell)

    stretched = InputSpec(size=32, resize=resize, keep_aspect=False)  # the whole image, stretched
    assert input_box(stretched, height, width) == (0.0, 0.0, float(height), float(width))


def test_place_cam_marks_what_the_model_did_not_see():
    cam = np.linspace(0, 1, 16, dtype=np.float32).reshape(4, 4)
    placed = place_cam(cam, (0.0, 50.0, 200.0, 200.0), 200, 300)
    assert placed.shape == (200, 300)
    assert np.isnan(placed[:, :50]).all() and np.isnan(placed[:, 250:]).all()
    assert np.isfinite(placed[:, 50:250]).all() and 0 <= np.nanmin(placed) <= np.nanmax(placed) <= 1
    rgba = heat_rgba(cam, (0.0, 500.0, 2000.0, 2000.0), 2000, 3000, max_side=600)
    assert rgba.shape == (400, 600, 4)  # the image's aspect ratio, drawn small
    assert rgba[:, :90, 3].max() == 0 and rgba[:, 110:490, 3].min() == 255


def test_overlay_is_saved_at_the_images_own_size(tmp_path):
    """A 300 x 200 image: the overlay (and its PNG) is 300 x 200; outside the model's square it is the image."""
    import cv2

    from engine.explain.overlay import save_png

    source = np.full((200, 300, 3), 90, np.uint8)
    cam = np.ones((32, 32), np.float32)
    for keep_aspect in (False, True):
        spec = InputSpec(size=32, keep_aspect=keep_aspect)
        overlay = overlay_on_source(spec, source, cam, alpha=0.5, colormap="hot")
        assert overlay.shape == (200, 300, 3)
        path = save_png(tmp_path / f"o{keep_aspect}.png", overlay)
        assert cv2.imread(str(path)).shape == (200, 300, 3)
        centre, edge = overlay[100, 150], overlay[100, 5]
        assert not np.array_equal(centre, source[100, 150])  # coloured where the model looked
        assert np.array_equal(edge, source[100, 5]) == keep_aspect  # the cropped-off sides stay the image
