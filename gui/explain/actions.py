"""The Explain menu: prediction browser, "Explain an image..." and robustness, wired into the main window."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Slot
from PySide6.QtWidgets import QInputDialog, QWidget

from gui import errors
from gui.extensions import Extension, ExtensionHost


class ExplainActions(Extension):
    """Opens the explanation views of :mod:`gui.explain` for the main window ``window``."""

    def __init__(self, window: ExtensionHost):
        super().__init__(window)
        self.dialogs: list[QWidget] = []

    # --- public API ---------------------------------------------------------
    def open_browser(self, run_dir: str) -> QWidget | None:
        """Open (or switch to) the prediction browser tab of ``run_dir``."""
        from gui.explain.prediction_browser import PredictionBrowserWidget

        return self._open_tab("Predictions", run_dir, lambda: PredictionBrowserWidget(run_dir))

    def open_robustness(self, run_dir: str) -> QWidget | None:
        """Open (or switch to) the robustness tab of ``run_dir``."""
        from gui.explain.robustness_view import RobustnessViewWidget

        return self._open_tab("Robustness", run_dir, lambda: RobustnessViewWidget(run_dir, self.window.queue,
                                                                             background=True))

    def open_image_dialog(self, run_dir: str | None = None) -> QWidget:
        """Show the non-modal "Explain an image" dialog (model: ``run_dir`` or the selected run)."""
        from gui.explain.image_dialog import ImageExplainDialog

        if run_dir is None:
            runs = self.window.runs_tab.selected_runs()
            run_dir = str(runs[0].path) if runs and runs[0].model_weights.exists() else None
        dialog = ImageExplainDialog(self.window.runs_dir, self.window, run_dir=run_dir)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)  # frees its model when closed
        dialog.finished.connect(lambda _r, d=dialog: self.dialogs.remove(d) if d in self.dialogs else None)
        dialog.finished.connect(dialog.deleteLater)
        self.dialogs.append(dialog)
        dialog.show()
        return dialog

    def close_tab(self, widget: QWidget) -> None:
        """Close one of the tabs opened here, stopping its background work."""
        self.window.close_tab(widget)

    # --- internals ------------------------------------------------------------
    def _open_tab(self, kind: str, run_dir: str, make) -> QWidget | None:
        tabs = self.window.tabs
        for i in range(tabs.count()):
            widget = tabs.widget(i)
            if widget.property("explain_key") == f"{kind}:{Path(run_dir)}":
                tabs.setCurrentIndex(i)
                return widget
        try:
            widget = make()
        except Exception as exc:  # noqa: BLE001 - e.g. no predictions.csv: tell the user
            errors.show_error(self.window, f"Cannot open {kind.lower()}", str(exc))
            return None
        widget.setProperty("explain_key", f"{kind}:{Path(run_dir)}")
        self.window.add_closable_tab(widget, f"{kind} · {Path(run_dir).name}", tooltip=str(run_dir))
        return widget

    def _chosen_run(self, what: str) -> str | None:
        """The run selected in the Runs tab, else one the user picks from the completed runs."""
        from gui.run_lists import completed_runs

        runs = self.window.runs_tab.selected_runs()
        if runs:
            return str(runs[0].path)
        done = completed_runs(self.window.runs_dir)
        if not done:
            errors.show_info(self.window, what, "There is no completed run yet. Train a model first "
                             "(Train > New training...), then select it in the Runs tab.")
            return None
        names = [r.id for r in done]
        name, ok = QInputDialog.getItem(self.window, what, "No run is selected in the Runs tab. Which run?",
                                        names, 0, False)
        return str(done[names.index(name)].path) if ok and name in names else None

    @Slot()
    def _on_browser(self) -> None:
        run_dir = self._chosen_run("Prediction browser")
        if run_dir:
            self.open_browser(run_dir)

    @Slot()
    def _on_robustness(self) -> None:
        run_dir = self._chosen_run("Robustness")
        if run_dir:
            self.open_robustness(run_dir)

    @Slot()
    def _on_image(self) -> None:
        self.open_image_dialog()


def install(window: ExtensionHost) -> ExplainActions:
    """Add the "&Explain" menu to the main window; the registered :class:`ExplainActions` opens the views."""
    actions = window.register(ExplainActions(window))
    menu = window.menu("&Explain")
    window.add_action(menu, "Prediction browser", actions._on_browser)
    window.add_action(menu, "Explain an image...", actions._on_image)
    window.add_action(menu, "Robustness of selected run...", actions._on_robustness)
    return actions
