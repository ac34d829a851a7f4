"""Figures with their intervals, and the small-sample warning banner, as the result views show them."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QTableWidgetItem, QWidget

from engine.run_table import ci_text, num

__all__ = ["WarningBanner", "ci_item", "ci_text", "html_escape", "interval_tip", "num"]


def html_escape(text: Any) -> str:
    """``text`` safe inside Qt rich text."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def interval_tip(boot: dict | None) -> str:
    """How the intervals of an evaluation were made, for tooltips ("95% interval: bootstrap over 12 patients...")."""
    if not boot:
        return "No interval: the bootstrap was off for this evaluation."
    level = int(round(float(boot.get("level", 0.95)) * 100))
    text = (f"{level}% percentile interval: bootstrap over {boot.get('n_units', '?')} {boot.get('unit', 'unit')}s, "
            f"{boot.get('n', '?')} replicates.")
    dropped = boot.get("dropped") or {}
    if dropped:
        text += " Replicates dropped where a figure was undefined: " + ", ".join(f"{k} {v}" for k, v in
                                                                                 dropped.items()) + "."
    return text


class _NumberItem(QTableWidgetItem):
    """A cell that sorts by its number (empty cells last in a descending sort)."""

    def __init__(self, value: float | None, text: str):
        super().__init__(text)
        self.number = value

    def __lt__(self, other: QTableWidgetItem) -> bool:
        a = self.number if self.number is not None else float("-inf")
        b = getattr(other, "number", None)
        return a < (b if b is not None else float("-inf"))


def ci_item(value: Any, ci: Any = None, digits: int = 3, tip: str = "") -> QTableWidgetItem:
    """A table cell ``0.912 [0.850, 0.960]`` that sorts by the value; ``ci`` travels in the item's data."""
    whole = isinstance(value, int) and not isinstance(value, bool)  # a count such as the number of images
    item = _NumberItem(num(value), str(value) if whole else ci_text(value, ci, digits))
    item.setData(Qt.ItemDataRole.UserRole, list(ci) if isinstance(ci, (list, tuple)) else None)
    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    if tip:
        item.setToolTip(tip)
    return item


class WarningBanner(QLabel):
    """An amber banner listing warnings (small samples, image-level splits, curation...); hidden when empty."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("warningBanner")
        self.setWordWrap(True)
        self.setTextFormat(Qt.TextFormat.RichText)
        self.setStyleSheet("QLabel#warningBanner { background: #fff3cd; color: #5c3c00; border: 1px solid #e0b252;"
                           " border-radius: 4px; padding: 6px; }")
        self.warnings: list[str] = []
        self.hide()

    def set_warnings(self, warnings: list[str], title: str = "Read with care") -> None:
        """Show ``warnings`` (one bullet each) under a bold ``title``; hide the banner when there are none."""
        self.warnings = [str(w) for w in warnings if w]
        if not self.warnings:
            self.clear()
            self.hide()
            return
        items = "".join(f"<li>{html_escape(w)}</li>" for w in self.warnings)
        self.setText(f"<b>⚠ {html_escape(title)}</b><ul style='margin:2px 0 0 -20px'>{items}</ul>")
        self.show()
