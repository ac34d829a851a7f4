"""The Analyze menu: "Embeddings of selected run..." and "Find similar images...", opened as closable tabs."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QWidget

from gui import errors
from gui.extensions import Extension, ExtensionHost


class EmbeddingActions(Extension):
    """Opens :class:`~gui.embedding.embedding_view.EmbeddingViewWidget` tabs for the main window ``window``."""

    def __init__(self, window: ExtensionHost):
        super().__init__(window)
        self.views: dict[str, QWidget] = {}

    def open_view(self, source: str, dataset: str | None = None) -> QWidget:
        """Open (or switch to) the embedding tab of ``source`` on ``dataset`` and start its jobs."""
        from gui.embedding.embedding_view import EmbeddingViewWidget

        key = f"{Path(source)}|{dataset or ''}"
        tabs = self.window.tabs
        if key in self.views and tabs.indexOf(self.views[key]) >= 0:
            tabs.setCurrentWidget(self.views[key])
            return self.views[key]
        view = EmbeddingViewWidget(source, self.window.queue, dataset=dataset)
        self.views[key] = view
        self.window.add_closable_tab(view, f"Embeddings · {Path(source).name}",
                                     tooltip=f"{source}" + (f" on {dataset}" if dataset else ""),
                                     on_close=lambda _v, k=key: self.views.pop(k, None))
        view.start()
        return view

    def close_view(self, key: str, view: QWidget) -> None:
        """Close an embedding tab, cancelling its jobs."""
        self.window.close_tab(view, lambda _v: self.views.pop(key, None))

    def _selected_run(self) -> str | None:
        runs = self.window.runs_tab.selected_runs()
        if not runs:
            errors.show_info(self.window, "Embeddings", "Select a finished run (training or self-supervised) in "
                             "the Runs tab first.")
            return None
        return str(runs[0].path)

    def _on_embeddings(self) -> None:
        run = self._selected_run()
        if run:
            self.open_view(run)

    def _on_find_similar(self) -> None:
        run = self._selected_run()
        if not run:
            return
        from engine.data.imageio import IMAGE_EXTENSIONS

        pattern = " ".join(f"*{e}" for e in sorted(IMAGE_EXTENSIONS))
        path, _ = QFileDialog.getOpenFileName(self.window, "Find images similar to...", "", f"Images ({pattern})")
        if path:
            self.open_view(run).query_image(path)


def install(window: ExtensionHost) -> EmbeddingActions:
    """Add the Analyze menu to ``window``; registers the :class:`EmbeddingActions` (called by gui.extensions)."""
    actions = window.register(EmbeddingActions(window))
    menu = window.menu("&Analyze")
    window.add_action(menu, "Embeddings of selected run...", actions._on_embeddings)
    window.add_action(menu, "Find similar images...", actions._on_find_similar)
    return actions
