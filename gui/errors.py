"""Error dialogs: a short message the user can act on, details on request."""

from __future__ import annotations

from PySide6.QtWidgets import QMessageBox, QWidget

_open_boxes: list[QMessageBox] = []  # parentless boxes stay alive while shown


def show_error(parent: QWidget | None, title: str, message: str, details: str | None = None) -> QMessageBox:
    """Show a non-blocking error dialog; ``details`` (e.g. a traceback) sits behind "Show Details...".

    The dialog's text is one line, as the CLI prints it: further lines of ``message`` go to the details.
    """
    first, _, rest = message.strip().partition("\n")
    if rest.strip():
        details = message.strip() + ("\n\n" + details if details else "")
    box = QMessageBox(QMessageBox.Icon.Critical, title, first, QMessageBox.StandardButton.Ok, parent)
    if details:
        box.setDetailedText(details)
    box.setObjectName("errorDialog")
    if parent is None:
        _open_boxes.append(box)
        box.finished.connect(lambda _r, b=box: _open_boxes.remove(b) if b in _open_boxes else None)
    box.open()  # window-modal but does not nest an event loop, so running jobs keep reporting
    return box


def show_info(parent: QWidget | None, title: str, message: str) -> QMessageBox:
    """Show a non-blocking information dialog."""
    box = QMessageBox(QMessageBox.Icon.Information, title, message, QMessageBox.StandardButton.Ok, parent)
    if parent is None:
        _open_boxes.append(box)
        box.finished.connect(lambda _r, b=box: _open_boxes.remove(b) if b in _open_boxes else None)
    box.open()
    return box
