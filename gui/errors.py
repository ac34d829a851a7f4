"""Error dialogs: a short message the user can act on, details on request."""

from __future__ import annotations

from PySide6.QtWidgets import QMessageBox, QWidget

_open_boxes: list[QMessageBox] = []  # parentless boxes stay alive while shown

#: The app's wording of an engine error's next step (:func:`engine.errors.with_step`): where to click, where the
#: CLI's message names a command to type.
NEXT_STEPS = {
    "continue_batch": "Continue it from File > Classifications (Continue).",
    "export_run": "Export it first (File > Export model to ONNX...) and classify with the package, or choose the "
                  "PyTorch backend.",
    "reexport_package": "Export it again from its run (File > Export model to ONNX...) or get an intact copy.",
    "overwrite_batch": "Continue it with the same settings, or choose Overwrite or another destination.",
    "evaluate_run": "The app cannot evaluate a run again: train it again (Train > New training...).",
}


def user_message(exc: BaseException) -> str:
    """The one line the app shows for a HistoDeskError: its message, or what happened plus the app's own next
    step when the engine marked one (never a command to type)."""
    step = NEXT_STEPS.get(getattr(exc, "step", ""))
    return f"{exc.what} {step}" if step and getattr(exc, "what", "") else str(exc)


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
