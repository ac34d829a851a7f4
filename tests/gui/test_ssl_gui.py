"""Self-supervised GUI: pretraining wizard, view pairs, downstream, label efficiency - on the real engine."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from tests.gui.main_window_fixture import shown_main_window

pytest.importorskip("PySide6")
from gui.embedding.actions import EmbeddingActions
from gui.ssl.actions import SSLActions

GRAB_DIR = os.environ.get("HISTODESK_GRAB_DIR", "/tmp")
TIMEOUT_MS = 60_000


def _flat_folder(root: Path, n: int = 8, size: int = 40) -> Path:
    """A flat folder of ``n`` unlabelled PNGs (no class in names or folders)."""
    import cv2

    root.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        img = rng.integers(0, 255, (size, size, 3), dtype=np.uint8)
        img[: size // 2] = (200, 80 + 10 * i, 160)  # some structure for the crops
        cv2.imwrite(str(root / f"{i:03d}.png"), img)
    return root


def _fill_wizard(w, folder: Path, *, method: str = "simclr", epochs: int = 1) -> None:
    """Drive the pretraining wizard to its review page with tiny settings."""
    from PySide6.QtWidgets import QWizard

    data = w.data_page
    data.path_edit.setText(str(folder))
    data.inspect()
    w.next()
    page = w.method_page
    assert w.currentPage() is page
    page.method_combo.setCurrentText(method)
    page.epochs_spin.setValue(epochs)
    page.batch_spin.setValue(4)
    page.size_spin.setValue(32)
    page.seed_spin.setValue(3)
    w.next()
    bb = w.backbone_page
    assert w.currentPage() is bb
    bb.model_combo.setCurrentText("basic_cnn")
    bb.radio_none.setChecked(True)
    w.next()
    assert w.currentPage() is w.views_page
    w.next()
    assert w.currentPage() is w.review_page and w.review_page.error.isHidden(), w.review_page.error.text()
    assert w.button(QWizard.WizardButton.FinishButton).isVisible()


def test_wizard_builds_config_for_unlabelled_folder(qtbot, tmp_path):
    from engine import registry
    from gui.ssl.pretrain_wizard import PretrainWizard

    folder = _flat_folder(tmp_path / "unlabelled", n=6)
    w = PretrainWizard(str(tmp_path / "missing"), runs_dir=str(tmp_path / "runs"))
    qtbot.addWidget(w)
    w.show()
    w.next()  # a missing folder is refused
    assert w.currentPage() is w.data_page and not w.data_page.error.isHidden()
    w.data_page.path_edit.setText(str(folder))
    w.data_page.inspect()
    assert "6" in w.data_page.found_label.text() and "unlabelled" in w.data_page.found_label.text()
    assert not w.data_page.labelled()
    w.grab().save(os.path.join(GRAB_DIR, "histodesk_ssl_wizard_1.png"))
    w.next()

    page = w.method_page
    assert page.method_combo.count() == len(registry.names("ssl")) >= 4
    assert not page.knn_spin.isEnabled()  # no labels, no kNN monitor
    page.method_combo.setCurrentText("simclr")
    defaults = registry.meta("ssl", "simclr")["defaults"]
    assert set(defaults) <= set(page.hparams.defaults) | {k for k, v in defaults.items() if isinstance(v, dict)}
    page.epochs_spin.setValue(7)
    page.batch_spin.setValue(16)
    page.size_spin.setValue(48)
    page.hparams.set_value("lr", 5e-4)
    page.hparams.set_value("temperature", 0.25)
    w.next()
    w.backbone_page.model_combo.setCurrentText("simple_cnn")
    w.next()

    views = w.views_page.views
    assert views.pair_count() == 4 and views.view_count() == 2
    cells = [views.grid.itemAt(i).widget() for i in range(views.grid.count())]
    pixmaps = [c for c in cells if c.pixmap() is not None and not c.pixmap().isNull()]
    assert len(pixmaps) == 4 * 3  # source + 2 views per row
    before = [v.copy() for v in views.samples[0]]
    views.resample_button.click()
    assert views.seed == 1 and any(not np.array_equal(a, b) for a, b in zip(before, views.samples[0]))
    views.n_spin.setValue(2)  # debounced: the views are recomputed once the user pauses
    assert views.is_pending() and views.pair_count() == 4
    qtbot.waitUntil(lambda: not views.is_pending(), timeout=5000)
    assert views.pair_count() == 2
    w.grab().save(os.path.join(GRAB_DIR, "histodesk_ssl_wizard_views.png"))
    w.next()

    assert w.currentPage() is w.review_page and w.review_page.error.isHidden(), w.review_page.error.text()
    cfg = w.config()
    assert (cfg.method, cfg.backbone, cfg.pretrained) == ("simclr", "simple_cnn", "none")
    assert (cfg.epochs, cfg.batch_size, cfg.seed, cfg.knn_every) == (7, 16, 0, 0)
    assert cfg.data.path == str(folder) and cfg.data.importer == "unlabelled" and cfg.data.image_size == 48
    assert cfg.hparams["lr"] == pytest.approx(5e-4) and cfg.hparams["temperature"] == pytest.approx(0.25)
    assert cfg.runs_dir == str(tmp_path / "runs")
    assert "simclr" in w.review_page.text.toPlainText()


def test_labelled_folder_enables_knn_and_dino_shows_local_views(qtbot, tiny_data, tmp_path):
    from gui.ssl.pretrain_wizard import PretrainWizard

    w = PretrainWizard(str(tiny_data), runs_dir=str(tmp_path / "runs"))
    qtbot.addWidget(w)
    w.show()
    w.data_page.inspect()
    assert w.data_page.labelled() and "2 classes" in w.data_page.found_label.text()
    w.next()
    assert w.method_page.knn_spin.isEnabled()
    w.method_page.knn_spin.setValue(1)
    w.method_page.method_combo.setCurrentText("dino")
    w.method_page.size_spin.setValue(32)
    w.next()
    w.next()
    views = w.views_page.views
    assert views.view_count() > 2  # 2 global + local crops
    assert w.config().knn_every == 1 and w.config().data.importer == "auto"


def _wait_job(qtbot, job, timeout=TIMEOUT_MS):
    qtbot.waitUntil(lambda: job.state in ("done", "failed", "cancelled"), timeout=timeout)
    assert job.state == "done", (job.error, job.traceback)
    return job.result


@pytest.fixture
def window(qtbot, tmp_path):
    with shown_main_window(qtbot, tmp_path / "runs") as win:
        yield win


def test_done_when_flow_pretrain_finetune_label_efficiency(qtbot, window, tiny_data, tmp_path):
    """Pretrain SimCLR on an unlabelled folder -> fine-tune -> label-efficiency plot -> t-SNE coloured by class."""
    from PySide6.QtWidgets import QDialogButtonBox

    folder = _flat_folder(tmp_path / "unlabelled", n=8)
    titles = [a.text() for a in window.menu("&Self-supervised").actions() if a.text()]
    assert "Pretrain (self-supervised)..." in titles and "Label efficiency study..." in titles
    window.extension(SSLActions)._on_pretrain()
    wizard = window.extension(SSLActions).wizard
    _fill_wizard(wizard, folder)
    wizard.accept()
    job = window.queue.jobs[-1]
    assert job.kind == "train" and window.tabs.currentWidget() is window.jobs_panel
    run = _wait_job(qtbot, job)
    ssl_dir = Path(run.path)
    assert (ssl_dir / "encoder.safetensors").is_file()
    assert json.loads((ssl_dir / "summary.json").read_text())["status"] == "completed"
    assert job.history and "train_loss" in job.history[-1]  # the Jobs tab plots the SSL loss
    assert window.jobs_panel.curves.points("train_loss")

    window.runs_tab.refresh()
    window.runs_tab.select_run(ssl_dir)
    assert window.extension(SSLActions).selected_ssl_run() == str(ssl_dir)
    window.extension(SSLActions)._on_show_views()  # the views of the finished run's method, on its own images
    views = window.extension(SSLActions).dialog
    assert views.method_combo.currentText() == "simclr" and views.views.pair_count() == 4
    views.close()

    window.extension(SSLActions)._on_downstream()
    dialog = window.extension(SSLActions).dialog
    assert dialog.run_combo.path() == str(ssl_dir)  # the selected SSL run is preselected
    dialog.dataset_edit.setText(str(tiny_data))
    dialog.radio_finetune.setChecked(True)
    dialog.epochs_spin.setValue(2)
    dialog.frozen_spin.setValue(1)
    dialog.batch_spin.setValue(8)
    dialog.grab().save(os.path.join(GRAB_DIR, "histodesk_ssl_downstream.png"))
    dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok).click()
    ft_job = window.queue.jobs[-1]
    assert ft_job is not job and ft_job.kind == "train"
    ft_run = _wait_job(qtbot, ft_job)
    assert ft_run.summary["status"] == "completed" and ft_run.model_weights.is_file()
    assert ft_run.config["model"]["pretrained"].endswith("encoder.safetensors")

    window.extension(SSLActions)._on_label_efficiency()
    le = window.extension(SSLActions).dialog
    le.dataset_edit.setText(str(tiny_data))
    le.run_combo.set_path(str(ssl_dir))
    assert not le.encoder_checks["imagenet"].isEnabled()  # basic_cnn has no ImageNet weights
    assert "unavailable" in le.imagenet_note.text()
    for f, box in le.fraction_checks.items():
        box.setChecked(f in (0.25, 1.0))
    le.epochs_spin.setValue(1)
    assert le.draws_spin.value() == 3  # error bars by default
    le.draws_spin.setValue(2)
    le.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok).click()
    study_job = window.queue.jobs[-1]
    _wait_job(qtbot, study_job, timeout=90_000)
    plot = window.extension(SSLActions).study_tabs[-1]
    assert window.tabs.currentWidget() is plot
    assert sorted(plot.encoders("accuracy")) == ["random", "ssl"]
    for metric in ("accuracy", "roc_auc"):
        for encoder in ("ssl", "random"):
            xs, ys = plot.curve_data(metric, encoder)
            assert xs == [0.25, 1.0] and all(0.0 <= y <= 1.0 for y in ys)
            assert len(plot.error_bar(metric, encoder)) == 2  # +- 1 std over the 2 draws (0 at 100 %)
    plot.grab().save(os.path.join(GRAB_DIR, "histodesk_ssl_label_efficiency.png"))
    accuracy = plot.curve_data("accuracy", "ssl")
    n_tabs = window.tabs.count()
    window.extension(SSLActions)._close_tab(plot)
    assert window.tabs.count() == n_tabs - 1
    reopened = window.extension(SSLActions).show_study(study_job.result["path"])  # "Open label-efficiency study"
    assert reopened.curve_data("accuracy", "ssl") == accuracy and window.tabs.count() == n_tabs

    _check_embedding_view(qtbot, window, ft_run)


def _check_embedding_view(qtbot, window, run) -> None:
    """The t-SNE of the fine-tuned run's features (gui/embedding), its points coloured by class."""
    view = window.extension(EmbeddingActions).open_view(str(run.path))
    qtbot.waitUntil(lambda: view.method == "t-SNE", timeout=TIMEOUT_MS)
    assert view.colour_combo.currentText() == "label"
    labels = view.emb.column("label")
    colours = [b.color().name() for b in view.plot.brushes]
    by_class = {lab: {c for c, l2 in zip(colours, labels) if l2 == lab} for lab in set(labels)}
    assert set(by_class) == {"benign", "malignant"} and all(len(c) == 1 for c in by_class.values())
    assert by_class["benign"] != by_class["malignant"]
    view.grab().save(os.path.join(GRAB_DIR, "histodesk_ssl_tsne.png"))


def test_cancelled_pretraining_resumes_to_completion(qtbot, window, tmp_path):
    from PySide6.QtCore import Qt

    from engine.ssl.config import SSLConfig

    folder = _flat_folder(tmp_path / "unlabelled", n=8)
    config = SSLConfig.from_dict({"method": "simclr", "backbone": "basic_cnn", "epochs": 3, "batch_size": 4,
                                  "val_fraction": 0.0, "runs_dir": window.runs_dir,
                                  "data": {"path": str(folder), "image_size": 32}})
    job = window.extension(SSLActions).start_pretrain(config)

    def cancel_after_first_epoch(event):  # runs in the worker thread, so the cancel lands deterministically
        if event.stage == "epoch":
            job.token.cancel()

    job.worker.progress.connect(cancel_after_first_epoch, Qt.ConnectionType.DirectConnection)
    qtbot.waitUntil(lambda: job.state in ("done", "failed", "cancelled"), timeout=TIMEOUT_MS)
    assert job.state == "cancelled", job.error
    run_dir = job.result.path
    assert json.loads((run_dir / "summary.json").read_text())["status"] == "cancelled"
    assert len((run_dir / "metrics.jsonl").read_text().splitlines()) == 1

    window.runs_tab.refresh()
    window.runs_tab.select_run(run_dir)
    window.extension(SSLActions)._on_resume()  # resumes the selected SSL run
    resumed = window.queue.jobs[-1]
    assert resumed is not job and resumed.title.startswith("Resume pretraining")
    _wait_job(qtbot, resumed)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["epochs_run"] == 3
    assert [r["epoch"] for r in map(json.loads, (run_dir / "metrics.jsonl").read_text().splitlines())] == [1, 2, 3]


def test_training_wizard_hands_over_to_pretraining(qtbot, window, tiny_data):
    from PySide6.QtWidgets import QWizard

    window.dataset_path = str(tiny_data)
    window._on_new_training()
    train_wizard = window.wizard
    button = train_wizard.button(QWizard.WizardButton.CustomButton1)
    assert button.isVisible() and "Self-supervised" in button.text()
    button.click()
    assert not train_wizard.isVisible()
    assert window.extension(SSLActions).wizard is not None and window.extension(SSLActions).wizard.isVisible()
    assert window.extension(SSLActions).wizard.data_page.path() == str(tiny_data)
    window.extension(SSLActions).wizard.reject()


def test_view_pairs_dialog_debounces_typing_in_the_folder_field(qtbot, tiny_data, monkeypatch):
    """Each keystroke must not walk the folder and recompute the views: only the pause after the last one."""
    import gui.ssl.view_pairs as view_pairs
    from gui.ssl.view_pairs import ViewPairsDialog

    dialog = ViewPairsDialog(dataset_path="", method="simclr", image_size=32)
    qtbot.addWidget(dialog)
    walked = []
    real = view_pairs.sample_image_paths
    monkeypatch.setattr(view_pairs, "sample_image_paths",
                        lambda path, limit=40: walked.append(path) or real(path, limit))
    folder = str(tiny_data)
    dialog.folder_edit.edit.clear()
    for i in range(1, len(folder) + 1):
        dialog.folder_edit.edit.setText(folder[:i])
    assert walked == [] and dialog.views.is_pending()
    qtbot.waitUntil(lambda: not dialog.views.is_pending(), timeout=5000)
    assert walked == [folder]
    assert dialog.views.pair_count() == 4
    dialog.size_spin.setValue(40)
    dialog.size_spin.setValue(48)
    assert dialog.views.is_pending()
    qtbot.waitUntil(lambda: not dialog.views.is_pending(), timeout=5000)
    assert dialog.views.image_size == 48 and dialog.views.samples[0][0].shape[0] == 48
    dialog.close()
