"""Prediction browser on a tiny real run: table vs predictions.csv, filters, heatmaps, keyboard, export."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import Qt
from PySide6.QtGui import QImage

from engine.evaluation.predictions import read_predictions_csv
from gui.explain.prediction_browser import PredictionBrowserWidget

WAIT_MS = 30000


@pytest.fixture(scope="module")
def tiny_run(tiny_data, tmp_path_factory):
    """A basic CNN trained 2 epochs at 32 px on the tiny demo (about 3 s); its run folder."""
    from engine.training.job import train
    from tests.helpers import tiny_config

    home = tmp_path_factory.getbasetemp() / "histodesk-home"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HISTODESK_HOME", str(home))
        run = train(tiny_config(tiny_data, tmp_path_factory.mktemp("explain-runs"), epochs=1))
    return str(run.path)


@pytest.fixture
def browser(qtbot, tiny_run):
    widget = PredictionBrowserWidget(tiny_run, device="cpu")
    qtbot.addWidget(widget)
    widget.resize(1100, 600)
    widget.show()
    yield widget
    widget.shutdown()


def _wait_heatmap(qtbot, browser, path: str, method: str | None = None) -> dict:
    """Wait until the panel shows the heatmap of ``path`` (and ``method``)."""
    panel = browser.panel

    def shown():
        r = panel.last_result
        return (r is not None and r["request"] == panel._request and r["source"] == path
                and (method is None or r["method"] == method))

    qtbot.waitUntil(shown, timeout=WAIT_MS)
    return panel.last_result


def test_table_matches_csv_and_filters(browser, tiny_run):
    rows = read_predictions_csv(f"{tiny_run}/predictions.csv")
    assert browser.row_count() == browser.total_count() == len(rows)
    assert browser.count_label.text().startswith(f"{len(rows)} of {len(rows)} images")

    browser.set_filters(misclassified_only=True)
    wrong = sorted(r["path"] for r in rows if r["correct"] is False)
    assert sorted(r["path"] for r in browser.visible_rows()) == wrong
    assert browser.count_label.text().startswith(f"{len(wrong)} of {len(rows)}")
    browser.set_filters(misclassified_only=False)

    browser.set_filters(class_filter=("true", "malignant"))
    assert browser.row_count() == sum(r["true_label"] == "malignant" for r in rows) > 0
    assert {r["true_label"] for r in browser.visible_rows()} == {"malignant"}
    browser.set_filters(class_filter=("predicted", "benign"))
    assert browser.row_count() == sum(r["predicted_label"] == "benign" for r in rows)
    browser.set_filters(class_filter=None)

    patient = rows[0]["patient"]
    browser.set_filters(patient=patient)
    assert browser.row_count() == sum(r["patient"] == patient for r in rows) > 0
    browser.set_filters(patient=None, split="test")
    assert browser.row_count() == sum(r["split"] == "test" for r in rows) > 0
    browser.set_filters(split=None)

    cut = round(float(np.median([r["predicted_probability"] for r in rows])), 3)  # the spin box has 3 decimals
    browser.set_filters(min_prob=cut)
    assert browser.row_count() == sum(r["predicted_probability"] >= cut - 1e-9 for r in rows)
    assert min(r["predicted_probability"] for r in browser.visible_rows()) >= cut - 1e-9
    browser.set_filters(min_prob=0.0, max_prob=cut)
    assert max(r["predicted_probability"] for r in browser.visible_rows()) <= cut + 1e-9

    browser.table.sortByColumn(2, Qt.SortOrder.DescendingOrder)  # probability, numerically
    probs = [r["predicted_probability"] for r in browser.visible_rows()]
    assert probs == sorted(probs, reverse=True)


def test_heatmaps_methods_keyboard_and_export(qtbot, browser, tmp_path):
    browser.select_row(0)
    first = browser.current_prediction()["path"]
    result = _wait_heatmap(qtbot, browser, first)
    assert not browser.panel.overlay_pixmap().isNull()
    assert result["cam"].ndim == 2 and result["image"].ndim == 3
    assert 0.0 <= result["cam"].min() and result["cam"].max() <= 1.0
    assert browser.panel.bars.probabilities() == pytest.approx(
        [browser.current_prediction()[f"p_{c}"] for c in browser.classes])

    cams = {}
    for method in ("gradcam++", "eigencam", "gradcam"):
        browser.panel.set_method(method)
        cams[method] = _wait_heatmap(qtbot, browser, first, method)["cam"]
    assert browser.panel.status.text().startswith("Grad-CAM for ")
    assert not np.allclose(cams["eigencam"], cams["gradcam"])

    predicted = browser.classes.index(browser.current_prediction()["predicted_label"])
    assert browser.panel.last_result["target"] == predicted  # "predicted class" = the table's prediction
    other = 1 - predicted
    browser.panel.target_combo.setCurrentIndex(browser.panel.target_combo.findData(other))
    qtbot.waitUntil(lambda: not browser.panel.is_busy(), timeout=WAIT_MS)
    assert browser.panel.last_result["target"] == other
    assert f"for {browser.classes[other]} " in browser.panel.status.text() + " "
    browser.panel.target_combo.setCurrentIndex(0)
    qtbot.waitUntil(lambda: not browser.panel.is_busy(), timeout=WAIT_MS)

    before = browser.panel.overlay.copy()
    browser.panel.opacity_slider.setValue(90)  # re-blends the cached map, no new request
    assert not np.array_equal(before, browser.panel.overlay)

    browser.table.setFocus()
    qtbot.keyClick(browser.table, Qt.Key.Key_Down)
    assert browser.current_row() == 1
    _wait_heatmap(qtbot, browser, browser.current_prediction()["path"])
    qtbot.keyClick(browser.table, Qt.Key.Key_N)
    assert browser.current_row() == 2
    qtbot.keyClick(browser.table, Qt.Key.Key_P)
    assert browser.current_row() == 1

    for row in (3, 4, 5):  # quick steps: only the last image's heatmap is shown
        browser.select_row(row)
    last = _wait_heatmap(qtbot, browser, browser.current_prediction()["path"])
    assert last["source"] == browser.visible_rows()[5]["path"]

    out = tmp_path / "overlay.png"
    browser.panel.export_png(str(out))
    image = QImage(str(out))
    h, w = browser.panel.overlay.shape[:2]
    assert not image.isNull() and (image.width(), image.height()) == (w, h)


def test_misclassified_filter_selects_first_error_and_steps(qtbot, browser):
    """The issue's path: tick "Misclassified only", then step through the errors with the keyboard."""
    n_wrong = sum(r["correct"] is False for r in browser.source_model.rows())
    browser.select_row(0)
    qtbot.mouseClick(browser.misclassified_check, Qt.MouseButton.LeftButton)
    assert browser.misclassified_check.isChecked() and browser.row_count() == n_wrong
    if n_wrong == 0:  # a perfect tiny model: nothing to show
        assert browser.panel.image_view.text() == "No image matches the filters"
        return
    assert browser.current_prediction()["correct"] is False
    _wait_heatmap(qtbot, browser, browser.current_prediction()["path"])
    for _ in range(n_wrong + 1):  # past the last row it stays on the last one
        qtbot.keyClick(browser.table, Qt.Key.Key_Down)
        assert browser.current_prediction()["correct"] is False
    assert browser.current_row() == n_wrong - 1
    _wait_heatmap(qtbot, browser, browser.current_prediction()["path"])
    assert not browser.panel.overlay_pixmap().isNull()
