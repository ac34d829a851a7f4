"""gui.canvas: the one zoomable image canvas (fit keeps the aspect ratio, wheel/keys zoom, drag pans, overlay)."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent, QWheelEvent
from PySide6.QtWidgets import QApplication

from gui.canvas import ImageCanvas


def _image(h: int = 100, w: int = 300) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 255, (h, w, 3), dtype=np.uint8)


@pytest.fixture
def canvas(qtbot):
    widget = ImageCanvas("Nothing yet")
    qtbot.addWidget(widget)
    widget.resize(400, 400)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def _shown_rect(canvas):
    """The base image's rectangle in viewport pixels."""
    return canvas.view.mapFromScene(canvas.view.sceneRect()).boundingRect()


def test_fit_keeps_the_aspect_ratio(canvas):
    assert canvas.text() == "Nothing yet" and not canvas.fit_action.isEnabled()
    canvas.set_image(_image(100, 300))
    assert canvas.has_image() and canvas.is_fitting() and canvas.fit_action.isEnabled()
    rect = _shown_rect(canvas)
    assert rect.width() / rect.height() == pytest.approx(3.0, rel=0.03)  # not stretched to the square view
    assert rect.width() == pytest.approx(canvas.view.viewport().width(), abs=3)
    canvas.resize(600, 400)  # fit follows the canvas size
    QApplication.processEvents()
    assert _shown_rect(canvas).width() == pytest.approx(canvas.view.viewport().width(), abs=3)


def test_keys_wheel_and_one_to_one(qtbot, canvas):
    canvas.set_image(_image(100, 300))
    fit = canvas.zoom()
    canvas.view.setFocus()
    qtbot.keyClick(canvas.view, Qt.Key.Key_Plus)
    assert canvas.zoom() == pytest.approx(fit * 1.25) and not canvas.is_fitting()
    qtbot.keyClick(canvas.view, Qt.Key.Key_Minus)
    qtbot.keyClick(canvas.view, Qt.Key.Key_Minus)
    assert canvas.zoom() == pytest.approx(fit / 1.25)
    qtbot.keyClick(canvas.view, Qt.Key.Key_1)
    assert canvas.zoom() == 1.0 and canvas.zoom_label.text() == "100%"
    rect = _shown_rect(canvas)
    assert (rect.width(), rect.height()) == pytest.approx((300, 100), abs=1)  # one image pixel per screen pixel
    qtbot.keyClick(canvas.view, Qt.Key.Key_0)
    assert canvas.is_fitting() and canvas.zoom() == pytest.approx(fit)

    centre = QPointF(canvas.view.viewport().rect().center())
    wheel = QWheelEvent(centre, canvas.view.mapToGlobal(centre), QPoint(), QPoint(0, 120),
                        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(canvas.view.viewport(), wheel)
    assert canvas.zoom() == pytest.approx(fit * 1.25)
    canvas.zoom_out()
    canvas.zoom_out()
    assert canvas.zoom() < fit


def _mouse(view, kind, pos: QPointF, buttons) -> None:
    button = Qt.MouseButton.LeftButton if kind != QEvent.Type.MouseMove else Qt.MouseButton.NoButton
    event = QMouseEvent(kind, pos, view.viewport().mapToGlobal(pos), button, buttons, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(view.viewport(), event)


def test_drag_pans_the_zoomed_image(canvas):
    canvas.set_image(_image(100, 300))
    canvas.view.set_zoom(8.0)  # 2400 x 800 screen pixels: room to pan both ways
    view = canvas.view
    before = view.mapToScene(view.viewport().rect().center())
    held = Qt.MouseButton.LeftButton
    _mouse(view, QEvent.Type.MouseButtonPress, QPointF(200, 200), held)
    _mouse(view, QEvent.Type.MouseMove, QPointF(150, 180), held)
    _mouse(view, QEvent.Type.MouseMove, QPointF(100, 160), held)
    _mouse(view, QEvent.Type.MouseButtonRelease, QPointF(100, 160), Qt.MouseButton.NoButton)
    after = view.mapToScene(view.viewport().rect().center())
    assert after.x() - before.x() == pytest.approx(100 / 8.0, abs=0.5)  # dragged left: the view moves right
    assert after.y() - before.y() == pytest.approx(40 / 8.0, abs=0.5)


def test_overlay_opacity_changes_the_rendered_pixel(canvas):
    grey = np.full((20, 30, 3), 100, np.uint8)
    red = np.zeros((10, 15, 3), np.uint8)  # half the resolution: stretched over the whole image
    red[..., 0] = 255
    canvas.set_image(grey)
    canvas.set_overlay(red, opacity=0.0)
    assert canvas.render_scene().pixelColor(25, 15).getRgb()[:3] == (100, 100, 100)
    canvas.set_overlay_opacity(0.5)
    r, g, _b, _a = canvas.render_scene().pixelColor(25, 15).getRgb()
    assert r == pytest.approx(178, abs=3) and g == pytest.approx(50, abs=3)
    canvas.set_overlay_opacity(1.0)
    assert canvas.render_scene().pixelColor(25, 15).getRgb()[:3] == (255, 0, 0)
    assert (canvas.render_scene().width(), canvas.render_scene().height()) == (30, 20)


def test_new_image_resets_and_failure_clears(canvas):
    canvas.set_image(_image(100, 300))
    canvas.set_overlay(_image(100, 300))
    canvas.view.set_zoom(3.0)
    canvas.set_image(_image(50, 80))
    assert canvas.is_fitting() and canvas.overlay_pixmap().isNull()
    assert canvas.pixmap().width() == 80 and canvas.view.sceneRect().height() == 50
    canvas.view.set_zoom(2.0)
    canvas.set_image(_image(50, 80), keep_view=True)  # the same size, stepping through: the zoom stays
    assert canvas.zoom() == pytest.approx(2.0)

    canvas.set_message("Cannot show this image: not an image file")
    assert not canvas.has_image() and canvas.pixmap().isNull()
    assert canvas.text() == "Cannot show this image: not an image file"
    assert not any(a.isEnabled() for a in (canvas.fit_action, canvas.actual_action, canvas.zoom_in_action))
    canvas.set_overlay(_image(10, 10))  # no overlay without an image
    assert canvas.overlay_pixmap().isNull()
    canvas.set_image(None)
    assert canvas.text() == "Nothing yet"


def test_dataset_preview_shows_the_image_at_its_own_size(qtbot, tmp_path):
    """The dataset preview decodes (in its pool thread) at the image's own size; a bad file gets one line."""
    import cv2

    from engine.data.catalog import ImageRecord
    from gui.dataset.preview import ImagePreviewWidget

    path = tmp_path / "wide.png"
    cv2.imwrite(str(path), _image(200, 300))
    preview = ImagePreviewWidget()
    qtbot.addWidget(preview)
    preview.set_record(ImageRecord(path=str(path), label="benign", width=300, height=200))
    assert preview.image_label.text() == "Loading..."
    qtbot.waitUntil(preview.has_image, timeout=10_000)
    assert (preview.image_label.pixmap().width(), preview.image_label.pixmap().height()) == (300, 200)

    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    preview.set_record(ImageRecord(path=str(bad), label="benign"))
    qtbot.waitUntil(lambda: preview.image_label.text().startswith("Cannot show this image: "), timeout=10_000)
    assert not preview.has_image() and "\n" not in preview.image_label.text()
    preview.shutdown()


def test_classifications_preview_overlays_the_saved_heatmap(qtbot, tmp_path):
    """A result row's image at its own size, its saved heatmap as an overlay whose opacity the slider sets."""
    import cv2

    from gui.deploy.results_view import ClassifyResultsWidget

    image, heatmap = tmp_path / "a.png", tmp_path / "a.heat.png"
    cv2.imwrite(str(image), _image(200, 300))
    cv2.imwrite(str(heatmap), np.full((200, 300, 3), 255, np.uint8))
    row = {"path": str(image), "page": 0, "status": "ok", "class": "benign", "prob": 0.9, "reason": None,
           "heatmap": str(heatmap), "p_benign": 0.9, "p_malignant": 0.1}
    result = {"rows": [row], "classes": ["benign", "malignant"], "n_ok": 1, "n_failed": 0, "backend": "torch",
              "csv": str(tmp_path / "predictions.csv")}
    view = ClassifyResultsWidget(result, folder=str(tmp_path))
    qtbot.addWidget(view)
    view.select_row(0)
    canvas = view.image_label
    qtbot.waitUntil(lambda: not canvas.overlay_pixmap().isNull(), timeout=10_000)
    assert (canvas.pixmap().width(), canvas.pixmap().height()) == (300, 200) and view.heatmap_row.isVisibleTo(view)
    view.heatmap_slider.setValue(0)
    assert canvas.overlay_opacity() == 0.0
    expected = tuple(int(v) for v in _image(200, 300)[10, 10, ::-1])  # cv2 wrote the array as BGR
    assert canvas.render_scene().pixelColor(10, 10).getRgb()[:3] == expected
    view.shutdown()
