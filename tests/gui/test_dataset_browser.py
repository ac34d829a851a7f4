"""Dataset browser: tree counts, filtering, lazy thumbnails, preview, skipped files, split view."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from engine.data.audit import split_with_audit
from engine.data.catalog import Catalog, ImageRecord
from engine.data.importers import scan
from engine.data.splits import Split
from engine.training.config import SplitConfig
from gui.dataset import DatasetBrowserWidget
from gui.dataset.thumbnails import ThumbnailGridWidget, ThumbnailModel
from gui.dataset.tree import FILTER_ROLE

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
BAD_NAME = "SOB_B_A-14-22549AB-100-999.png"


def _need(name: str) -> Path:
    path = DATA / name
    if not path.exists():
        pytest.skip(f"{path} is not present")
    return path


@pytest.fixture(scope="module")
def breakhis(tmp_path_factory) -> tuple[Catalog, Split]:
    """The 49-image BreaKHis sample, copied, plus one planted zero-byte PNG."""
    root = tmp_path_factory.mktemp("bh") / "breakhis"
    shutil.copytree(_need("breakhis-sample"), root)
    first = next(root.rglob("*.png"))
    (first.parent / BAD_NAME).write_bytes(b"")
    catalog = scan(root)
    return catalog, split_with_audit(catalog, SplitConfig(), 0)


@pytest.fixture(scope="module")
def idc() -> tuple[Catalog, Split]:
    """The 909-image IDC sample (2 patients)."""
    catalog = scan(_need("idc-sample"))
    return catalog, split_with_audit(catalog, SplitConfig(allow_no_test=True), 0)  # 2 patients: no test split


@pytest.fixture
def browser(qtbot):
    widget = DatasetBrowserWidget()
    qtbot.addWidget(widget)
    widget.resize(1400, 900)
    widget.show()
    yield widget
    widget.shutdown()


def _tree_counts(widget: DatasetBrowserWidget) -> dict[str, int]:
    model = widget.tree.model()
    root = model.index(0, 0)
    return {model.index(r, 0, root).data(): int(model.index(r, 1, root).data().replace(",", ""))
            for r in range(model.rowCount(root))}


def test_tree_counts_match_summary(browser, breakhis, idc):
    for catalog, split in (breakhis, idc):
        browser.set_catalog(catalog)
        browser.set_split(split)
        summary = catalog.summary()
        assert _tree_counts(browser) == summary["per_class"]
        model = browser.tree.model()
        assert model.index(0, 1).data().replace(",", "") == str(summary["images"])
        label = summary["classes"][0]
        patient = next(iter(p for p, c in summary["per_patient"].items() if label in c))
        node = browser.tree.find_node(label, patient)
        assert int(model.index(node.row(), 1, node.parent()).data()) == summary["per_patient"][patient][label]
        mags = [model.index(r, 0, node).data() for r in range(model.rowCount(node))]
        assert sum(int(model.index(r, 1, node).data()) for r in range(len(mags))) == \
            summary["per_patient"][patient][label]


def test_selecting_class_filters_grid(browser, breakhis):
    catalog, split = breakhis
    browser.set_catalog(catalog)
    assert len(browser.visible_records()) == len(catalog.records) == 49
    node = browser.tree.find_node("benign")
    browser.tree.select_node(node)
    shown = browser.visible_records()
    assert 0 < len(shown) < len(catalog.records)
    assert len(shown) == catalog.summary()["per_class"]["benign"]
    assert all(r.label == "benign" for r in shown)
    patient_node = browser.tree.model().index(0, 0, node)
    browser.tree.select_node(patient_node)
    flt = patient_node.data(FILTER_ROLE)
    assert all(r.patient == flt["patient"] for r in browser.visible_records())
    browser.tree.select_node(browser.tree.find_node())  # "All images"
    assert len(browser.visible_records()) == 49


def test_thumbnails_load_lazily(browser, breakhis, qtbot):
    catalog, _ = breakhis
    browser.set_catalog(catalog)
    model = browser.grid.thumb_model
    qtbot.waitUntil(lambda: model.is_loaded(0), timeout=10_000)
    assert model.loaded_count() < len(catalog.records)  # only painted rows were requested


def test_preview_shows_metadata(browser, breakhis, qtbot):
    catalog, split = breakhis
    browser.set_catalog(catalog)
    browser.set_split(split)
    with qtbot.waitSignal(browser.image_selected, timeout=2000) as blocker:
        browser.select_record(3)
    record = blocker.args[0]
    assert isinstance(record, ImageRecord) and record is browser.visible_records()[3]
    fields = browser.preview.fields
    assert fields["label"].text() == record.label
    assert fields["patient"].text() == record.patient
    assert fields["magnification"].text() == record.magnification
    assert fields["subtype"].text() == record.subtype
    assert fields["sha1"].text() == record.sha1
    assert fields["size"].text().startswith(f"{record.width} x {record.height}")
    assert Path(record.path).name in fields["path"].text()
    assert fields["split"].text() == split.assignments[record.path]
    qtbot.waitUntil(browser.preview.has_image, timeout=10_000)
    browser.set_split(None)
    assert fields["split"].text() == "-"


def test_skipped_table_lists_bad_file(browser, breakhis):
    catalog, _ = breakhis
    browser.set_catalog(catalog)
    table = browser.skipped_table
    paths = [table.item(r, 0).text() for r in range(table.rowCount())]
    assert any(p.endswith(BAD_NAME) for p in paths)
    row = next(r for r, p in enumerate(paths) if p.endswith(BAD_NAME))
    assert "empty" in table.item(row, 1).text()
    assert "(1)" in browser.tabs.tabText(1)


def test_split_view_shows_assignments_and_audit(browser, breakhis):
    catalog, split = breakhis
    browser.set_catalog(catalog)
    browser.set_split(split)
    view = browser.split_view
    assert split.audit["ok"]
    assert "OK" in view.audit_label.text() and "NOT OK" not in view.audit_label.text()
    assert "Patient-level" in view.mode_label.text()
    table = view.patient_table
    shown = {table.item(r, 0).text(): table.item(r, 1).text() for r in range(table.rowCount())}
    expected = {p: s for s, ps in split.patients(catalog).items() for p in ps}
    assert shown == expected
    counts = split.counts(catalog)
    ct = view.counts_table
    for row in range(ct.rowCount()):
        name = ct.item(row, 0).text()
        assert int(ct.item(row, len(catalog.classes) + 1).text()) == sum(counts[name].values())
    image_level = Split(assignments=dict(split.assignments), mode="image",
                        audit={**split.audit, "ok": False, "message": "Possible leakage: x.",
                               "patient_overlap": [{"patient": "P1", "splits": ["train", "test"]}]})
    browser.set_split(image_level)
    assert "Warning" in view.mode_label.text() and "NOT OK" in view.audit_label.text()
    assert "Patient P1 is in train, test" in view.details.toPlainText()
    browser.set_split(None)
    assert "No split" in view.mode_label.text() and table.rowCount() == 0


def test_empty_catalog(browser):
    browser.set_catalog(Catalog(root="", importer="folder"))
    browser.set_split(None)
    assert browser.visible_records() == [] and browser.skipped_table.rowCount() == 0
    assert browser.tree.model().index(0, 1).data() == "0"
    browser.set_catalog(None)
    assert "No images" in browser.count_label.text()


def test_5000_rows_are_fast(qtbot, breakhis):
    catalog, _ = breakhis
    real = [r for r in catalog.records][:4]
    records = [ImageRecord(path=real[i % 4].path, label=f"c{i % 3}", patient=f"p{i % 50}",
                           magnification="40X", width=700, height=460) for i in range(5000)]
    start = time.perf_counter()
    model = ThumbnailModel()
    model.set_records(records)
    for row in range(model.rowCount()):
        index = model.index(row)
        model.data(index)
        model.data(index, 1)  # DecorationRole: requests at most once per key
    elapsed = time.perf_counter() - start
    model.shutdown()
    assert elapsed < 0.5, f"model build + 10,000 data() calls took {elapsed:.3f}s"

    grid = ThumbnailGridWidget()
    qtbot.addWidget(grid)
    grid.resize(900, 600)
    grid.show()
    start = time.perf_counter()
    grid.set_records(records)
    qtbot.wait(1)
    bar = grid.verticalScrollBar()
    for step in range(20):
        bar.setValue(bar.maximum() * step // 19)
        grid.viewport().repaint()
    elapsed = time.perf_counter() - start
    assert bar.maximum() > 0
    qtbot.waitUntil(lambda: grid.thumb_model.loaded_count() >= 4, timeout=10_000)
    grid.thumb_model.shutdown()
    assert elapsed < 0.5, f"5,000-row grid set + 20 scroll repaints took {elapsed:.3f}s"


def test_only_painted_rows_are_requested(qtbot, tmp_path):
    records = [ImageRecord(path=str(tmp_path / f"missing_{i:05d}.png"), label="x", width=100, height=100)
               for i in range(5000)]
    grid = ThumbnailGridWidget()
    qtbot.addWidget(grid)
    grid.resize(800, 500)
    grid.show()
    grid.set_records(records)
    model = grid.thumb_model
    qtbot.waitUntil(lambda: model.requested_count() > 0, timeout=2000)
    first = model.requested_count()
    assert first < 100, first  # one screenful, not 5,000
    grid.scrollToBottom()
    qtbot.waitUntil(lambda: model.failed_count() > first, timeout=5000)  # missing files: "unreadable" tiles
    assert model.requested_count() < 200
    assert not model.is_loaded(4999)
    model.shutdown()


def test_screenshot(browser, breakhis, qtbot):
    catalog, split = breakhis
    browser.set_catalog(catalog)
    browser.set_split(split)
    browser.select_record(0)
    qtbot.waitUntil(lambda: browser.grid.thumb_model.loaded_count() >= 16 and browser.preview.has_image(),
                    timeout=10_000)
    qtbot.wait(50)
    assert browser.grab().save("/tmp/dataset_browser.png")
    browser.tabs.setCurrentIndex(2)
    qtbot.wait(20)
    assert browser.grab().save("/tmp/dataset_browser_split.png")
    browser.tabs.setCurrentIndex(1)
    qtbot.wait(20)
    assert browser.grab().save("/tmp/dataset_browser_skipped.png")
