"""Dataset tree: class -> patient -> magnification, with image counts.

Selecting a node emits ``filter_changed`` with a dict of the fields that
node fixes (``label``, ``patient``, ``magnification``; a value may be None
for "unknown"); the top "All images" node emits an empty dict.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict

from PySide6.QtCore import QItemSelection, Qt, Signal
from PySide6.QtGui import QStandardItem, QStandardItemModel
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTreeView, QWidget

from engine.data.catalog import Catalog, ImageRecord

FILTER_ROLE = Qt.ItemDataRole.UserRole + 1
NO_PATIENT = "(no patient)"
NO_MAG = "(no magnification)"


def matches(record: ImageRecord, flt: dict) -> bool:
    """True when ``record`` agrees with every field ``flt`` fixes."""
    return all(getattr(record, k) == v for k, v in flt.items())


def natural_key(value: str | None) -> tuple:
    """Sort key with digit runs compared as numbers ("40X" < "100X", "9133" < "14134E"); None last."""
    if value is None:
        return (1, ())
    return (0, tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"(\d+)", value) if p))


def _row(text: str, count: int, flt: dict) -> list[QStandardItem]:
    name, num = QStandardItem(text), QStandardItem(f"{count:,}")
    num.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    for item in (name, num):
        item.setEditable(False)
        item.setData(flt, FILTER_ROLE)
    return [name, num]


def build_tree_model(catalog: Catalog | None, parent=None) -> QStandardItemModel:
    """A two-column model (name, images) of ``catalog`` grouped class/patient/magnification."""
    model = QStandardItemModel(parent)
    model.setHorizontalHeaderLabels(["Dataset", "Images"])
    records = catalog.records if catalog is not None else []
    root = _row("All images", len(records), {})
    model.appendRow(root)
    groups: dict[str, dict[str | None, Counter]] = defaultdict(lambda: defaultdict(Counter))
    for r in records:
        groups[r.label][r.patient][r.magnification] += 1
    for label in sorted(groups):
        patients = groups[label]
        label_row = _row(label, sum(sum(c.values()) for c in patients.values()), {"label": label})
        root[0].appendRow(label_row)
        for patient in sorted(patients, key=natural_key):
            mags = patients[patient]
            pflt = {"label": label, "patient": patient}
            patient_row = _row(patient or NO_PATIENT, sum(mags.values()), pflt)
            label_row[0].appendRow(patient_row)
            for mag in sorted(mags, key=natural_key):
                patient_row[0].appendRow(_row(mag or NO_MAG, mags[mag], {**pflt, "magnification": mag}))
    return model


class DatasetTreeWidget(QTreeView):
    """Tree of the catalog; selecting a node filters what the browser shows."""

    filter_changed = Signal(object)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setUniformRowHeights(True)
        self.setAlternatingRowColors(True)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.set_catalog(None)

    def set_catalog(self, catalog: Catalog | None) -> None:
        """Rebuild the tree from ``catalog`` (None or empty: just "All images (0)")."""
        old = self.model()
        self.setModel(build_tree_model(catalog, self))
        if old is not None:
            old.deleteLater()
        header = self.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.selectionModel().selectionChanged.connect(self._on_selection_changed)
        self.expandToDepth(1)  # "All images" and its classes open: patients visible

    def node_filter(self, index) -> dict:
        """The filter of the node at ``index`` (empty for "All images")."""
        return dict(index.data(FILTER_ROLE) or {})

    def find_node(self, *names: str):
        """Index of the node reached by following display names from "All images"."""
        model = self.model()
        index = model.index(0, 0)
        for name in names:
            for row in range(model.rowCount(index)):
                child = model.index(row, 0, index)
                if child.data() == name:
                    index = child
                    break
            else:
                return None
        return index

    def select_node(self, index) -> None:
        """Select (and so filter by) the node at ``index``."""
        self.setCurrentIndex(index)

    def _on_selection_changed(self, selected: QItemSelection, _deselected: QItemSelection) -> None:
        indexes = selected.indexes()
        self.filter_changed.emit(self.node_filter(indexes[0]) if indexes else {})
