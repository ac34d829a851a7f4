"""What can be done with a lasso selection: export it (CSV), relabel it, exclude it from training."""

from __future__ import annotations

import numpy as np
from PySide6.QtWidgets import QFileDialog, QInputDialog, QLabel, QPushButton

from gui import errors

CURATION_TIP = ("Saved in the dataset's curation.json. Training applies it after the split is made, to the training "
                "images only: validation and test images keep their images and labels (unless the run sets "
                "data.curation_scope to 'all', which marks it), so curating never changes the test set.")


class SelectionActions:
    """The selection bar of an :class:`~gui.embedding.embedding_view.EmbeddingViewWidget` and its actions."""

    def __init__(self, view):
        self.view = view
        self.label = QLabel("No selection: switch on Lasso and drag around points.")
        self.buttons = {}
        bar = view.selection_bar
        bar.addWidget(self.label)
        bar.addStretch(1)
        for key, text, slot in (("clear", "Clear", self.clear), ("export", "Export selection (CSV)...", self.export),
                                ("relabel", "Relabel selection...", self.relabel),
                                ("exclude", "Exclude from training", self.exclude),
                                ("include", "Include again", self.include)):
            button = QPushButton(text)
            button.clicked.connect(lambda _c=False, s=slot: s())
            if key in ("relabel", "exclude", "include"):
                button.setToolTip(CURATION_TIP)
            bar.addWidget(button)
            self.buttons[key] = button
        view.plot.selection_changed.connect(self._on_selection_changed)
        self._on_selection_changed(np.zeros(0, dtype=int))

    @property
    def indices(self) -> np.ndarray:
        """Indices of the selected points."""
        return self.view.plot.selected

    def root(self) -> str:
        """The dataset whose curation file the actions write."""
        emb = self.view.emb
        return emb.meta.get("root") or emb.dataset

    def load_curation(self) -> None:
        """Mark the points the dataset's curation excludes (crosses) and show the curated labels.

        A malformed curation file is reported (what is wrong, how to fix it) and shown as no curation.
        """
        from engine.data.curation import load_curation
        from engine.errors import HistoDeskError

        emb = self.view.emb
        cur = {"exclude": [], "relabel": {}}
        try:
            cur = load_curation(self.root()) if self.root() else cur
        except HistoDeskError as exc:
            errors.show_error(self.view, "Cannot read the curation", str(exc))
        excluded = set(cur["exclude"])
        for i, p in enumerate(emb.paths):
            emb.labels[i] = cur["relabel"].get(p, emb.labels[i])
        self.view.plot.set_excluded([p in excluded for p in emb.paths])
        self._update_label()

    def _on_selection_changed(self, _indices) -> None:
        for key in ("clear", "export", "relabel", "exclude", "include"):
            self.buttons[key].setEnabled(len(self.indices) > 0)
        self._update_label()

    def _update_label(self) -> None:
        n_ex = int(self.view.plot.excluded.sum()) if len(self.view.plot.excluded) else 0
        excluded = f" · {n_ex} excluded from training" if n_ex else ""
        if len(self.indices):
            self.label.setText(f"<b>{len(self.indices)}</b> selected{excluded}")
        else:
            self.label.setText(f"No selection: switch on Lasso and drag around points.{excluded}")

    def clear(self) -> None:
        """Deselect everything."""
        self.view.plot.set_selection([])
        self.view.plot.view.clear_lasso()

    def export(self, path: str | None = None) -> str | None:
        """Write the selection (path, label, x, y, ...) as CSV; asks for the file when ``path`` is None."""
        if path is None:
            path, _ = QFileDialog.getSaveFileName(self.view, "Export selection", "selection.csv", "CSV (*.csv)")
        if not path:
            return None
        self.view.emb.write_csv(path, self.view.coords, self.indices)
        return path

    def relabel(self, label: str | None = None) -> None:
        """Give the selected images a new label (asks with the known class names when ``label`` is None)."""
        emb = self.view.emb
        if label is None:
            classes = sorted({c for c in emb.labels if c} | set(emb.meta.get("classes") or []))
            label, ok = QInputDialog.getItem(self.view, "Relabel selection",
                                             f"New label for {len(self.indices)} image(s):", classes, 0, True)
            if not ok or not label.strip():
                return
        from engine.data.curation import set_labels
        from engine.errors import HistoDeskError

        try:
            set_labels(self.root(), {emb.paths[i]: label.strip() for i in self.indices})
        except (OSError, HistoDeskError) as exc:
            errors.show_error(self.view, "Cannot relabel", f"Could not write the curation file: {exc}")
            return
        self.load_curation()
        self.view._on_colour_changed(self.view.colour_combo.currentText())

    def exclude(self) -> None:
        """Exclude the selected images from future training runs on this dataset."""
        self._curate(True)

    def include(self) -> None:
        """Undo the exclusion of the selected images."""
        self._curate(False)

    def _curate(self, exclude: bool) -> None:
        from engine.data.curation import add_exclusions, remove_exclusions
        from engine.errors import HistoDeskError

        paths = [self.view.emb.paths[i] for i in self.indices]
        try:
            (add_exclusions if exclude else remove_exclusions)(self.root(), paths)
        except (OSError, HistoDeskError) as exc:
            errors.show_error(self.view, "Cannot change the curation", f"Could not write the curation file: {exc}")
            return
        self.load_curation()
