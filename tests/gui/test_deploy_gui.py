"""Deploy GUI: export a run to ONNX, classify a folder from the File menu, browse the results."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest
from PySide6.QtWidgets import QDialogButtonBox, QFileDialog, QPushButton

from tests.helpers import tiny_config, tiny_demo


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny finished run and a folder of 5 images (4 real + 1 unreadable) to classify."""
    from engine.training.job import train

    root = tmp_path_factory.mktemp("deploy-gui")
    data = tiny_demo(root, patients_per_class=2, images=2)
    run = train(tiny_config(data, root / "runs", epochs=1))
    images = root / "incoming"
    (images / "sub").mkdir(parents=True)
    pngs = sorted(data.rglob("*.png"))
    for i, src in enumerate(pngs[:4]):
        shutil.copy(src, (images / "sub" if i % 2 else images) / f"img{i}.png")
    (images / "broken.png").write_bytes(b"this is not an image")
    return {"run": str(run.path), "runs_dir": str(root / "runs"), "images": images, "root": root}


@pytest.fixture
def window(qtbot, trained):
    from gui.main_window import MainWindow

    win = MainWindow(autoload=False, runs_dir=trained["runs_dir"])
    win.confirm_close = lambda: True
    qtbot.addWidget(win)
    win.show()
    yield win
    win.queue.cancel_all_and_wait(10000)


def _menu_action(window, text: str):
    for top in window.menuBar().actions():
        for action in top.menu().actions() if top.menu() else []:
            if action.text() == text:
                return action
    raise AssertionError(f"no menu action {text!r}")


def _ok(dialog):
    return dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)


def _table(widget) -> list[list[str]]:
    t = widget.table
    return [[t.item(i, j).text() for j in range(t.columnCount())] for i in range(t.rowCount())]


def test_new_user_exports_classifies_and_opens_csv(qtbot, window, trained, tmp_path, monkeypatch):
    """Done-when path: export from the selected run, classify a folder from the menu, open the CSV."""
    from gui.deploy.classify_dialog import ClassifyFolderDialog
    from gui.deploy.export_dialog import ExportDialog

    window.runs_tab.select_run(trained["run"])
    _menu_action(window, "Export model to ONNX...").trigger()
    export = window.deploy.dialogs[-1]
    assert isinstance(export, ExportDialog) and export.run_dir() == trained["run"]
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(tmp_path / "packages"))
    export.out_field.browse_button.click()
    export.export_button.click()
    qtbot.waitUntil(lambda: export.result is not None, timeout=60000)
    package = Path(export.result["package"])
    assert package.parent == tmp_path / "packages" and (package / "model.onnx").is_file()
    assert export.result["max_prob_diff"] <= 1e-4
    assert "PASS" in export.report_label.text() and str(package) in export.report_label.text()
    export.accept()

    _menu_action(window, "Classify folder...").trigger()
    dialog = window.deploy.dialogs[-1]
    assert isinstance(dialog, ClassifyFolderDialog)
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(package))
    dialog.findChild(QPushButton, "browseModel").click()
    assert dialog.model() == str(package) and not dialog.heatmap_check.isEnabled()
    assert not _ok(dialog).isEnabled()  # no folder yet
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(trained["images"]))
    dialog.folder_field.browse_button.click()
    csv_path = tmp_path / "out" / "predictions.csv"
    dialog.csv_field.edit.setText(str(csv_path))
    dialog.csv_field.edit.textEdited.emit(str(csv_path))
    assert _ok(dialog).isEnabled()
    _ok(dialog).click()
    qtbot.waitUntil(lambda: bool(window.deploy.results), timeout=60000)

    results = window.deploy.results[-1]
    assert window.tabs.currentWidget() is results
    table = _table(results)
    assert len(table) == 5  # one row per image file, recursive, unreadable one included
    by_file = {row[0]: row for row in table}
    broken = by_file["broken.png"]
    assert broken[1] == "error" and broken[-1]  # status error with a reason
    assert sum(row[1] == "ok" for row in table) == 4
    assert "4 classified, 1 failed" in results.summary_label.text() and "onnx" in results.summary_label.text()
    with open(csv_path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [Path(r["path"]).relative_to(trained["images"]).as_posix() for r in rows] == \
        [Path(row[0]).as_posix() for row in table]
    for r, row in zip(rows, table):
        assert (r["status"], r["class"]) == (row[1], row[2])
        if r["status"] == "ok":
            assert abs(float(r["prob"]) - float(row[3])) < 1e-4
            assert abs(sum(float(r[f"p_{c}"]) for c in results.classes) - 1) < 1e-4

    opened = []
    monkeypatch.setattr("gui.deploy.results_view.QDesktopServices.openUrl", lambda url: opened.append(url))
    results.open_csv_button.click()
    results.show_folder_button.click()
    assert [u.toLocalFile() for u in opened] == [str(csv_path), str(csv_path.parent)]


def test_results_filter_and_preview(qtbot, window, trained, tmp_path):
    """Classify with the run itself (PyTorch, TTA) via window.classify_folder; filter and preview rows."""
    job = window.classify_folder(trained["run"], str(trained["images"]), out=str(tmp_path / "p.csv"),
                                 tta="s3", recursive=False)
    qtbot.waitUntil(lambda: job.state == "done" and bool(window.deploy.results), timeout=60000)
    results = window.deploy.results[-1]
    assert results.result["backend"] == "torch"
    assert sorted(row[0] for row in _table(results)) == ["broken.png", "img0.png", "img2.png"]
    results.set_filter("__errors__")
    assert [r["status"] for r in results.visible_rows()] == ["error"]
    first_class = results.rows[1]["class"]
    results.set_filter(first_class)
    assert results.visible_rows() and all(r["class"] == first_class for r in results.visible_rows())
    results.set_filter(None)
    ok_index = next(i for i, r in enumerate(results.rows) if r["status"] == "ok")
    results.select_row(ok_index)
    assert results.image_label.pixmap() is not None and not results.image_label.pixmap().isNull()
    bad_index = next(i for i, r in enumerate(results.rows) if r["status"] == "error")
    results.select_row(bad_index)
    assert "Error" in results.detail_label.text()
    tabs = window.tabs.count()
    window.deploy.close_results(results)
    assert window.tabs.count() == tabs - 1 and results not in window.deploy.results


def test_classify_dialog_options_follow_the_model(qtbot, window, trained):
    """Heatmaps only for runs (forcing PyTorch); ONNX Runtime only for packages."""
    window.runs_tab.select_run(trained["run"])
    dialog = window.deploy.open_classify_dialog(folder=str(trained["images"]))
    assert dialog.model() == trained["run"]
    assert dialog.heatmap_check.isEnabled()
    assert not dialog.backend_combo.model().item(1).isEnabled()  # onnx needs a package
    dialog.heatmap_check.setChecked(True)
    opts = dialog.options()
    assert opts["heatmaps"] and opts["backend"] == "torch" and opts["recursive"]
    assert opts["out"] == str(trained["images"] / "histodesk_predictions.csv")
    assert _ok(dialog).isEnabled()
    dialog.set_model(str(trained["images"]))  # neither a run nor a package
    assert not _ok(dialog).isEnabled() and "neither" in dialog.model_info.text()
    dialog.reject()


def test_export_failure_is_reported(qtbot, window, tmp_path):
    """A folder that is not a run: the dialog shows the engine's message and the Jobs tab an error dialog."""
    from PySide6.QtWidgets import QMessageBox

    dialog = window.deploy.open_export_dialog(run_dir=str(tmp_path))
    dialog.export_button.click()
    qtbot.waitUntil(lambda: "Export failed" in dialog.report_label.text(), timeout=30000)
    assert dialog.export_button.isEnabled() and dialog.result is None
    boxes = [b for b in window.findChildren(QMessageBox) if b.objectName() == "errorDialog" and b.isVisible()]
    assert boxes and "failed" in boxes[-1].windowTitle()


def test_selftest_command_opens_the_main_window(qtbot, tmp_path, capsys):
    """`histodesk selftest --screenshot` (used on the frozen app) shows the window and saves a grab."""
    from PySide6.QtGui import QImage

    from main import main

    assert main(["selftest", "--screenshot", str(tmp_path / "s.png"), "--ms", "50"]) == 0
    image = QImage(str(tmp_path / "s.png"))
    assert image.width() >= 800 and image.height() >= 500
    out = capsys.readouterr().out
    assert "window ok" in out and "gui.deploy.actions" in out and "frozen=False" in out


def test_cancelled_export_resets_the_dialog(qtbot, window, trained, monkeypatch):
    """Cancelling the export job (Jobs tab) makes the dialog usable again and forgets the job's handlers."""
    import time

    import gui.deploy.actions as deploy_actions_module
    from gui.workers import CANCELLED

    def slow_export(run_dir, out, *, int8, progress, cancel):
        for _ in range(600):
            cancel.raise_if_cancelled()
            time.sleep(0.01)
        raise AssertionError("not cancelled")

    monkeypatch.setattr(deploy_actions_module, "_export_job", slow_export)
    dialog = window.deploy.open_export_dialog(run_dir=trained["run"])
    dialog.export_button.click()
    job = dialog.job
    assert job is not None and not dialog.export_button.isEnabled()
    assert job.id in window.deploy._failure_handlers
    qtbot.waitUntil(lambda: job.state == "running", timeout=10000)
    window.queue.cancel(job)
    qtbot.waitUntil(lambda: job.state == CANCELLED, timeout=10000)
    qtbot.waitUntil(lambda: dialog.export_button.isEnabled(), timeout=5000)
    assert "cancelled" in dialog.report_label.text().lower() and dialog.result is None
    assert job.id not in window.deploy._failure_handlers
    dialog.reject()


def test_deploy_dialogs_are_deleted_when_they_end(qtbot, window, trained):
    dialog = window.deploy.open_export_dialog(run_dir=trained["run"])
    destroyed = []
    dialog.destroyed.connect(lambda *_: destroyed.append(True))
    dialog.reject()
    qtbot.waitUntil(lambda: bool(destroyed), timeout=5000)
    assert dialog not in window.deploy.dialogs
