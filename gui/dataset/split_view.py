"""The "Split" tab: per-split counts, patient assignments and the leakage audit."""

from __future__ import annotations

from collections import Counter, defaultdict
from html import escape
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (QAbstractItemView, QHeaderView, QLabel, QPlainTextEdit, QSplitter,
                               QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from engine.data.catalog import Catalog
from engine.data.splits import SPLITS, Split

OK_STYLE = "QLabel { background: #e6f4ea; color: #1e6b34; padding: 6px; border-radius: 4px; }"
BAD_STYLE = "QLabel { background: #fdecea; color: #a12622; padding: 6px; border-radius: 4px; }"
WARN_STYLE = "QLabel { background: #fff4d6; color: #7a5300; padding: 6px; border-radius: 4px; }"
INFO_STYLE = "QLabel { background: #eef1f5; color: #374151; padding: 6px; border-radius: 4px; }"
SPLIT_COLORS = {"train": "#e8f0fb", "val": "#fdf3e1", "test": "#e9f6ec"}


def _item(value, align_right: bool = False) -> QTableWidgetItem:
    item = QTableWidgetItem(f"{value:,}" if isinstance(value, int) else str(value))
    if align_right:
        item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    return item


def _table(columns: list[str]) -> QTableWidget:
    table = QTableWidget(0, len(columns))
    table.setHorizontalHeaderLabels(columns)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.verticalHeader().setVisible(False)
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    table.horizontalHeader().setStretchLastSection(True)
    return table


def audit_lines(audit: dict, notes: list[str]) -> list[str]:
    """The audit's findings and the split's notes as plain lines."""
    lines = [f"Note: {n}" for n in notes]
    for o in audit.get("patient_overlap", []):
        lines.append(f"Patient {o['patient']} is in {', '.join(o['splits'])}")
    for d in audit.get("exact_duplicates", []):
        names = ", ".join(Path(p).name for p in d["paths"])
        lines.append(f"Identical files in {', '.join(d['splits'])}: {names}")
    near = audit.get("near_duplicates", [])
    for d in near:
        lines.append(f"Near-duplicates ({'/'.join(d.get('splits', []))}, distance {d.get('distance')}): "
                     f"{Path(str(d.get('a'))).name} ~ {Path(str(d.get('b'))).name}")
    if audit.get("near_duplicate_count", 0) > len(near):
        lines.append(f"... {audit['near_duplicate_count'] - len(near)} more near-duplicate pairs")
    for p in audit.get("unreadable", []):
        lines.append(f"Could not hash (unreadable): {p}")
    return lines


class SplitViewWidget(QWidget):
    """Shows a :class:`Split` of a catalog: mode, audit, counts, patients, notes."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.mode_label = QLabel()
        self.audit_label = QLabel()
        for label in (self.mode_label, self.audit_label):
            label.setWordWrap(True)
            label.setTextFormat(Qt.TextFormat.RichText)
        self.counts_table = _table(["split"])
        self.patient_table = _table(["patient", "split", "images"])
        self.details = QPlainTextEdit()
        self.details.setReadOnly(True)
        self.details.setPlaceholderText("No leakage findings or notes.")
        tables = QSplitter(Qt.Orientation.Horizontal)
        tables.addWidget(self.counts_table)
        tables.addWidget(self.patient_table)
        tables.addWidget(self.details)
        tables.setSizes([300, 400, 400])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.mode_label)
        layout.addWidget(self.audit_label)
        layout.addWidget(tables, 1)
        self._catalog: Catalog | None = None
        self._split: Split | None = None
        self._refresh()

    def set_catalog(self, catalog: Catalog | None) -> None:
        """Use ``catalog`` for counts and patient ids."""
        self._catalog = catalog
        self._refresh()

    def set_split(self, split: Split | None) -> None:
        """Show ``split`` (None: a hint that no split was made yet)."""
        self._split = split
        self._refresh()

    def _refresh(self) -> None:
        split, catalog = self._split, self._catalog
        self.counts_table.setRowCount(0)
        self.patient_table.setRowCount(0)
        self.details.clear()
        if split is None or catalog is None:
            self.mode_label.setText("No split yet. A split is made when you set up training.")
            self.mode_label.setStyleSheet(INFO_STYLE)
            self.audit_label.hide()
            return
        self._show_mode(split)
        self._show_audit(split.audit)
        self._fill_counts(split, catalog)
        self._fill_patients(split, catalog)
        self.details.setPlainText("\n".join(audit_lines(split.audit, split.notes)))

    def _show_mode(self, split: Split) -> None:
        ratios = "/".join(f"{r:g}" for r in split.ratios)
        folds = f", fold {split.fold + 1} of {split.k_folds}" if split.k_folds and split.k_folds > 1 else ""
        if split.mode == "image":
            self.mode_label.setText(
                f"<b>Image-level split</b> (ratios {ratios}, seed {split.seed}{folds}). Warning: images "
                "of one patient can be in both train and test, which inflates test scores.")
            self.mode_label.setStyleSheet(WARN_STYLE)
        else:
            self.mode_label.setText(f"<b>Patient-level split</b> (ratios {ratios}, seed {split.seed}"
                                    f"{folds}): no patient is in two splits.")
            self.mode_label.setStyleSheet(INFO_STYLE)

    def _show_audit(self, audit: dict) -> None:
        self.audit_label.show()
        if not audit:
            self.audit_label.setText("Leakage audit: not run for this split.")
            self.audit_label.setStyleSheet(INFO_STYLE)
            return
        ok = bool(audit.get("ok"))
        checked = audit.get("images_checked", 0)
        self.audit_label.setText(f"<b>Leakage audit: {'OK' if ok else 'NOT OK'}</b> &mdash; "
                                 f"{escape(str(audit.get('message', '')))} ({checked:,} images checked)")
        self.audit_label.setStyleSheet(OK_STYLE if ok else BAD_STYLE)

    def _fill_counts(self, split: Split, catalog: Catalog) -> None:
        classes = catalog.classes
        counts = split.counts(catalog)
        patients = split.patients(catalog)
        columns = ["split", *classes, "total", "patients"]
        self.counts_table.setColumnCount(len(columns))
        self.counts_table.setHorizontalHeaderLabels(columns)
        self.counts_table.setRowCount(len(SPLITS))
        for row, name in enumerate(SPLITS):
            values = [counts[name][c] for c in classes]
            cells = [_item(name)] + [_item(v, True) for v in (*values, sum(values), len(patients[name]))]
            for col, cell in enumerate(cells):
                cell.setBackground(QColor(SPLIT_COLORS[name]))
                self.counts_table.setItem(row, col, cell)

    def _fill_patients(self, split: Split, catalog: Catalog) -> None:
        classes = catalog.classes
        per_patient: dict[str, Counter] = defaultdict(Counter)
        splits_of: dict[str, set[str]] = defaultdict(set)
        for r in catalog.records:
            name = split.assignments.get(r.path)
            key = r.patient or "(no patient)"
            per_patient[key][r.label] += 1
            splits_of[key].add(name or "unassigned")
        columns = ["patient", "split", "images", *classes]
        self.patient_table.setColumnCount(len(columns))
        self.patient_table.setHorizontalHeaderLabels(columns)
        self.patient_table.setRowCount(len(per_patient))
        order = {s: i for i, s in enumerate(SPLITS)}
        for row, patient in enumerate(sorted(per_patient)):
            names = sorted(splits_of[patient], key=lambda s: order.get(s, 9))
            cells = [_item(patient), _item(", ".join(names)), _item(sum(per_patient[patient].values()), True)]
            cells += [_item(per_patient[patient][c], True) for c in classes]
            for col, cell in enumerate(cells):
                if len(names) == 1 and names[0] in SPLIT_COLORS:
                    cell.setBackground(QColor(SPLIT_COLORS[names[0]]))
                elif len(names) > 1:
                    cell.setBackground(QColor("#fdecea"))
                self.patient_table.setItem(row, col, cell)
