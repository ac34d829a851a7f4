"""Deploy GUI: export a run to ONNX, classify a folder from the File menu, browse the results."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from tests.gui.main_window_fixture import shown_main_window
from PySide6.QtWidgets import QDialogButtonBox, QFileDialog, QPushButton

from tests.helpers import tiny_config, tiny_demo, tree_digest
from gui.deploy.actions import DeployActions


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
    with shown_main_window(qtbot, trained["runs_dir"]) as win:
        yield win


def _menu_action(window, text: str):
    for top in window.menuBar().actions():
        for action in top.menu().actions() if top.menu() else []:
            if action.text() == text:
                return action
    raise AssertionError(f"no menu action {text!r}")


def _ok(dialog):
    return dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)


def _table(widget) -> list[list[str]]:
    m = widget.table.model()
    return [[m.index(i, j).data() for j in range(m.columnCount())] for i in range(m.rowCount())]


def _read_csv(path) -> list[dict]:
    with open(path, newline="", encoding="utf-8", errors="surrogateescape") as fh:
        return list(csv.DictReader(fh))


def test_new_user_exports_classifies_and_opens_csv(qtbot, window, trained, tmp_path, monkeypatch):
    """Done-when path: export from the selected run, classify a folder from the menu, open the CSV."""
    from gui.deploy.batches_view import ClassificationsWidget
    from gui.deploy.classify_dialog import ClassifyFolderDialog
    from gui.deploy.export_dialog import ExportDialog

    window.runs_tab.select_run(trained["run"])
    _menu_action(window, "Export model to ONNX...").trigger()
    export = window.extension(DeployActions).dialogs[-1]
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
    dialog = window.extension(DeployActions).dialogs[-1]
    assert isinstance(dialog, ClassifyFolderDialog)
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(package))
    dialog.findChild(QPushButton, "browseModel").click()
    assert dialog.model() == str(package) and not dialog.heatmap_check.isEnabled()
    assert not _ok(dialog).isEnabled()  # no folder yet
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(trained["images"]))
    dialog.folder_field.browse_button.click()
    out = tmp_path / "out"
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(out))
    dialog.destination.change_button.click()
    assert dialog.destination.path() == str(out) and dialog.options()["out"] == str(out)
    assert _ok(dialog).isEnabled()
    _ok(dialog).click()
    qtbot.waitUntil(lambda: bool(window.extension(DeployActions).results), timeout=60000)

    tab = window.extension(DeployActions).classifications
    assert isinstance(tab, ClassificationsWidget) and window.tabs.currentWidget() is tab
    results = window.extension(DeployActions).results[-1]
    assert tab.results is results and tab.selected()["out"] == str(out)
    table = _table(results)
    assert len(table) == 5  # one row per image file, recursive, unreadable one included
    by_file = {row[0]: row for row in table}
    broken = by_file["broken.png"]
    assert broken[1] == "error" and broken[-1]  # status error with a reason
    assert sum(row[1] == "ok" for row in table) == 4
    assert "4 classified, 1 failed" in results.summary_label.text() and "onnx" in results.summary_label.text()
    csv_path = out / "predictions.csv"
    rows = _read_csv(csv_path)
    assert [Path(r["path"]).relative_to(trained["images"]).as_posix() for r in rows] == \
        [Path(row[0]).as_posix() for row in table]
    for r, row in zip(rows, table):
        assert (r["status"], r["class"]) == (row[1], row[2])
        if r["status"] == "ok":
            assert abs(float(r["prob"]) - float(row[3])) < 1e-4
            assert abs(sum(float(r[f"p_{c}"]) for c in results.classes) - 1) < 1e-4

    opened = []
    monkeypatch.setattr("gui.deploy.results_view.QDesktopServices.openUrl", lambda url: opened.append(url))
    monkeypatch.setattr("gui.deploy.batches_view.QDesktopServices.openUrl", lambda url: opened.append(url))
    results.open_csv_button.click()
    results.show_folder_button.click()
    tab.open_folder_button.click()
    assert [u.toLocalFile() for u in opened] == [str(csv_path), str(out), str(out)]


def test_results_filter_and_preview(qtbot, window, trained, tmp_path):
    """Classify with the run itself (PyTorch, TTA) via window.classify_folder; filter and preview rows."""
    job = window.classify_folder(trained["run"], str(trained["images"]), out=str(tmp_path / "p"),
                                 tta="s3", recursive=False)
    qtbot.waitUntil(lambda: job.state == "done" and bool(window.extension(DeployActions).results), timeout=60000)
    results = window.extension(DeployActions).results[-1]
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
    assert results.image_label.text() == "Loading..."  # decoded in a pool thread, not in the GUI thread
    qtbot.waitUntil(lambda: results.image_label.pixmap() is not None and not results.image_label.pixmap().isNull(),
                    timeout=5000)
    bad_index = next(i for i, r in enumerate(results.rows) if r["status"] == "error")
    results.select_row(bad_index)
    assert "Error" in results.detail_label.text()
    tabs = window.tabs.count()
    deploy = window.extension(DeployActions)
    deploy.close_classifications()
    assert window.tabs.count() == tabs - 1 and not deploy.results and deploy.classifications is None


def test_classify_dialog_options_follow_the_model(qtbot, window, trained):
    """Heatmaps only for runs (forcing PyTorch); ONNX Runtime only for packages; results go to the outputs folder."""
    from engine.paths import outputs_dir

    window.runs_tab.select_run(trained["run"])
    dialog = window.extension(DeployActions).open_classify_dialog(folder=str(trained["images"]))
    assert dialog.model() == trained["run"]
    assert dialog.heatmap_check.isEnabled() and not dialog.cam_combo.isEnabled()
    assert not dialog.backend_combo.model().item(dialog.backend_combo.findData("onnx")).isEnabled()
    dialog.heatmap_check.setChecked(True)
    opts = dialog.options()
    assert opts["heatmaps"] and opts["backend"] == "torch" and opts["recursive"] and dialog.cam_combo.isEnabled()
    assert opts["out"] is None and str(outputs_dir()) in dialog.destination.label.text()
    assert _ok(dialog).isEnabled()
    dialog.set_model(str(trained["images"]))  # neither a run nor a package
    assert not _ok(dialog).isEnabled() and "neither" in dialog.model_info.text()
    dialog.reject()


def test_done_when_classify_leaves_the_folder_byte_identical_and_rescans_true_labels(
        qtbot, window, trained, tmp_path, shared_data, monkeypatch):
    """File > Classify folder on a copy of idc-sample: the copy is unchanged and still scans as 0/1, 2 patients."""
    from engine.data.importers import scan
    from engine.paths import outputs_dir

    copy = tmp_path / "idc"
    shutil.copytree(shared_data / "idc-sample", copy)
    before = tree_digest(copy)
    window.runs_tab.select_run(trained["run"])
    _menu_action(window, "Classify folder...").trigger()
    dialog = window.extension(DeployActions).dialogs[-1]
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(copy))
    dialog.folder_field.browse_button.click()
    dialog.batch_spin.setValue(128)
    _ok(dialog).click()
    qtbot.waitUntil(lambda: bool(window.extension(DeployActions).results), timeout=120000)
    results = window.extension(DeployActions).results[-1]
    assert results.result["n_ok"] == 909 and Path(results.result["out"]).parent == outputs_dir()
    assert tree_digest(copy) == before  # byte-identical: nothing written, renamed or removed
    catalog = scan(copy)
    assert catalog.summary()["classes"] == ["0", "1"] and catalog.summary()["patients"] == 2
    assert len(catalog.records) == 909 and not catalog.skipped


def test_destination_inside_the_source_or_holding_results_is_asked_about(qtbot, window, trained, tmp_path,
                                                                            monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    folder = tmp_path / "src"
    shutil.copytree(trained["images"], folder)
    inside = folder / "results"

    def dialog_to(out):
        d = window.extension(DeployActions).open_classify_dialog(model=trained["run"], folder=str(folder))
        d.destination.set_path(str(out))
        _ok(d).click()
        return d

    def answer(d, text):
        qtbot.waitUntil(lambda: d.confirm.box is not None and d.confirm.box.isVisible(), timeout=5000)
        box = d.confirm.box
        button = next(b for b in box.buttons() if b.text().replace("&", "") == text)
        button.click()
        return box

    d = dialog_to(inside)
    box = answer(d, "Cancel")
    assert "inside the folder being classified" in box.text()
    assert d.isVisible() and not inside.exists() and window.queue.is_idle()  # nothing queued, dialog still open
    _ok(d).click()
    answer(d, "Write there")
    qtbot.waitUntil(lambda: bool(window.extension(DeployActions).results), timeout=60000)
    assert len(_read_csv(inside / "predictions.csv")) == 5
    first = (inside / "predictions.csv").read_bytes()

    d = dialog_to(inside)
    answer(d, "Write there")
    box = answer(d, "Cancel")
    assert "already holds results" in box.text() and (inside / "predictions.csv").read_bytes() == first
    for choice, expected in (("Continue", {"resume": True}), ("Overwrite", {"overwrite": True})):
        count = len(window.extension(DeployActions).results)
        d = dialog_to(inside)
        answer(d, "Write there")
        answer(d, choice)
        assert {k: v for k, v in d.options().items() if k in ("resume", "overwrite")} == expected
        qtbot.waitUntil(lambda before=count: len(window.extension(DeployActions).results) > before, timeout=60000)
        rows = _read_csv(inside / "predictions.csv")
        assert len(rows) == 5 and len({r["path"] for r in rows}) == 5
        if choice == "Continue":
            results = window.extension(DeployActions).results
            assert (inside / "predictions.csv").read_bytes() == first and results[-1].result["n_resumed"] == 5
    assert QMessageBox  # the questions are QMessageBoxes opened without a nested event loop


def test_a_fifo_and_a_non_utf8_name_are_listed_with_reasons(qtbot, window, trained, tmp_path, capsys):
    """The issue's second done-when, in the GUI and on the command line."""
    import os

    from engine.cli import main as cli

    folder = tmp_path / "odd"
    shutil.copytree(trained["images"], folder)
    (folder / "broken.png").unlink()
    os.mkfifo(folder / "evil.png")
    raw = os.fsencode(folder)
    Path(os.fsdecode(raw + b"/caf\xe9.png")).write_bytes(b"not an image, and not a UTF-8 name")
    shutil.copy(folder / "img0.png", os.fsdecode(raw + b"/ok-\xff.png"))  # readable, odd name: classified
    job = window.classify_folder(trained["run"], str(folder))
    qtbot.waitUntil(lambda: job.state == "done" and bool(window.extension(DeployActions).results), timeout=60000)
    results = window.extension(DeployActions).results[-1]
    table = {row[0]: row for row in _table(results)}
    assert table["evil.png"][1] == "error" and "FIFO" in table["evil.png"][-1]
    assert table["caf\\xe9.png"][1] == "error" and table["caf\\xe9.png"][-1]  # shown escaped, with a reason
    assert table["ok-\\xff.png"][1] == "ok" and sum(row[1] == "ok" for row in table.values()) == 5
    assert cli(["--quiet", "predict", trained["run"], str(folder)]) == 0
    captured = capsys.readouterr()
    assert "5 classified, 2 unreadable" in captured.out
    assert "evil.png: not a regular file: a FIFO" in captured.err and "caf\\xe9.png: " in captured.err


def test_classifications_tab_lists_cli_batches_and_continues_an_interrupted_one(qtbot, window, trained,
                                                                                  monkeypatch):
    """A batch started from the CLI shows up; a killed one reads "interrupted" and Continue finishes it."""
    import json

    from engine.cli import main as cli
    from engine.evaluation.batch_output import list_batches

    assert cli(["--quiet", "predict", trained["run"], str(trained["images"]), "--batch-size", "2"]) == 0
    out = Path(list_batches()[0]["out"])
    lines = (out / "predictions.csv").read_text().splitlines(keepends=True)
    (out / "predictions.csv").write_text("".join(lines[:3]))  # as if killed after the first batch of two
    (out / "predictions.json").unlink()
    batch = json.loads((out / "batch.json").read_text())
    (out / "batch.json").write_text(json.dumps({**batch, "status": "running", "pid": 2 ** 22 + 12345}))
    _menu_action(window, "Classifications").trigger()
    tab = window.extension(DeployActions).classifications
    index = next(i for i, b in enumerate(tab.batches) if b["out"] == str(out))
    assert tab.batches[index]["status"] == "interrupted"
    assert tab.table.item(index, 3).text() == "interrupted"
    tab.table.selectRow(index)
    assert tab.results is not None and len(tab.results.rows) == 2 and tab.continue_button.isEnabled()
    opened = []
    monkeypatch.setattr("gui.deploy.batches_view.QDesktopServices.openUrl", lambda url: opened.append(url))
    tab.open_folder_button.click()
    assert [u.toLocalFile() for u in opened] == [str(out)]
    tab.continue_button.click()
    qtbot.waitUntil(lambda: bool(window.extension(DeployActions).results), timeout=60000)
    result = window.extension(DeployActions).results[-1].result
    assert result["out"] == str(out) and result["n_resumed"] == 2 and len(result["rows"]) == 5
    assert json.loads((out / "batch.json").read_text())["status"] == "completed"
    assert tab.selected()["status"] == "completed"


def test_export_failure_is_reported(qtbot, window, tmp_path):
    """A folder that is not a run: the dialog shows the engine's message and the Jobs tab an error dialog."""
    from PySide6.QtWidgets import QMessageBox

    dialog = window.extension(DeployActions).open_export_dialog(run_dir=str(tmp_path))
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
    dialog = window.extension(DeployActions).open_export_dialog(run_dir=trained["run"])
    dialog.export_button.click()
    job = dialog.job
    assert job is not None and not dialog.export_button.isEnabled()
    assert job.id in window.extension(DeployActions)._failure_handlers
    qtbot.waitUntil(lambda: job.state == "running", timeout=10000)
    window.queue.cancel(job)
    qtbot.waitUntil(lambda: job.state == CANCELLED, timeout=10000)
    qtbot.waitUntil(lambda: dialog.export_button.isEnabled(), timeout=5000)
    assert "cancelled" in dialog.report_label.text().lower() and dialog.result is None
    assert job.id not in window.extension(DeployActions)._failure_handlers
    dialog.reject()


def test_deploy_dialogs_are_deleted_when_they_end(qtbot, window, trained):
    dialog = window.extension(DeployActions).open_export_dialog(run_dir=trained["run"])
    destroyed = []
    dialog.destroyed.connect(lambda *_: destroyed.append(True))
    dialog.reject()
    qtbot.waitUntil(lambda: bool(destroyed), timeout=5000)
    assert dialog not in window.extension(DeployActions).dialogs
