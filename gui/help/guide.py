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


class GuideDialog(QDialog):
    """The guide in a scrollable, non-modal text view (links open in the browser)."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("HistoDesk guide")
        self.browser = QTextBrowser()
        self.browser.setOpenExternalLinks(True)
        self.browser.setMarkdown(guide_text())
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.browser)
        layout.addWidget(buttons)
        self.resize(640, 560)
