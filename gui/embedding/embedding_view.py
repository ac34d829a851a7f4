"""The embedding view: a run's features on a 2-D map (instant PCA preview, then t-SNE computed as a job).

Points are coloured by label, prediction, k-means cluster, patient,
magnification or split; hovering shows the image, clicking pins it and lists
its most similar images, double-clicking opens the file; a lasso selection can
be exported, relabelled or excluded from training (dataset curation).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (QComboBox, QHBoxLayout, QLabel, QPushButton, QSpinBox, QSplitter, QVBoxLayout,
                               QWidget)

from engine.embed.tsne import pca_2d
from gui.embedding.scatter import EmbeddingPlotWidget
from gui.embedding.selection import SelectionActions
from gui.embedding.retrieval_view import RetrievalViewWidget
from gui.embedding.thumbs import ThumbnailCache

COLOUR_BY = ("label", "prediction", "cluster", "patient", "magnification", "split")
PREVIEW = 192


class EmbeddingViewWidget(QWidget):
    """Embedding map of ``source`` (run folder or model name) on ``dataset`` (default: the run's own images)."""

    def __init__(self, source: str, queue=None, *, dataset: str | None = None, split: str | None = None,
                 device: str = "auto", parent=None):
        super().__init__(parent)
        self.source, self.queue, self.dataset, self.split, self.device = str(source), queue, dataset, split, device
        self.emb = None
        self.coords = np.zeros((0, 2), np.float32)
        self.method = ""
        self.kl: float | None = None
        self.jobs: list = []
        self._clusters: dict[int, np.ndarray] = {}
        self._pinned = self._hovered = -1
        self._closed = False
        self.thumbs = ThumbnailCache(self)
        self._build()
        self.selection = SelectionActions(self)

    # --- layout -------------------------------------------------------------------
    def _build(self) -> None:
        self.status = QLabel("Computing embeddings...")
        self.colour_combo = QComboBox()
        self.colour_combo.addItems(COLOUR_BY)
        self.colour_combo.currentTextChanged.connect(self._on_colour_changed)
        self.k_spin = QSpinBox()
        self.k_spin.setRange(2, 50)
        self.k_spin.setValue(8)
        self.k_spin.setPrefix("K = ")
        self.k_spin.setToolTip("Number of k-means clusters (colour by cluster)")
        self.k_spin.valueChanged.connect(lambda _v: self._on_colour_changed(self.colour_combo.currentText()))
        self.lasso_button = QPushButton("Lasso")
        self.lasso_button.setCheckable(True)
        self.lasso_button.setToolTip("Drag a free-form outline around points to select them")
        self.plot = EmbeddingPlotWidget()
        self.lasso_button.toggled.connect(self.plot.view.set_lasso)
        bar = QHBoxLayout()
        for w in (QLabel("Colour by"), self.colour_combo, self.k_spin, self.lasso_button):
            bar.addWidget(w)
        bar.addStretch(1)
        bar.addWidget(self.status)
        self.selection_bar = QHBoxLayout()
        self.preview = QLabel()
        self.preview.setFixedSize(PREVIEW, PREVIEW)
        self.preview.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.preview.setStyleSheet("background: #f4f4f4; border: 1px solid #ccc")
        self.preview_info = QLabel("Hover a point to see its image; click to pin it.")
        self.preview_info.setWordWrap(True)
        self.preview_info.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.retrieval = RetrievalViewWidget(self.thumbs)
        self.retrieval.open_image_requested.connect(self._on_open_query_image)
        self.retrieval.image_activated.connect(self._on_point_clicked)
        side = QWidget()
        col = QVBoxLayout(side)
        col.addWidget(self.preview, alignment=Qt.AlignmentFlag.AlignHCenter)
        col.addWidget(self.preview_info)
        col.addWidget(self.retrieval, 1)
        side.setMinimumWidth(4 * 104)
        split = QSplitter()
        split.addWidget(self.plot)
        split.addWidget(side)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addLayout(self.selection_bar)
        layout.addWidget(split, 1)
        self.plot.point_hovered.connect(self._on_point_hovered)
        self.plot.point_clicked.connect(self._on_point_clicked)
        self.plot.point_double_clicked.connect(self._on_point_double_clicked)

    # --- jobs -------------------------------------------------------------------------
    def start(self) -> None:
        """Compute the embeddings as a job (then the t-SNE as another); the GUI stays responsive."""
        from engine.embed.extract import extract_embeddings

        name = Path(self.source).name
        self._submit(f"Embeddings · {name}", extract_embeddings, (self.source, self.dataset), self.set_embeddings,
                     split=self.split, device=self.device)

    def _submit(self, title: str, fn, args: tuple, on_done, **kwargs):
        job = self.queue.submit(title, fn, *args, kind="embed", on_finished=self._guard(on_done), **kwargs)
        self.jobs.append(job)
        return job

    def _guard(self, slot):
        def call(result):
            if not self._closed:
                slot(result)
        return call

    def set_embeddings(self, emb, coords=None) -> None:
        """Show ``emb``: the PCA preview now, the t-SNE when its job ends (or ``coords`` when given)."""
        self.emb = emb
        self._clusters.clear()
        self.retrieval.set_embeddings(emb)
        self.selection.load_curation()
        self.plot.set_coords(pca_2d(emb.features) if coords is None else coords)
        self.coords, self.method = self.plot.coords, "PCA preview" if coords is None else "t-SNE"
        has_pred = emb.predictions is not None
        self.colour_combo.model().item(COLOUR_BY.index("prediction")).setEnabled(has_pred)
        self._on_colour_changed(self.colour_combo.currentText())
        self.status.setText(f"{len(emb)} images · PCA preview (t-SNE running...)" if coords is None
                            else f"{len(emb)} images · t-SNE")
        if coords is None and self.queue is not None and len(emb) >= 4:
            from engine.embed.tsne import tsne

            self._submit(f"t-SNE · {Path(self.source).name}", tsne, (emb.features,), self.set_tsne)

    def set_tsne(self, result) -> None:
        """Replace the preview with the finished t-SNE map (a :class:`engine.embed.tsne.TsneResult`)."""
        self.plot.set_coords(result.coords)
        self.coords, self.method, self.kl = self.plot.coords, "t-SNE", result.kl_divergence
        kl = f" (KL={result.kl_divergence:.3f})" if result.kl_divergence is not None else ""
        self.status.setText(f"{len(self.emb)} images · t-SNE{kl}")

    def shutdown(self) -> None:
        """Cancel this view's jobs (called when the tab closes)."""
        self._closed = True
        self.thumbs.shutdown()
        for job in self.jobs:
            if self.queue is not None and job.state in ("queued", "running"):
                self.queue.cancel(job)

    # --- colours ------------------------------------------------------------------------
    def colour_values(self, name: str) -> list[str]:
        """The category of every point for colouring by ``name``."""
        if name == "cluster":
            k = self.k_spin.value()
            if k not in self._clusters:
                from engine.embed.clusters import kmeans_labels

                self._clusters[k] = kmeans_labels(self.emb.features, k)
            return [f"cluster {c + 1}" for c in self._clusters[k]]
        if name == "prediction" and self.emb.predictions is None:
            return [""] * len(self.emb)
        return self.emb.column(name)

    def _on_colour_changed(self, name: str) -> None:
        self.k_spin.setVisible(name == "cluster")
        if self.emb is not None:
            self.plot.set_categories(self.colour_values(name), name)

    # --- hover, click, preview ------------------------------------------------------------
    def show_preview(self, i: int) -> None:
        """Show point ``i``'s image and details in the preview panel (-1: the pinned point, if any)."""
        i = self._pinned if i < 0 else i
        if self.emb is None or i < 0:
            self.preview.clear()
            return
        self.thumbs.show(self.preview, self.emb.paths[i], PREVIEW)  # decoded in a pool thread
        e = self.emb
        pred = f" · predicted {e.predictions[i]}" if e.predictions is not None else ""
        extra = " · ".join(v for v in (e.patients[i] and f"patient {e.patients[i]}", e.magnifications[i],
                                       e.splits[i]) if v)
        self.preview_info.setText(f"Label <b>{e.labels[i] or 'unlabelled'}</b>{pred}<br>{extra}<br>"
                                  f"<small>{Path(e.paths[i]).name}</small>")
        self.preview_info.setToolTip(e.paths[i])

    def _on_point_hovered(self, i: int) -> None:
        if i != self._hovered:  # mouse moves within one point's radius change nothing
            self._hovered = i
            self.show_preview(i)

    def _on_point_clicked(self, i: int) -> None:
        self._pinned = i
        self.show_preview(i)
        self.retrieval.show_neighbours(i)

    def _on_point_double_clicked(self, i: int) -> None:
        QDesktopServices.openUrl(QUrl.fromLocalFile(self.emb.paths[i]))

    def _on_open_query_image(self) -> None:
        from PySide6.QtWidgets import QFileDialog

        from engine.data.imageio import IMAGE_EXTENSIONS

        pattern = " ".join(f"*{e}" for e in sorted(IMAGE_EXTENSIONS))
        path, _ = QFileDialog.getOpenFileName(self, "Find similar images to...", "", f"Images ({pattern})")
        if path:
            self.query_image(path)

    def query_image(self, path: str) -> None:
        """Embed an image file (as a job, same model) and list its most similar images."""
        self._submit(f"Embed {Path(path).name}", embed_one, (self.source, path),
                     lambda v: self.retrieval.show_vector(v, Path(path).name), device=self.device)


def embed_one(source: str, path: str, *, device: str = "auto", progress=None, cancel=None) -> np.ndarray:
    """Features [D] of one image file with ``source``'s model (a job function)."""
    from engine.embed.extract import Encoder

    return Encoder.open(source, device=device).embed_image(path)
