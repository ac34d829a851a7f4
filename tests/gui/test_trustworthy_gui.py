"""Trustworthy results in the app: intervals and warnings, calibration, val-ranked runs list, paired comparison,
external evaluation with a label map, report export."""

from __future__ import annotations

import os
import shutil

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from engine.run_table import ci_text
from engine.runs import Run
from tests.fake_runs import fake_external, fake_run, fake_study
from tests.gui.stall_monitor import StallMonitor, warm_engine_imports
from gui.results.actions import ResultsActions

GRAB_DIR = os.environ.get("HISTODESK_GRAB_DIR", "/tmp")


def _grab(widget, name: str) -> None:
    widget.grab().save(os.path.join(GRAB_DIR, name))


def _column(table, row_label: str) -> int:
    return [table.item(r, 0).text() for r in range(table.rowCount())].index(row_label)


def test_run_view_shows_every_figure_with_its_interval_and_the_warning_banner(qtbot, two_runs):
    from gui.results import RunResultsWidget

    _, runs = two_runs
    w = RunResultsWidget()
    qtbot.addWidget(w)
    w.resize(1100, 700)
    w.show()
    w.set_run(runs[0])
    test = runs[0].read("evaluation.json")["test"]
    assert w.split_combo.currentText() == "test"
    for label, key in (("accuracy", "accuracy"), ("ROC AUC", "roc_auc"), ("balanced accuracy", "balanced_accuracy"),
                       ("sensitivity", "sensitivity"), ("F1 (macro)", "f1_macro")):
        row = _column(w.metrics_table, label)
        value = test["macro"]["f1"] if key == "f1_macro" else test[key]
        assert w.metrics_table.item(row, 1).text() == ci_text(value, test["ci"][key], 4)
        assert "[" in w.metrics_table.item(row, 1).text() and "bootstrap over" in w.metrics_table.item(row, 1).toolTip()
    assert test["warnings"] and w.banner.isVisible()
    assert w.banner.warnings[:len(test["warnings"])] == [f"test: {x}" for x in test["warnings"]]
    assert "Small sample" in w.banner.text()
    assert f"bootstrap over {test['bootstrap']['n_units']} patients" in w.interval_note.text()
    # patient aggregation (four pooling rules) and per-magnification figures, with intervals
    w.tabs.setCurrentWidget(w.patients_page)
    rules = test["patient"]["aggregation"]
    assert [w.aggregation.item(r, 0).text() for r in range(w.aggregation.rowCount())] == list(rules)
    assert w.aggregation.item(0, 2).text() == ci_text(rules["mean"]["accuracy"], rules["mean"]["accuracy_ci"])
    w.tabs.setCurrentIndex(w.tabs.indexOf(w.magnifications.parentWidget()))
    mags = test["magnification"]
    assert [w.magnifications.item(r, 0).text() for r in range(w.magnifications.rowCount())] == list(mags)
    assert w.magnifications.item(0, 4).text() == ci_text(mags["40X"]["roc_auc"], mags["40X"]["roc_auc_ci"])
    w.select_split("val")
    assert w.banner.warnings[0].startswith("val: ")
    w.select_split("test")
    _grab(w, "histodesk_trust_run_view.png")


def test_calibration_tab_draws_the_bins_of_evaluation_json(qtbot, two_runs):
    from gui.results import RunResultsWidget

    _, runs = two_runs
    w = RunResultsWidget()
    qtbot.addWidget(w)
    w.set_run(runs[0])
    w.tabs.setCurrentWidget(w.calibration)
    for split in ("test", "val"):
        w.select_split(split)
        cal = runs[0].read("evaluation.json")[split]["calibration"]
        drawn = [(b["lower"], b["accuracy"], b["count"]) for b in cal["reliability"] if b["count"]]
        assert w.calibration.bar_heights("after") == drawn and drawn
        raw = [(b["lower"], b["accuracy"], b["count"]) for b in cal["uncalibrated"]["reliability"] if b["count"]]
        assert w.calibration.bar_heights("before") == raw
        text = w.calibration.info.text()
        assert f"{cal['ece']:.4f}" in text and f"{cal['uncalibrated']['ece']:.4f}" in text
        assert f"T = {cal['temperature']:.3f}" in text and "arg-max class" in text
    w.calibration.before_check.setChecked(False)
    assert w.calibration.bar_heights("before") == []
    w.tabs.setCurrentWidget(w.calibration)
    w.resize(1000, 600)
    _grab(w, "histodesk_trust_calibration.png")


def test_data_tab_and_banner_show_curation_and_split_notes(qtbot, tmp_path):
    from gui.results import RunResultsWidget

    run = fake_run(tmp_path, "curated", val=(0.9, 0.8), test=(0.85, 0.8))
    run.update_summary(split_notes=["Class 'benign' has only 2 patients: the test split holds 1."],
                       notes=["Split: patient-level (grouped by case), seed 0"],
                       curation={"file": "/data/curation.json", "sha1": "abcdef0123456789", "scope": "all",
                                 "excluded": {"train": 3, "test": 1}, "relabelled": {"train": 1},
                                 "evaluation_changed": True})
    w = RunResultsWidget()
    qtbot.addWidget(w)
    w.set_run(run)
    w.tabs.setCurrentWidget(w.data_notes)
    html = w.data_notes.toPlainText()
    assert "Curation applied from /data/curation.json" in html and "only 2 patients" in html
    assert "Split: patient-level" in html
    assert any("Curation changed validation/test images" in x for x in w.banner.warnings)


def test_runs_list_ranks_by_val_shows_test_apart_and_groups_studies(qtbot, tmp_path):
    from PySide6.QtCore import Qt

    from gui.results import RunsListWidget
    from gui.results.runs_list import ALL_STUDIES, COLUMNS, NO_STUDY, TEST_COLUMNS, VAL_COLUMNS

    a = fake_run(tmp_path, "val-best", val=(0.95, 0.90), test=(0.70, 0.66))
    b = fake_run(tmp_path, "test-best", val=(0.80, 0.78), test=(0.97, 0.93))
    c = fake_run(tmp_path, "middle", val=(0.90, 0.85), test=(0.85, 0.80))
    fake_external(a, "bach", auc=0.81, acc=0.74)
    study = fake_study(tmp_path, "20260101-000000-s1-seeds", [("cnn-s0", (0.85, 0.8), (0.9, 0.9))])
    w = RunsListWidget(runs_dir=tmp_path)
    qtbot.addWidget(w)
    header = w.table.horizontalHeader()
    assert header.sortIndicatorSection() == VAL_COLUMNS[0]
    assert header.sortIndicatorOrder() == Qt.SortOrder.DescendingOrder
    assert w.visible_run_ids() == [a.id, c.id, "cnn-s0", b.id]  # val order, although test says b, cnn-s0, c, a
    row_b = w.visible_run_ids().index(b.id)
    assert w.table.item(row_b, TEST_COLUMNS[0]).text() == "0.970 [0.920, 1.000]"
    assert w.table.item(row_b, VAL_COLUMNS[0]).text() == "0.800"
    assert "never used to rank" in w.table.horizontalHeaderItem(TEST_COLUMNS[0]).toolTip()
    assert w.table.item(0, COLUMNS.index("external")).text() == "bach"
    assert "0.810 [0.760, 0.860]" in w.table.item(0, COLUMNS.index("external")).toolTip()
    assert w.table.item(w.visible_run_ids().index("cnn-s0"), COLUMNS.index("study")).text() == study.name
    w.show_study(study.name)
    assert w.visible_run_ids() == ["cnn-s0"]
    w.study_combo.setCurrentText(NO_STUDY)
    assert "cnn-s0" not in w.visible_run_ids() and len(w.visible_run_ids()) == 3
    w.study_combo.setCurrentText(ALL_STUDIES)
    w.table.sortItems(TEST_COLUMNS[0], Qt.SortOrder.DescendingOrder)  # a user may still sort by test on purpose
    assert w.visible_run_ids()[0] == b.id
    w.select_run(study / "runs" / "cnn-s0")
    assert [r.path for r in w.selected_runs()] == [study / "runs" / "cnn-s0"]
    w.resize(1250, 260)
    _grab(w, "histodesk_trust_runs_list.png")


def test_compare_marks_the_best_and_shows_the_paired_test(qtbot, two_runs):
    from engine.evaluation.compare import compare_runs
    from gui.results import CompareRunsWidget

    _, runs = two_runs
    w = CompareRunsWidget(runs + [runs[0]])  # a third column: the reference compared with itself too
    qtbot.addWidget(w)
    w.resize(1280, 760)
    w.show()
    qtbot.waitUntil(lambda: len(w.pairs) == 1, timeout=30000)  # the repeated run is the same folder: one pair
    expected = compare_runs(runs[0].path, runs[1].path, "test")
    row = [w.pair_table.item(r, 0).toolTip() for r in range(w.pair_table.rowCount())].index(str(runs[1].path))
    assert w.pair_table.item(row, 3).text() == f"p = {expected['delong']['p_value']:.3g}"
    diff = expected["difference"]["roc_auc"]
    assert w.pair_table.item(row, 2).text().startswith(f"{diff['value']:+.3f} [{diff['ci'][0]:+.3f}")
    evals = [r.read("evaluation.json")["test"] for r in runs + [runs[0]]]
    acc = [e["accuracy"] for e in evals]
    if len(set(acc)) > 1:
        assert w.best["accuracy"] == [j + 1 for j, v in enumerate(acc) if v == max(acc)]
        item = w.table.item(_column(w.table, "accuracy"), w.best["accuracy"][0])
        assert item.font().bold()
    ece = [e["calibration"]["ece"] for e in evals]
    assert w.best["ECE (15 bins)"] == [j + 1 for j, v in enumerate(ece) if v == min(ece)]
    # full ids on hover; every column fits at 1280 px without horizontal scrolling or clipped intervals
    assert w.table.horizontalHeaderItem(1).toolTip().startswith(runs[0].id)
    assert w.table.horizontalScrollBar().maximum() == 0
    metrics = w.table.fontMetrics()
    row = _column(w.table, "ROC AUC")
    for col in range(1, w.table.columnCount()):
        assert metrics.horizontalAdvance(w.table.item(row, col).text()) + 8 <= w.table.columnWidth(col)
    _grab(w, "histodesk_trust_compare.png")
    w.close()


def test_compare_says_why_runs_on_different_images_cannot_be_paired(qtbot, two_runs, tmp_path):
    from gui.results import CompareRunsWidget

    _, runs = two_runs
    other = Run(tmp_path / "other")
    shutil.copytree(runs[1].path, other.path)
    lines = other.file("predictions.csv").read_text().splitlines()
    other.file("predictions.csv").write_text("\n".join(lines[:-1]) + "\n")  # one test image fewer
    w = CompareRunsWidget([runs[0], other])
    qtbot.addWidget(w)
    qtbot.waitUntil(lambda: len(w.pairs) == 1, timeout=30000)
    assert "different test images" in w.pair_table.item(0, 1).text()
    assert "could not be compared" in w.pair_status.text()


def test_external_evaluation_dialog_runs_and_its_result_appears_in_the_run_view(qtbot, two_runs, shared_data,
                                                                                  tmp_path):
    from gui.main_window import MainWindow
    from gui.results.runs_list import COLUMNS
    from gui.workers import DONE

    runs_dir, runs = two_runs
    crc = tmp_path / "crc-he-sample"
    shutil.copytree(shared_data / "crc-he-sample", crc)
    window = MainWindow(autoload=False, runs_dir=str(runs_dir))
    qtbot.addWidget(window)
    window.confirm_close = lambda: True
    window.show()
    window.runs_tab.select_run(runs[0].path)
    dialog = window.extension(ResultsActions).open_external_dialog()
    assert dialog.run().path == runs[0].path
    assert [dialog.map_table.item(r, 1).text() for r in range(2)] == ["benign", "malignant"]  # identical names
    dialog.dataset_edit.set_path(str(crc))
    dialog.set_labels({"benign": "NORM, STR,ADI", "malignant": "TUM"})
    assert "benign</b> ← NORM, STR, ADI" in dialog.preview.text()
    dialog.set_labels({"malignant": "TUM,NORM"})
    assert "both" in dialog.preview.text()  # NORM given to two classes: refused before anything runs
    dialog.set_labels({"malignant": "TUM"})
    dialog.name_edit.setText("crc")
    _grab(dialog, "histodesk_trust_external_dialog.png")
    # the Jobs tab's first paint (its three live plots) is the Jobs tab's cost, not this job's: paint it once first
    window.tabs.setCurrentWidget(window.jobs_panel)
    warm_engine_imports()  # nor are the engine's first imports (see stall_monitor.warm_engine_imports)
    qtbot.wait(300)
    monitor = StallMonitor(where=lambda: (window.queue.jobs[-1].stage, window.queue.jobs[-1].state)
                           if window.queue.jobs else None).start()
    with qtbot.waitSignal(window.queue.job_finished, timeout=120000):
        dialog.buttons.button(dialog.buttons.StandardButton.Ok).click()
    job = window.queue.jobs[-1]
    assert job.kind == "evaluate" and job.state == DONE, job.error
    qtbot.wait(200)
    worst = monitor.stop()
    view = window.run_view
    window.tabs.setCurrentWidget(window.runs_tab)
    assert view.run.path == runs[0].path and "external evaluation 'crc'" in window.statusBar().currentMessage().lower()
    assert view.split_combo.currentText() == "external: crc"
    metrics = job.result["external"]
    col = [view.metrics_table.horizontalHeaderItem(c).text() for c in range(view.metrics_table.columnCount())]
    acc = view.metrics_table.item(_column(view.metrics_table, "accuracy"), col.index("external: crc")).text()
    assert acc == ci_text(metrics["accuracy"], metrics["ci"]["accuracy"], 4)
    view.tabs.setCurrentWidget(view.data_notes)  # each tab is drawn when shown
    notes = view.data_notes.toPlainText()
    mapped = next(line for line in notes.splitlines() if line.startswith("label map"))
    assert all(x in mapped.split("benign ←")[1].split(";")[0] for x in ("NORM", "STR", "ADI"))
    assert "malignant ← TUM" in mapped and "not evaluated 5 images" in notes
    assert any("5 images of the external dataset were not evaluated" in x for x in view.banner.warnings)
    external_col = COLUMNS.index("external")
    listed = window.runs_list.table.item(window.runs_list.visible_run_ids().index(runs[0].id), external_col).text()
    assert listed == "crc"
    print(f"\nEVENT-LOOP STALL (external evaluation): max gap {worst:.1f} ms; over 50 ms: {monitor.slow}")
    assert worst < 100
    _grab(view, "histodesk_trust_external_result.png")
    window.close()


def test_export_report_of_a_run_from_the_runs_tab(qtbot, two_runs, tmp_path):
    from gui.main_window import MainWindow
    from gui.workers import DONE

    runs_dir, runs = two_runs
    window = MainWindow(autoload=False, runs_dir=str(runs_dir))
    qtbot.addWidget(window)
    window.confirm_close = lambda: True
    texts = [a.text() for a in window.runs_tab.context_menu.actions()]
    assert texts == ["Compare selected runs", "Evaluate on another dataset…", "Export report…", "Resume"]
    window.runs_tab.select_run(runs[1].path)
    button = next(b for b, _action in window.runs_tab.run_actions if b.text() == "Export report…")
    button.click()
    dialog = window.extension(ResultsActions).dialog
    from engine.report.export import default_out_dir

    assert dialog.path == runs[1].path and dialog.folder_edit.path() == str(default_out_dir())
    assert dialog.explain_check.isEnabled()  # Grad-CAM gallery offered for a run
    dialog.folder_edit.set_path(str(tmp_path / "reports"))
    dialog.pdf_check.setChecked(False)
    dialog.explain_check.setChecked(False)
    with qtbot.waitSignal(window.queue.job_finished, timeout=120000):
        dialog.export_button.click()
    job = window.queue.jobs[-1]
    assert job.kind == "report" and job.state == DONE, job.error
    html = tmp_path / "reports" / f"{runs[1].id}-report.html"
    assert dialog.report_file() == str(html) and html.read_text(encoding="utf-8").lstrip().startswith("<!DOCTYPE")
    assert dialog.result["pdf"] is None and dialog.open_button.isEnabled() and dialog.folder_button.isEnabled()
    dialog.html_check.setChecked(False)
    assert dialog.start() is None and "Tick HTML, PDF or both" in dialog.status.text()

