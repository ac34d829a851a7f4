"""Amber marks on wizard fields whose value differs from the chosen preset, with the preset's value on hover."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import (
    QAbstractButton, QComboBox, QDoubleSpinBox, QLineEdit, QSpinBox, QTableWidget, QWidget,
)

#: The mark: an amber background, as the results views' warning banner.
MARK_STYLE = "background-color: #fff3cd;"
_OWN_TIP = "histodeskOwnTip"


def on_change(widget: QWidget, slot: Callable[..., None]) -> None:
    """Call ``slot`` whenever the user changes ``widget``'s value (spin box, combo, text, check, table)."""
    if isinstance(widget, (QSpinBox, QDoubleSpinBox)):
        widget.valueChanged.connect(slot)
    elif isinstance(widget, QComboBox):
        widget.currentIndexChanged.connect(slot)
    elif isinstance(widget, QLineEdit):
        widget.textChanged.connect(slot)
    elif isinstance(widget, QAbstractButton):
        widget.toggled.connect(slot)
    elif isinstance(widget, QTableWidget):
        widget.itemChanged.connect(slot)
        widget.model().rowsInserted.connect(slot)
        widget.model().rowsRemoved.connect(slot)
    else:
        raise TypeError(f"no change signal known for {type(widget).__name__}")


def is_marked(widget: QWidget) -> bool:
    """Whether ``widget`` carries the changed-from-preset mark."""
    return bool(widget.property("changedFromPreset"))


def set_mark(widget: QWidget, tip: str | None) -> None:
    """Mark ``widget`` as changed with hover text ``tip`` (its own tooltip kept below), or clear the mark (None)."""
    own = widget.property(_OWN_TIP)
    if own is None:
        own = widget.toolTip()
        widget.setProperty(_OWN_TIP, own)
    widget.setProperty("changedFromPreset", tip is not None)
    widget.setStyleSheet(MARK_STYLE if tip is not None else "")
    widget.setToolTip("\n".join(t for t in (tip, own) if t))
