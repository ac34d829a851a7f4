"""Small input widgets shared by the wizard pages."""

from __future__ import annotations

import math
from typing import Any, TypeVar

from PySide6.QtGui import QDoubleValidator
from PySide6.QtWidgets import QComboBox, QDoubleSpinBox, QLabel, QLineEdit, QSpinBox, QWidget

from engine.schema import bounds

#: The largest value a QSpinBox holds (a C int); unbounded schema fields are capped here at most.
INT_MAX = 2_147_483_647

Box = TypeVar("Box", QSpinBox, QDoubleSpinBox)


class FloatEditWidget(QLineEdit):
    """A line edit for floats written like ``1e-4``; empty means ``None`` when ``optional``."""

    def __init__(self, value: float | None = None, optional: bool = False, parent: QWidget | None = None):
        super().__init__(parent)
        self._optional = optional
        validator = QDoubleValidator(self)
        validator.setNotation(QDoubleValidator.Notation.ScientificNotation)
        self.setValidator(validator)
        if optional:
            self.setPlaceholderText("same as lr")
        self.set_value(value)

    def value(self) -> float | None:
        """The number typed, ``None`` when empty (or not a number)."""
        text = self.text().strip()
        if not text:
            return None
        try:
            return float(text)
        except ValueError:
            return None

    def entry(self) -> float | str | None:
        """The number typed, or the text itself when it is not one (for the schema to refuse by name);
        ``None`` when empty."""
        value = self.value()
        return self.text().strip() or None if value is None else value

    def set_value(self, value: float | None) -> None:
        """Show ``value`` compactly (``None`` clears the field)."""
        self.setText("" if value is None else f"{float(value):g}")


def spin(lo: int, hi: int, value: int, suffix: str = "", special: str = "") -> QSpinBox:
    """An integer spin box with a range, value, optional suffix and text shown at the minimum (``special``)."""
    box = QSpinBox()
    box.setRange(lo, hi)
    box.setValue(value)
    if suffix:
        box.setSuffix(suffix)
    if special:
        box.setSpecialValueText(special)
    return box


def dspin(lo: float, hi: float, value: float, step: float = 0.05, decimals: int = 2) -> QDoubleSpinBox:
    """A float spin box with a range, step and decimals."""
    box = QDoubleSpinBox()
    box.setRange(lo, hi)
    box.setDecimals(decimals)
    box.setSingleStep(step)
    box.setValue(value)
    return box


def schema_range(cls: Any, field: str, *, decimals: int | None = None, fallback_max: float | None = None,
                 fallback_min: float | None = None, none_below: bool = False) -> tuple[float, float]:
    """The spin-box range of schema field ``cls.field`` (see :func:`engine.schema.bounds`).

    ``decimals`` None means an integer box. An excluded bound moves in by one step (``10**-decimals``, or 1);
    an unbounded side takes ``fallback_min`` / ``fallback_max`` (a ValueError when none is given).
    ``none_below``: the value one step below the schema's minimum stands for ``None`` (the box's special text).
    """
    limits = bounds(cls, field)
    step = 1.0 if decimals is None else 10.0 ** -decimals
    lo = fallback_min if limits.lo is None else limits.lo + (0 if limits.lo_inclusive else step)
    hi = fallback_max if limits.hi is None else limits.hi - (0 if limits.hi_inclusive else step)
    if lo is None or hi is None:
        raise ValueError(f"{field}: the schema leaves the range open; give a fallback for the spin box")
    if none_below:
        lo -= step
    if decimals is None:
        return max(math.ceil(lo), -INT_MAX), min(math.floor(hi), INT_MAX)
    return round(lo, decimals), round(hi, decimals)


def apply_bounds(box: Box, cls: Any, field: str, fallback_max: float | None = None, *,
                 fallback_min: float | None = None, none_below: bool = False) -> Box:
    """Set ``box``'s minimum and maximum from schema field ``cls.field`` (:func:`schema_range`); returns ``box``."""
    decimals = box.decimals() if isinstance(box, QDoubleSpinBox) else None
    lo, hi = schema_range(cls, field, decimals=decimals, fallback_max=fallback_max, fallback_min=fallback_min,
                          none_below=none_below)
    box.setRange(lo, hi)  # type: ignore[arg-type]
    return box


def schema_spin(cls: Any, field: str, value: int, fallback_max: int | None = None, *, suffix: str = "",
                special: str = "", none_below: bool = False) -> QSpinBox:
    """An integer spin box whose range is schema field ``cls.field``'s (:func:`schema_range`)."""
    lo, hi = schema_range(cls, field, fallback_max=fallback_max, none_below=none_below)
    return spin(int(lo), int(hi), value, suffix, special)


def schema_dspin(cls: Any, field: str, value: float, step: float = 0.05, decimals: int = 2) -> QDoubleSpinBox:
    """A float spin box whose range is schema field ``cls.field``'s (:func:`schema_range`)."""
    lo, hi = schema_range(cls, field, decimals=decimals)
    return dspin(lo, hi, value, step, decimals)


def combo(items: list[str], current: str | None = None) -> QComboBox:
    """A combo box of ``items`` with ``current`` selected."""
    box = QComboBox()
    box.addItems(items)
    if current is not None:
        set_combo(box, current)
    return box


def choice_combo(values: list[str], labels: dict[str, str] | None = None) -> QComboBox:
    """A combo box of ``values`` (a schema's choices, as item data), each shown by its label in ``labels``."""
    box = QComboBox()
    for value in values:
        box.addItem((labels or {}).get(value, value), value)
    return box


def set_combo(box: QComboBox, text: str) -> None:
    """Select ``text`` in ``box``, adding it first when missing."""
    idx = box.findText(str(text))
    if idx < 0:
        box.addItem(str(text))
        idx = box.count() - 1
    box.setCurrentIndex(idx)


def error_label() -> QLabel:
    """A red, word-wrapped label for a page's validation message (hidden when empty)."""
    label = QLabel()
    label.setWordWrap(True)
    label.setStyleSheet("color: #b00020; font-weight: bold;")
    label.setVisible(False)
    return label


def show_error(label: QLabel, message: str) -> bool:
    """Show ``message`` in ``label`` (hide it when empty); True when there is no error."""
    label.setText(message)
    label.setVisible(bool(message))
    return not message
