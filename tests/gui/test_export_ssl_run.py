"""Export lists only classifier runs; an SSL run is explained in a sentence with a Fine-tune... button (13.5)."""

from __future__ import annotations

import os

import pytest

from tests.gui.main_window_fixture import shown_main_window

from gui.deploy.actions import DeployActions
from tests.helpers import tiny_config, tiny_demo

pytest.importorskip("pytestqt")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A finished classifier run and, newer, a finished SSL run in the same runs folder."""
    from engine.ssl.job import pretrain
    from engine.training.job import train

    root = tmp_path_factory.mktemp("export-ssl")
    data = tiny_demo(root, patients_per_class=2, images=2)
    classifier = train(tiny_config(data, root / "runs", epochs=1))
    ssl = pretrain({"method": "deepcluster", "backbone": "basic_cnn", "epochs": 1, "batch_size": 8, "seed": 0,
                    "hparams": {"augment": {"rotation": 0, "shift": 0, "zoom": 0, "blur_p": 0}},
                    "runs_dir": str(root / "runs"), "val_fraction": 0.2, "knn_every": 0,
                    "data": {"path": str(data), "image_size": 32, "normalize": "unit"},
                    "deepcluster": {"k": 4, "kmeans_device": "cpu"}})
    assert ssl.summary["status"] == "completed" and ssl.summary["kind"] == "ssl"
    return {"runs_dir": str(root / "runs"), "classifier": str(classifier.path), "ssl": str(ssl.path)}


@pytest.fixture
def window(qtbot, runs):
    with shown_main_window(qtbot, runs["runs_dir"]) as win:
        yield win


def test_export_lists_classifiers_and_explains_a_selected_ssl_run(qtbot, window, runs):
    from gui.ssl.actions import SSLActions
    from gui.ssl.downstream_dialog import DownstreamDialog

    window.runs_tab.refresh()
    window.runs_tab.select_run(runs["ssl"])
    dialog = window.extension(DeployActions).open_export_dialog()
    listed = [dialog.run_combo.itemData(i) for i in range(dialog.run_combo.count())]
    assert listed == [runs["classifier"]] and dialog.run_dir() == runs["classifier"]
    assert dialog.ssl_row.isVisible() and dialog.ssl_run == runs["ssl"]
    sentence = dialog.ssl_label.text()
    assert "self-supervised" in sentence and "Fine-tune it" in sentence and "\n" not in sentence
    assert dialog.fine_tune_button.isVisible() and dialog.fine_tune_button.text() == "Fine-tune..."
    if os.environ.get("HISTODESK_SCREENSHOTS"):
        dialog.grab().save(os.path.join(os.environ["HISTODESK_SCREENSHOTS"], "export_ssl_run.png"))
    dialog.fine_tune_button.click()
    qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=5000)
    tune = window.extension(SSLActions).dialog
    assert isinstance(tune, DownstreamDialog) and tune.isVisible() and tune.run_combo.path() == runs["ssl"]
    tune.reject()


def test_export_of_a_classifier_run_shows_no_ssl_sentence(qtbot, window, runs):
    dialog = window.extension(DeployActions).open_export_dialog(run_dir=runs["classifier"])
    assert dialog.run_dir() == runs["classifier"] and not dialog.ssl_row.isVisible()
    assert dialog.export_button.isEnabled()
    dialog.reject()
