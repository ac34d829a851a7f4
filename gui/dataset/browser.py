"""The dataset browser: tree, thumbnail grid, preview, and summary/skipped/split tabs.

The main window uses exactly :class:`DatasetBrowserWidget` with
``set_catalog(catalog)``, ``set_split(split_or_None)`` and the
``image_selected(record)`` signal.
"""

from __future__ import annotations

from PySide6.QtCore import QItemSelection, Qt, Signal
from PySide6.QtWidgets import (QAbstractItemView, QHeaderView, QLabel, QSplitter, QTableWidget,
                               QTableWidgetItem, QTabWidget, QVBoxLayout, QWidget)

from engine.data.catalog import Catalog, ImageRecord
from engine.data.splits import Split
from gui.dataset.charts import DatasetChartsWidget
from gui.dataset.preview import ImagePreviewWidget
from gui.dataset.split_view import SplitViewWidget
from gui.dataset.thumbnails import ThumbnailGridWidget
from gui.dataset.tree import DatasetTreeWidget, matches

_NOTICE_STYLE = "QLabel {{ background: {bg}; color: {fg}; padding: 4px 6px; border-radius: 3px; }}"


class SkippedFilesWidget(QTableWidget):
    """Files the scan could not use: path and reason."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(0, 2, parent)
        self.setHorizontalHeaderLabels(["Path", "Reason"])
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setAlternatingRowColors(True)
        self.setWordWrap(False)
        self.verticalHeader().setVisible(False)
        self.setTextElideMode(Qt.TextElideMode.ElideMiddle)  # keep the file name visible
        header = self.horizontalHeader()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)

    def set_catalog(self, catalog: Catalog | None) -> None:
        """List ``catalog.skipped`` (None: nothing)."""
        skipped = catalog.skipped if catalog is not None else []
        self.setRowCount(len(skipped))
        for row, item in enumerate(skipped):
            path = QTableWidgetItem(item.path)
            path.setToolTip(item.path)
            reason = QTableWidgetItem(item.reason)
            reason.setToolTip(item.reason)
            self.setItem(row, 0, path)
            self.setItem(row, 1, reason)


class DatasetBrowserWidget(QWidget):
    """Browse a :class:`Catalog`: filter by class/patient/magnification, view images and the split."""

    image_selected = Signal(object)  # ImageRecord

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._catalog: Catalog | None = None
        self._split: Split | None = None
        self.tree = DatasetTreeWidget()
        self.grid = ThumbnailGridWidget()
        self.preview = ImagePreviewWidget()
        self.charts = DatasetChartsWidget()
        self.skipped_table = SkippedFilesWidget()
        self.split_view = SplitViewWidget()
        self.count_label = QLabel()
        self.count_label.setStyleSheet("QLabel { color: #4b5563; padding: 2px 4px; }")
        self.notice_label = QLabel()  # "Opening X..." / why the last open failed; hidden when empty
        self.notice_label.setWordWrap(True)
        self.notice_label.hide()

        centre = QWidget()
        centre_layout = QVBoxLayout(centre)
        centre_layout.setContentsMargins(0, 0, 0, 0)
        centre_layout.setSpacing(2)
        centre_layout.addWidget(self.count_label)
        centre_layout.addWidget(self.grid, 1)

        panes = QSplitter(Qt.Orientation.Horizontal)
        panes.addWidget(self.tree)
        panes.addWidget(centre)
        panes.addWidget(self.preview)
        panes.setStretchFactor(0, 0)
        panes.setStretchFactor(1, 1)
        panes.setStretchFactor(2, 0)
        panes.setSizes([300, 700, 380])

        self.tabs = QTabWidget()
        self.tabs.addTab(self.charts, "Summary")
        self.tabs.addTab(self.skipped_table, "Skipped files")
        self.tabs.addTab(self.split_view, "Split")

        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.addWidget(panes)
        self.splitter.addWidget(self.tabs)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        self.splitter.setSizes([520, 380])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.notice_label)
        layout.addWidget(self.splitter)

        self.tree.filter_changed.connect(self._on_filter_changed)
        self.grid.selectionModel().selectionChanged.connect(self._on_grid_selection_changed)
        self.set_catalog(None)

    # --- contract -----------------------------------------------------------
    def set_catalog(self, catalog: Catalog | None) -> None:
        """Show ``catalog`` (None or an empty catalog shows an empty browser)."""
        self._catalog = catalog
        self.tree.set_catalog(catalog)
        self.charts.set_catalog(catalog)
        self.skipped_table.set_catalog(catalog)
        self.split_view.set_catalog(catalog)
        n_skipped = len(catalog.skipped) if catalog is not None else 0
        self.tabs.setTabText(1, f"Skipped files ({n_skipped})" if n_skipped else "Skipped files")
        self.preview.set_record(None)
        self._apply_filter({})

    def set_split(self, split: Split | None) -> None:
        """Show ``split`` in the Split tab and in the preview (None clears it)."""
        self._split = split
        self.split_view.set_split(split)
        record = self.preview.record()
        if record is not None:
            self.preview.set_split_name(self._split_of(record))
        audit = split.audit if split is not None else {}
        warn = split is not None and (split.mode == "image" or (audit and not audit.get("ok")))
        self.tabs.setTabText(2, "Split (!)" if warn else "Split")

    def set_notice(self, text: str, *, error: bool = False) -> None:
        """Show a one-line notice above the browser (an open in progress, or why it failed); "" hides it."""
        self.notice_label.setText(text)
        colours = {"bg": "#fdecea", "fg": "#b71c1c"} if error else {"bg": "#eef2f7", "fg": "#374151"}
        self.notice_label.setStyleSheet(_NOTICE_STYLE.format(**colours))
        self.notice_label.setVisible(bool(text))

    def notice(self) -> str:
        """The notice shown ("" when none)."""
        return self.notice_label.text() if self.notice_label.isVisibleTo(self) else ""

    # --- helpers used by the main window and tests ---------------------------
    def catalog(self) -> Catalog | None:
        """The catalog shown, or None."""
        return self._catalog

    def visible_records(self) -> list[ImageRecord]:
        """Records in the grid after the tree's filter."""
        return self.grid.thumb_model.records()

    def select_record(self, row: int) -> None:
        """Select grid row ``row`` (previews it and emits ``image_selected``)."""
        self.grid.setCurrentIndex(self.grid.thumb_model.index(row))

    def shutdown(self) -> None:
        """Stop background decoding (call before the widget is destroyed)."""
        self.grid.thumb_model.shutdown()
        self.preview.shutdown()

    def closeEvent(self, event) -> None:
        """Stop background decoding when the browser closes."""
        self.shutdown()
        super().closeEvent(event)

    # --- slots ----------------------------------------------------------------
    def _on_filter_changed(self, flt: dict) -> None:
        self._apply_filter(flt)

    def _on_grid_selection_changed(self, selected: QItemSelection, _deselected: QItemSelection) -> None:
        indexes = selected.indexes()
        record = self.grid.thumb_model.record(indexes[0].row()) if indexes else None
        self.preview.set_record(record, self._split_of(record) if record is not None else None)
        if record is not None:
            self.image_selected.emit(record)

    def _apply_filter(self, flt: dict) -> None:
        records = self._catalog.records if self._catalog is not None else []
        shown = [r for r in records if matches(r, flt)] if flt else list(records)
        self.grid.set_records(shown)
        what = " / ".join(str(v) if v is not None else "(unknown)" for v in flt.values()) or "All images"
        self.count_label.setText(f"{what}: {len(shown):,} of {len(records):,} images")
        if not records:
            self.count_label.setText("No images loaded.")

    def _split_of(self, record: ImageRecord) -> str | None:
        return self._split.assignments.get(record.path) if self._split is not None else None
