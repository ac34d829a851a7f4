"""Parts of the recipe page: the augmentation box and the editable phases table."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from PySide6.QtWidgets import (
    QCheckBox, QGridLayout, QGroupBox, QHBoxLayout, QHeaderView, QLabel, QPushButton, QTableWidget,
    QTableWidgetItem, QVBoxLayout, QWidget,
)

from engine.errors import ConfigError
from engine.schema import validate
from engine.training.config import AugmentConfig, PhaseConfig
from gui.wizard.fields import schema_dspin

PHASE_COLUMNS = ["name", "epochs", "trainable", "lr", "backbone_lr"]


class AugmentWidget(QGroupBox):
    """Check boxes and spin boxes for the training augmentations."""

    FLAGS = ("hflip", "vflip", "rot90", "random_crop", "random_resized_crop")
    #: (setting, step, decimals); the ranges are the schema's (:class:`AugmentConfig`).
    AMOUNTS = (("rotation", 5, 0), ("shift", 0.05, 2), ("zoom", 0.05, 2), ("color_jitter", 0.05, 2),
               ("hue", 0.01, 2), ("random_erasing", 0.05, 2), ("blur", 0.05, 2))

    def __init__(self, parent: QWidget | None = None):
        super().__init__("Augmentation", parent)
        grid = QGridLayout(self)
        self.checks = {name: QCheckBox(name.replace("_", " ")) for name in self.FLAGS}
        for i, box in enumerate(self.checks.values()):
            grid.addWidget(box, 0 + i // 3, i % 3)
        self.spins = {}
        for i, (name, step, dec) in enumerate(self.AMOUNTS):
            box = schema_dspin(AugmentConfig, name, 0, step, dec)
            self.spins[name] = box
            r, c = 2 + i // 3, (i % 3) * 2
            grid.addWidget(QLabel(name.replace("_", " ") + (" (°)" if name == "rotation" else "")), r, c)
            grid.addWidget(box, r, c + 1)
        grid.setRowStretch(grid.rowCount(), 1)

    def load(self, aug: AugmentConfig) -> None:
        """Show ``aug``."""
        for name, box in self.checks.items():
            box.setChecked(bool(getattr(aug, name)))
        for name, box in self.spins.items():
            box.setValue(float(getattr(aug, name)))

    def values(self) -> dict[str, Any]:
        """The augmentation settings as a partial ``augment`` dict."""
        out: dict[str, Any] = {name: box.isChecked() for name, box in self.checks.items()}
        out.update({name: round(box.value(), 4) for name, box in self.spins.items()})
        return out


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


class PhasesTableWidget(QWidget):
    """Editable table of training phases (name, epochs, trainable, lr, backbone lr)."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.table = QTableWidget(0, len(PHASE_COLUMNS))
        self.table.setHorizontalHeaderLabels(PHASE_COLUMNS)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.setToolTip("trainable: head, all, or JSON such as {\"last\": 3}; empty lr = optimizer lr")
        self.table.setMinimumHeight(90)
        add = QPushButton("Add phase")
        remove = QPushButton("Remove phase")
        add.clicked.connect(self._on_add)
        remove.clicked.connect(self._on_remove)
        buttons = QHBoxLayout()
        buttons.addWidget(QLabel("Phases (optional; when set, they replace 'epochs'):"))
        buttons.addStretch(1)
        buttons.addWidget(add)
        buttons.addWidget(remove)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(buttons)
        layout.addWidget(self.table)

    def _on_add(self) -> None:
        self._append(PhaseConfig(epochs=5, trainable="all", name=f"phase {self.table.rowCount() + 1}"))

    def _on_remove(self) -> None:
        row = self.table.currentRow()
        self.table.removeRow(row if row >= 0 else self.table.rowCount() - 1)

    def _append(self, phase: PhaseConfig) -> None:
        row = self.table.rowCount()
        self.table.insertRow(row)
        for col, key in enumerate(PHASE_COLUMNS):
            self.table.setItem(row, col, QTableWidgetItem(_fmt(getattr(phase, key))))

    def load(self, phases: list[PhaseConfig]) -> None:
        """Show ``phases``."""
        self.table.setRowCount(0)
        for phase in phases:
            self._append(phase)

    def phases(self) -> list[dict[str, Any]]:
        """The phases as dicts, each checked by the phase schema (:class:`PhaseConfig`); ConfigError naming the
        phase and the field (``phases[0].epochs: got '0'; ...``) for a bad cell."""
        out = []
        for row in range(self.table.rowCount()):
            cell = {k: (self.table.item(row, c).text().strip() if self.table.item(row, c) else "")
                    for c, k in enumerate(PHASE_COLUMNS)}
            trainable: Any = cell["trainable"] or "all"
            if trainable not in ("head", "all"):
                try:
                    trainable = json.loads(trainable)
                except json.JSONDecodeError:
                    raise ConfigError(f"phases[{row}].trainable: got {trainable!r}; use head, all or JSON like "
                                      '{"last": 3}.') from None
            given = {**cell, "trainable": trainable, **{k: cell[k] or None for k in ("lr", "backbone_lr")}}
            out.append(dataclasses.asdict(validate(PhaseConfig, given, f"phases[{row}]")))
        return out
