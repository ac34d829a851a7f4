"""One batch's results in the Classifications tab: a row per image (page), with preview and filters."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QUrl, Slot
from PySide6.QtGui import QBrush, QColor, QDesktopServices, QPixmap
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QHBoxLayout, QHeaderView, QLabel, QPushButton,
                               QSplitter, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from gui.images import numpy_to_pixmap

PREVIEW_PX = 260
ERRORS_ONLY = "__errors__"


def load_pixmap(path: str, page: int = 0) -> QPixmap | None:
    """Page ``page`` of the image at ``path`` through the engine's safe reader, or None when it cannot be read."""
    try:
        from engine.data.imageio import read_image

        return numpy_to_pixmap(read_image(path, page=page))
    except Exception:  # noqa: BLE001 - unreadable: the row's reason says why
        return None


class ClassifyResultsWidget(QWidget):
    """Table (file, status, class, probability, p_<class>..., reason), filter, preview and CSV buttons.

    ``result`` is the dict returned by :func:`engine.evaluation.predict.predict_folder`.
    """

    def __init__(self, result: dict, *, model: str = "", folder: str = "", parent: QWidget | None = None):
        super().__init__(parent)
        self.result, self.model, self.folder = result, model, folder
        self.rows: list[dict] = list(result["rows"])
        self.classes: list[str] = list(result["classes"])
        self.summary_label = QLabel(self.summary_text())
        self.summary_label.setWordWrap(True)
        self.filter_combo = QComboBox()
        self.filter_combo.addItem("All images", None)
        self.filter_combo.addItem("Errors only", ERRORS_ONLY)
        for name in self.classes:
            self.filter_combo.addItem(f"Class: {name}", name)
        self.filter_combo.currentIndexChanged.connect(self._on_filter_changed)
        self.open_csv_button = QPushButton("Open CSV")
        self.open_csv_button.clicked.connect(self._on_open_csv)
        self.show_folder_button = QPushButton("Show folder")
        self.show_folder_button.clicked.connect(self._on_show_folder)
        top = QHBoxLayout()
        top.addWidget(self.summary_label, 1)
        top.addWidget(QLabel("Show:"))
        top.addWidget(self.filter_combo)
        top.addWidget(self.open_csv_button)
        top.addWidget(self.show_folder_button)

        self.table = QTableWidget(0, 0)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 8)
        self.table.setWordWrap(False)
        self.table.itemSelectionChanged.connect(self._on_selection_changed)
        self.image_label = _preview_label("Select a row to preview its image.")
        self.heatmap_label = _preview_label("")
        self.detail_label = QLabel()
        self.detail_label.setWordWrap(True)
        self.detail_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        side = QWidget()
        side_lay = QVBoxLayout(side)
        side_lay.addWidget(self.image_label)
        side_lay.addWidget(self.heatmap_label)
        side_lay.addWidget(self.detail_label)
        side_lay.addStretch(1)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.table)
        split.addWidget(side)
        split.setStretchFactor(0, 1)
        split.setSizes([820, PREVIEW_PX + 40])
        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addWidget(split, 1)
        self._fill_table()

    # --- public API ---------------------------------------------------------
    def columns(self) -> list[str]:
        """Column titles: file, status, class, probability, p_<class>..., reason."""
        return ["file", "status", "class", "probability"] + [f"p_{c}" for c in self.classes] + ["reason"]

    def summary_text(self) -> str:
        """"N classified, M failed, backend ..." plus the model and where the CSV is."""
        from html import escape

        from engine.io_utils import display_path

        r = self.result
        text = f"<b>{r['n_ok']} classified, {r['n_failed']} failed</b>, backend {r['backend']}"
        if r.get("device"):
            text += f" on {r['device']}"
        if self.model:
            text += f" &middot; model {escape(display_path(Path(self.model).name))}"
        return text + f"<br><small>{escape(display_path(r['csv']))}</small>"

    def visible_rows(self) -> list[dict]:
        """The result rows the current filter shows, in table order."""
        return [self.rows[i] for i in range(len(self.rows)) if not self.table.isRowHidden(i)]

    def select_row(self, index: int) -> None:
        """Select table row ``index`` (shows its preview)."""
        self.table.selectRow(index)

    def set_filter(self, value: str | None) -> None:
        """None (all rows), :data:`ERRORS_ONLY` or a class name."""
        self.filter_combo.setCurrentIndex(max(0, self.filter_combo.findData(value)))

    # --- internals ------------------------------------------------------------
    def _display_path(self, row: dict) -> str:
        """The row's file relative to the folder, printable (odd bytes escaped), with its page when it has pages."""
        from engine.io_utils import display_path

        path = row["path"]
        try:
            path = str(Path(path).relative_to(self.folder)) if self.folder else path
        except ValueError:
            pass
        return display_path(path) + (f" [page {row['page']}]" if row.get("page") else "")

    def _fill_table(self) -> None:
        cols = self.columns()
        self.table.setColumnCount(len(cols))
        self.table.setHorizontalHeaderLabels(cols)
        self.table.setRowCount(len(self.rows))
        error_brush = QBrush(QColor("#fde2e2"))
        for i, row in enumerate(self.rows):
            values = [self._display_path(row), row["status"], row.get("class") or "",
                      _fmt(row.get("prob"))] + [_fmt(row.get(f"p_{c}")) for c in self.classes] + \
                     [row.get("reason") or ""]
            for j, value in enumerate(values):
                item = QTableWidgetItem(value)
                item.setToolTip(value if j in (0, len(values) - 1) else "")
                if row["status"] != "ok":
                    item.setBackground(error_brush)
                self.table.setItem(i, j, item)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        self.table.setColumnWidth(0, 260)

    @Slot()
    def _on_filter_changed(self) -> None:
        value = self.filter_combo.currentData()
        for i, row in enumerate(self.rows):
            shown = value is None or (row["status"] == "error" if value == ERRORS_ONLY else row.get("class") == value)
            self.table.setRowHidden(i, not shown)

    @Slot()
    def _on_selection_changed(self) -> None:
        selected = self.table.selectionModel().selectedRows()
        if not selected:
            return
        row = self.rows[selected[0].row()]
        _show(self.image_label, load_pixmap(row["path"], row.get("page") or 0) if row["status"] == "ok" else None,
              "Cannot display this file.")
        heatmap = row.get("heatmap")
        _show(self.heatmap_label, load_pixmap(heatmap) if heatmap else None, "")
        self.heatmap_label.setVisible(bool(heatmap))
        from html import escape

        from engine.io_utils import display_path

        where = escape(display_path(row["path"])) + (f" (page {row['page']})" if row.get("page") else "")
        if row["status"] == "ok":
            self.detail_label.setText(f"<b>{escape(row['class'])}</b> ({row['prob']:.1%})<br>{where}")
        else:
            self.detail_label.setText(f"<b>Error</b>: {escape(str(row.get('reason')))}<br>{where}")

    @Slot()
    def _on_open_csv(self) -> None:
        QDesktopServices.openUrl(QUrl.fromLocalFile(self.result["csv"]))

    @Slot()
    def _on_show_folder(self) -> None:
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(Path(self.result["csv"]).parent)))


def _fmt(value) -> str:
    return "" if value is None else f"{float(value):.4f}"


def _preview_label(text: str) -> QLabel:
    label = QLabel(text)
    label.setAlignment(Qt.AlignmentFlag.AlignCenter)
    label.setMinimumSize(PREVIEW_PX, PREVIEW_PX // 2)
    label.setWordWrap(True)
    return label


def _show(label: QLabel, pixmap: QPixmap | None, fallback: str) -> None:
    if pixmap is None:
        label.setPixmap(QPixmap())
        label.setText(fallback)
        return
    label.setPixmap(pixmap.scaled(PREVIEW_PX, PREVIEW_PX, Qt.AspectRatioMode.KeepAspectRatio,
                                  Qt.TransformationMode.SmoothTransformation))
