"""Table model of a run's per-image predictions, and the proxy that sorts and filters it.

Rows come from the run's ``predictions.csv`` (see
:mod:`engine.evaluation.predictions`). Each column's ``SORT_ROLE`` returns a raw
value (a float for probabilities, a bool for correct) so sorting is numeric;
:class:`PredictionFilterModel` keeps the rows that pass every active filter.
"""

from __future__ import annotations

import os
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, QSortFilterProxyModel, Qt
from PySide6.QtGui import QBrush, QColor

ROW_ROLE = Qt.ItemDataRole.UserRole + 1   # the whole row dict
SORT_ROLE = Qt.ItemDataRole.UserRole + 2  # the raw value used to sort a column

# (header, row key); "file" is the file name of "path".
COLUMNS = [("True", "true_label"), ("Predicted", "predicted_label"), ("Prob.", "predicted_probability"),
           ("Correct", "correct"), ("Patient", "patient"), ("Mag.", "magnification"),
           ("Split", "split"), ("File", "file")]
WRONG_BRUSH = QBrush(QColor("#fde8e8"))
ANY = None  # a filter value meaning "do not filter on this"


def _display(key: str, row: dict) -> str:
    value = row.get(key) if key != "file" else os.path.basename(row.get("path") or "")
    if value is None:
        return "–"
    if key == "correct":
        return "✓" if value else "✗"
    if key == "predicted_probability":
        return f"{value:.3f}"
    return str(value)


def _sort_value(key: str, row: dict) -> Any:
    value = row.get(key) if key != "file" else os.path.basename(row.get("path") or "")
    if key in ("predicted_probability", "correct"):
        return float(value) if value is not None else -1.0
    return "" if value is None else str(value)


class PredictionTableModel(QAbstractTableModel):
    """One row per image of ``predictions.csv``; read-only."""

    def __init__(self, rows: list[dict] | None = None, parent=None):
        super().__init__(parent)
        self._rows: list[dict] = list(rows or [])

    def set_rows(self, rows: list[dict]) -> None:
        """Replace every row."""
        self.beginResetModel()
        self._rows = list(rows)
        self.endResetModel()

    def row(self, index: int) -> dict:
        """The row dict at source row ``index``."""
        return self._rows[index]

    def rows(self) -> list[dict]:
        """All rows, in file order."""
        return list(self._rows)

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        """Number of images (0 under a valid parent: a flat table)."""
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        """Number of columns (see :data:`COLUMNS`)."""
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole):
        """Column titles."""
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section][0]
        return None

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        """Text, sort value, row dict, tooltip (full path) or a pink background for errors."""
        if not index.isValid():
            return None
        row = self._rows[index.row()]
        key = COLUMNS[index.column()][1]
        if role == Qt.ItemDataRole.DisplayRole:
            return _display(key, row)
        if role == SORT_ROLE:
            return _sort_value(key, row)
        if role == ROW_ROLE:
            return row
        if role == Qt.ItemDataRole.ToolTipRole:
            return row.get("path")
        if role == Qt.ItemDataRole.BackgroundRole and row.get("correct") is False:
            return WRONG_BRUSH
        if role == Qt.ItemDataRole.TextAlignmentRole and key in ("predicted_probability", "correct"):
            return int(Qt.AlignmentFlag.AlignCenter)
        return None


class PredictionFilterModel(QSortFilterProxyModel):
    """Sorts numerically and keeps rows matching the filters set with :meth:`set_filters`.

    Filters: ``misclassified_only``; ``min_prob``/``max_prob`` (probability of
    the predicted class, inclusive); ``class_filter`` = ``(which, label)`` with
    ``which`` in "true", "predicted", "either"; ``patient`` (exact id, or a
    case-insensitive substring); ``split``. ``ANY`` (None) switches one off.
    """

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setSortRole(SORT_ROLE)
        self.misclassified_only = False
        self.min_prob, self.max_prob = 0.0, 1.0
        self.class_filter: tuple[str, str] | None = ANY
        self.patient: str | None = ANY
        self.split: str | None = ANY

    def set_filters(self, **filters: Any) -> None:
        """Change any of the filter attributes and re-filter once."""
        for name, value in filters.items():
            if not hasattr(self, name) or name.startswith("_"):
                raise AttributeError(f"Unknown prediction filter {name!r}")
            setattr(self, name, value)
        self.invalidateRowsFilter()

    def accepts(self, row: dict) -> bool:
        """True when ``row`` passes every active filter."""
        if self.misclassified_only and row.get("correct") is not False:
            return False
        prob = row.get("predicted_probability")
        if prob is not None and not (self.min_prob - 1e-9 <= prob <= self.max_prob + 1e-9):
            return False
        if self.class_filter is not ANY:
            which, label = self.class_filter
            keys = ("true_label", "predicted_label") if which == "either" else (f"{which}_label",)
            if not any(row.get(k) == label for k in keys):
                return False
        if self.patient:
            value = str(row.get("patient") or "")
            if value != self.patient and self.patient.lower() not in value.lower():
                return False
        return self.split is ANY or row.get("split") == self.split

    def filterAcceptsRow(self, source_row: int, source_parent) -> bool:
        """Qt hook: see :meth:`accepts`."""
        return self.accepts(self.sourceModel().row(source_row))

    def row(self, proxy_row: int) -> dict:
        """The row dict shown at ``proxy_row``."""
        return self.data(self.index(proxy_row, 0), ROW_ROLE)
