"""The Help menu: Start here, the in-app guide, keyboard shortcuts and About (with the versions it runs on)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QDialog

from gui.extensions import Extension
from gui.runtime_info import RuntimeInfo

if TYPE_CHECKING:
    from gui.main_window import MainWindow


class HelpActions(Extension):
    """Opens the Help dialogs of ``window``: one of each kind at a time, non-blocking."""

    def __init__(self, window: MainWindow):
        super().__init__(window)
        self.dialogs: dict[str, QDialog] = {}

    def _show(self, key: str, make) -> QDialog:
        dialog = self.dialogs.get(key)
        if dialog is None:
            dialog = make()
            dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            dialog.destroyed.connect(lambda _o=None, k=key: self.dialogs.pop(k, None))
            self.dialogs[key] = dialog
        dialog.show()
        dialog.raise_()
        return dialog

    def open_guide(self) -> QDialog:
        """Show the in-app guide."""
        from gui.help.guide import GuideDialog

        return self._show("guide", lambda: GuideDialog(self.window))

    def open_shortcuts(self) -> QDialog:
        """Show the keyboard shortcuts of the window's actions."""
        from gui.help.shortcuts import ShortcutsDialog

        return self._show("shortcuts", lambda: ShortcutsDialog(self.window))

    def open_about(self) -> QDialog:
        """Show About with the versions (CUDA "checking..." until the background probe has ended)."""
        from gui.help.about import AboutDialog

        return self._show("about", lambda: AboutDialog(self.window.find_extension(RuntimeInfo), self.window))

    def open_start_here(self) -> None:
        """Bring the Start here tab to the front."""
        from gui.start_here import show_start_here

        show_start_here(self.window)


def install_help_menu(window: MainWindow) -> HelpActions:
    """Fill the window's Help menu (Start here, Guide, Keyboard shortcuts, About) and register its actions."""
    actions = window.register(HelpActions(window))
    menu = window.menu("&Help")
    window.add_action(menu, "Start here", actions.open_start_here)
    window.add_action(menu, "HistoDesk guide", actions.open_guide, QKeySequence.StandardKey.HelpContents)
    window.add_action(menu, "Keyboard shortcuts", actions.open_shortcuts)
    menu.addSeparator()
    window.add_action(menu, "About HistoDesk", actions.open_about)
    return actions
