"""The compare view (issue 13.8): fits at 1280 px without sideways scrolling, full run ids on hover, the best
value of each figure marked by its point estimate with "≈" where its interval overlaps another run's, and the
runs' small-sample warnings in a banner."""

from __future__ import annotations

import os
import shutil

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from engine.runs import Run
from gui.results.compare_ranking import best_indices, best_tip, grouped_warnings, intervals_overlap, overlapping

GRAB_DIR = os.environ.get("HISTODESK_GRAB_DIR", "/tmp")
LONG_IDS = ["2026-12-02_1530_s1-resnet50-transfer-seed3", "2026-12-02_1531_s1-resnet50-transfer-seed4",
            "2026-12-02_1602_s2-mobilenet-scratch-lr3e-4"]


@pytest.fixture
def five_runs(two_runs, tmp_path):
    """The two tiny runs plus three copies under long, shared-prefix ids (the same test images)."""
    _, runs = two_runs
    copies = []
    for i, name in enumerate(LONG_IDS):
        shutil.copytree(runs[i % 2].path, tmp_path / name)
        copies.append(Run(tmp_path / name))
    return runs + copies


def _row(table, label: str) -> int:
    return [table.item(r, 0).text() for r in range(table.rowCount())].index(label)


def _fits(table, row: int, col: int) -> bool:
    """The cell's whole text shows in its cell (on one line, or wrapped onto the row's height)."""
    from PySide6.QtCore import QRect, Qt

    item = table.item(row, col)
    metrics = table.fontMetrics()
    if item.font().bold():
        from PySide6.QtGui import QFontMetrics

        metrics = QFontMetrics(item.font())
    box = metrics.boundingRect(QRect(0, 0, table.columnWidth(col) - 8, 10_000), Qt.TextFlag.TextWordWrap,
                               item.text())
    return box.width() <= table.columnWidth(col) - 8 and box.height() <= table.rowHeight(row)


def test_compare_fits_1280_marks_the_best_flags_overlaps_and_warns(qtbot, five_runs):
    from gui.results import CompareRunsWidget

    runs = five_runs
    w = CompareRunsWidget(runs)
    qtbot.addWidget(w)
    w.resize(1280, 760)
    w.show()
    qtbot.waitUntil(lambda: len(w.pairs) == len(runs) - 1, timeout=60000)
    qtbot.wait(50)  # the refit after the columns settled
    t = w.table
    assert t.horizontalScrollBar().maximum() == 0
    for col in range(1, t.columnCount()):
        header = t.horizontalHeaderItem(col)
        assert header.toolTip().startswith(runs[col - 1].id + "\n")  # the full id on hover
        assert header.text() == runs[col - 1].id or "…" in header.text()
        assert t.fontMetrics().horizontalAdvance(header.text()) <= t.columnWidth(col)
        for row in range(t.rowCount()):
            assert _fits(t, row, col), (t.item(row, 0).text(), t.item(row, col).text(), t.columnWidth(col))
    evals = [r.read("evaluation.json")["test"] for r in runs]
    for label, key in (("ROC AUC", "roc_auc"), ("accuracy", "accuracy")):
        values = [e[key] for e in evals]
        cis = [e["ci"][key] for e in evals]
        best = best_indices(values)
        if not best:
            continue
        overlaps = overlapping(best, cis, values)
        assert w.best[label] == [j + 1 for j in best]
        cell = t.item(_row(t, label), best[0] + 1)
        assert cell.font().bold() and cell.text().endswith(" ≈") == bool(overlaps)
        assert f"Best {label} by point estimate" in cell.toolTip()
        assert ("may be chance" in cell.toolTip()) == bool(overlaps)
        others = [j for j in range(len(runs)) if j not in best]
        assert not t.item(_row(t, label), others[0] + 1).text().endswith("≈")
    assert "≈" in w.note.text() and "full run id" in w.note.text()
    expected = grouped_warnings([(r.id, e["warnings"]) for r, e in zip(runs, evals)])
    assert expected and w.banner.isVisible() and w.banner.warnings == expected
    for r, e in zip(runs, evals):  # every run's warning is there, naming the run (or all runs)
        for x in e["warnings"]:
            assert any(line.startswith(x) and (r.id in line or f"all {len(runs)} runs" in line) for line in expected)
    assert "Small sample" in w.banner.text()
    w.grab().save(os.path.join(GRAB_DIR, "histodesk_compare_1280.png"))
    w.close()


def test_narrow_compare_wraps_cells_instead_of_scrolling(qtbot, five_runs):
    from gui.results import CompareRunsWidget

    w = CompareRunsWidget(five_runs)
    qtbot.addWidget(w)
    w.resize(640, 700)
    w.show()
    qtbot.waitUntil(lambda: bool(w.pairs), timeout=60000)
    qtbot.wait(50)
    t = w.table
    assert t.horizontalScrollBar().maximum() == 0
    row = _row(t, "ROC AUC")
    assert all(_fits(t, row, col) for col in range(1, t.columnCount()))
    assert t.rowHeight(row) >= 2 * t.fontMetrics().lineSpacing()  # the interval went onto a second line
    w.grab().save(os.path.join(GRAB_DIR, "histodesk_compare_640.png"))
    w.close()


def test_ranking_helpers():
    assert best_indices([0.8, None, 0.9, 0.9]) == [2, 3] and best_indices([0.1, 0.2], True) == [0]
    assert best_indices([0.5, 0.5]) == [] and best_indices([0.5, None]) == []
    assert intervals_overlap([0.1, 0.3], [0.3, 0.5]) and not intervals_overlap([0.1, 0.2], [0.3, 0.5])
    assert not intervals_overlap(None, [0.1, 0.2])
    values, cis = [0.95, 0.70, 0.90], [[0.93, 0.97], [0.60, 0.80], [0.85, 0.94]]
    assert overlapping([0], cis, values) == [2]
    assert overlapping([0], [[0.93, 0.97], [0.60, 0.80], [0.85, 0.92]], values) == []
    tip = best_tip("accuracy", ["a", "b", "c"], [0], [2], True)
    assert "overlaps that of c" in tip and "may be chance" in tip
    assert "No interval" in best_tip("ECE", ["a", "b"], [0], [], False)
    assert grouped_warnings([("a", ["small", "x"]), ("b", ["small"])]) == ["small (all 2 runs)", "x (runs: a)"]
