"""Help > Guide: the short in-app guide, a Markdown resource file (``resources/help/guide.md``)."""

from __future__ import annotations

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QTextBrowser, QVBoxLayout, QWidget

from engine.paths import resources_dir

GUIDE = ("help", "guide.md")


def guide_text() -> str:
    """The guide's Markdown, or one line saying it is missing from this installation."""
    path = resources_dir().joinpath(*GUIDE)
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        return f"The guide could not be read ({path.name}: {exc.strerror or exc})."


def lay_out_with_close(dialog: QDialog, body: QWidget, size: tuple[int, int]) -> None:
    """The Help dialogs' layout: ``body`` above a Close button, the dialog resized to ``size``."""
    buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
    buttons.rejected.connect(dialog.reject)
    layout = QVBoxLayout(dialog)
    layout.addWidget(body)
    layout.addWidget(buttons)
    dialog.resize(*size)


class GuideDialog(QDialog):
    """The guide in a scrollable, non-modal text view (links open in the browser)."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("HistoDesk guide")
        self.browser = QTextBrowser()
        self.browser.setOpenExternalLinks(True)
        self.browser.setMarkdown(guide_text())
        lay_out_with_close(self, self.browser, (640, 560))
