"""Explain-an-image dialog (path, drop, TTA), robustness view, and the Explain menu on a tiny real run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent

from gui.explain.image_dialog import ImageExplainDialog
from gui.explain.robustness_view import RobustnessViewWidget
from gui.workers import DONE, JobQueue
from gui.explain.actions import ExplainActions

WAIT_MS = 30000


@pytest.fixture(scope="module")
def tiny_run(tiny_data, tmp_path_factory):
    """A basic CNN trained 1 epoch at 32 px on the tiny demo; its run folder."""
    from engine.training.job import train
    from tests.helpers import tiny_config

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HISTODESK_HOME", str(tmp_path_factory.getbasetemp() / "histodesk-home"))
        run = train(tiny_config(tiny_data, tmp_path_factory.mktemp("explain-dialog-runs"), epochs=1))
    return str(run.path)


def _an_image(tiny_data) -> str:
    return str(sorted(Path(tiny_data).rglob("*.png"))[0])


def _wait_prediction(qtbot, dialog, path: str, tta) -> np.ndarray:
    panel = dialog.panel

    def done():
        r = panel.last_result
        return r is not None and r["request"] == panel._request and r["source"] == path and r["probs"] is not None

    qtbot.waitUntil(done, timeout=WAIT_MS)
    assert panel._tta == tta
    return np.asarray(dialog.probabilities())


def test_image_dialog_path_drop_and_tta(qtbot, tiny_run, tiny_data):
    dialog = ImageExplainDialog(str(Path(tiny_run).parent), device="cpu")
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.model_combo.count() == 1 and dialog.run_dir() == tiny_run

    image = _an_image(tiny_data)
    dialog.set_image_path(image)
    probs = _wait_prediction(qtbot, dialog, image, False)
    assert probs.shape == (2,) and probs.sum() == pytest.approx(1.0, abs=1e-5)
    assert dialog.predicted_class() in ("benign", "malignant")
    assert dialog.predicted_class() in dialog.result_label.text()
    assert not dialog.panel.overlay_pixmap().isNull()
    assert dialog.panel.bars.probabilities() == pytest.approx(probs.tolist())

    other = str(sorted(Path(tiny_data).rglob("*.png"))[-1])
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(other)])
    event = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    dialog.dropEvent(event)
    assert dialog.image_path == other
    dropped = _wait_prediction(qtbot, dialog, other, False)
    assert dropped.sum() == pytest.approx(1.0, abs=1e-5)

    dialog.set_tta(True)
    tta = _wait_prediction(qtbot, dialog, other, "s3")
    assert tta.sum() == pytest.approx(1.0, abs=1e-5)
    assert "TTA" in dialog.result_label.text()

    dialog.panel.set_method("occlusion")  # occlusion sensitivity runs in the same worker
    qtbot.waitUntil(lambda: not dialog.panel.is_busy(), timeout=WAIT_MS)
    result = dialog.panel.last_result
    assert result["method"] == "occlusion" and result["source"] == other
    assert result["cam"].ndim == 2 and 0.0 <= result["cam"].min() <= result["cam"].max() <= 1.0
    assert dialog.panel.status.text().startswith("Occlusion sensitivity for ")
    dialog.reject()


def _drop(dialog, path) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    dialog.dropEvent(QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                                Qt.KeyboardModifier.NoModifier))


def test_heatmap_at_own_aspect_and_a_bad_drop_clears_it(qtbot, tiny_run, tiny_data, tmp_path):
    """The image and its heatmap keep the image's size (64 x 48, not the model's 32 x 32 square); a file that
    cannot be read replaces them with its one-line error, and Export PNG is disabled."""
    dialog = ImageExplainDialog(str(Path(tiny_run).parent), device="cpu")
    qtbot.addWidget(dialog)
    dialog.show()
    image = _an_image(tiny_data)
    dialog.set_image_path(image)
    _wait_prediction(qtbot, dialog, image, False)
    canvas = dialog.panel.image_view
    assert (canvas.pixmap().width(), canvas.pixmap().height()) == (64, 48)
    assert dialog.panel.overlay.shape == (48, 64, 3) and dialog.panel.export_button.isEnabled()
    dialog.panel.export_png(str(tmp_path / "o.png"))
    from PySide6.QtGui import QImage

    assert QImage(str(tmp_path / "o.png")).size().toTuple() == (64, 48)

    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 20)
    _drop(dialog, bad)
    assert not dialog.panel.export_button.isEnabled()  # at once: the overlay shown is not this image's
    qtbot.waitUntil(lambda: not dialog.panel.is_busy(), timeout=WAIT_MS)
    assert dialog.image_path == str(bad) and not canvas.has_image() and dialog.panel.overlay is None
    assert canvas.text().startswith("Could not explain this image:") and "\n" not in canvas.text()
    assert not dialog.panel.export_button.isEnabled()
    assert "b00020" in dialog.result_label.text()  # the one-line error in red
    dialog.reject()


def test_robustness_view_runs_job_and_plots(qtbot, tiny_run):
    queue = JobQueue()
    view = RobustnessViewWidget(tiny_run, queue, noise=(0.0, 0.2), blur=(0.0, 2.0))
    qtbot.addWidget(view)
    assert view.results is None
    job = view.start()
    qtbot.waitUntil(lambda: job.state not in ("queued", "running"), timeout=WAIT_MS)
    assert job.state == DONE, job.error
    for kind, levels in (("noise", [0.0, 0.2]), ("blur", [0.0, 2.0])):
        xs, ys = view.plots[kind].curves["accuracy"].getData()
        assert list(xs) == pytest.approx(levels)
        assert all(0.0 <= y <= 1.0 for y in ys)
    assert view.run_button.isEnabled()
    assert (Path(tiny_run) / "robustness.json").exists()
    again = RobustnessViewWidget(tiny_run, queue)  # reads robustness.json
    qtbot.addWidget(again)
    assert again.results is not None and len(again.plots["noise"].curves["accuracy"].getData()[0]) == 2


def test_explain_menu_opens_closable_tabs(qtbot, tiny_run):
    from gui.main_window import MainWindow

    window = MainWindow(autoload=False, runs_dir=str(Path(tiny_run).parent))
    qtbot.addWidget(window)
    menu = window.menu("&Explain")
    assert [a.text() for a in menu.actions()] == ["Prediction browser", "Explain an image...",
                                                  "Robustness of selected run..."]
    tabs_before = window.tabs.count()
    browser = window.extension(ExplainActions).open_browser(tiny_run)
    assert window.tabs.count() == tabs_before + 1 and window.tabs.currentWidget() is browser
    assert window.extension(ExplainActions).open_browser(tiny_run) is browser  # no duplicate tab
    window.extension(ExplainActions).close_tab(browser)
    assert window.tabs.count() == tabs_before
    window.runs_tab.select_run(tiny_run)  # the run view's "Browse predictions" button opens the same tab
    button = getattr(window.run_view, "browse_button", None)
    if button is not None:
        assert button.isEnabled()
        button.click()
        assert window.tabs.count() == tabs_before + 1
        assert window.tabs.currentWidget().run_dir == tiny_run
        window.extension(ExplainActions).close_tab(window.tabs.currentWidget())
    dialog = window.extension(ExplainActions).open_image_dialog(tiny_run)
    assert dialog.run_dir() == tiny_run
    dialog.reject()
    window.close()


def test_closing_robustness_tab_while_its_job_runs(qtbot, tiny_run):
    """Closing the tab mid-job: the job is cancelled (or ends) without touching deleted widgets."""
    import shiboken6

    from gui.main_window import MainWindow
    from gui.workers import CANCELLED, FAILED

    window = MainWindow(autoload=False, runs_dir=str(Path(tiny_run).parent))
    window.confirm_close = lambda: True
    qtbot.addWidget(window)
    view = window.extension(ExplainActions).open_robustness(tiny_run)
    assert view is not None
    job = view.start()
    window.extension(ExplainActions).close_tab(view)
    qtbot.waitUntil(lambda: job.state not in ("queued", "running"), timeout=WAIT_MS)
    assert job.state != FAILED, job.error
    assert job.state in (CANCELLED, DONE)
    qtbot.wait(50)  # late queued signals reach no deleted widget
    qtbot.waitUntil(lambda: not shiboken6.isValid(view), timeout=5000)  # the tab's widgets are gone
    job.on_finished({"noise": [], "blur": []})  # a late result is ignored, not drawn on deleted widgets
    window.close()


def test_explain_image_dialog_is_deleted_and_drops_its_model(qtbot, tiny_run, tiny_data):
    from gui.main_window import MainWindow

    window = MainWindow(autoload=False, runs_dir=str(Path(tiny_run).parent))
    qtbot.addWidget(window)
    dialog = window.extension(ExplainActions).open_image_dialog(tiny_run)
    image = _an_image(tiny_data)
    dialog.set_image_path(image)
    _wait_prediction(qtbot, dialog, image, False)
    service = dialog.service
    assert service.model_ready()
    destroyed = []
    dialog.destroyed.connect(lambda *_: destroyed.append(True))
    dialog.reject()
    assert service._explainer is None and not service.model_ready()
    qtbot.waitUntil(lambda: bool(destroyed), timeout=5000)
    assert dialog not in window.extension(ExplainActions).dialogs
    window.close()


def test_explain_service_shutdown_does_not_wait_for_the_running_task(qtbot):
    import threading
    import time

    from gui.explain import worker
    from gui.tasks import wait_for_retired

    service = worker.ExplainService("unused")
    release = threading.Event()
    started = threading.Event()

    def slow(_explainer, _cancel):
        started.set()
        release.wait(10)
        return {"ok": True}

    service.explainer = lambda: None  # no model needed for this task
    service.request(slow)
    assert started.wait(5)
    t0 = time.perf_counter()
    assert service.shutdown() is False  # still running, but it returned at once
    assert time.perf_counter() - t0 < 1.0
    assert not service.is_busy()
    release.set()
    assert wait_for_retired(5000)
