"""Nearest-neighbour retrieval panel: a query image and its k most similar images with their similarity."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QGridLayout, QHBoxLayout, QLabel, QPushButton, QSpinBox, QVBoxLayout, QWidget)

from engine.embed.retrieval import NeighbourIndex
from gui.embedding.thumbs import ThumbnailCache

TILE = 96
COLUMNS = 4


class RetrievalViewWidget(QWidget):
    """Shows the k images of an embedding set most similar to a point (``show_neighbours``) or a new image."""

    open_image_requested = Signal()   # "Find similar to an image file..." pressed
    image_activated = Signal(int)     # a result tile was clicked (index into the embeddings)

    def __init__(self, thumbs: ThumbnailCache | None = None, parent=None):
        super().__init__(parent)
        self.thumbs = thumbs or ThumbnailCache(self)
        self.emb = None
        self.index: NeighbourIndex | None = None
        self.results: list[tuple[int, float]] = []
        self.title = QLabel("Similar images: click a point, or open an image file.")
        self.title.setWordWrap(True)
        self.k_spin = QSpinBox()
        self.k_spin.setRange(1, 64)
        self.k_spin.setValue(8)
        self.k_spin.setPrefix("k = ")
        self.open_button = QPushButton("Image file...")
        self.open_button.setToolTip("Find the images most similar to an image file (embedded with the same model)")
        self.open_button.clicked.connect(self.open_image_requested)
        top = QHBoxLayout()
        top.addWidget(QLabel("<b>Similar images</b>"))
        top.addStretch(1)
        top.addWidget(self.k_spin)
        top.addWidget(self.open_button)
        self.grid = QGridLayout()
        self.grid.setSpacing(4)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.title)
        layout.addLayout(self.grid)
        layout.addStretch(1)

    def set_embeddings(self, emb) -> None:
        """Index ``emb`` (an :class:`engine.embed.embeddings.Embeddings`) for cosine retrieval."""
        self.emb = emb
        self.index = NeighbourIndex(emb.features)
        self._show([], "Similar images: click a point, or open an image file.")

    def show_neighbours(self, i: int, k: int | None = None) -> list[tuple[int, float]]:
        """Show the ``k`` nearest images of point ``i`` (itself first); returns (index, similarity) pairs."""
        if self.index is None:
            return []
        idx, sims = self.index.query_index(i, k or self.k_spin.value())
        return self._show(list(zip(idx.tolist(), sims.tolist())), f"Most similar to {self._name(i)}")

    def show_vector(self, vector, label: str, k: int | None = None) -> list[tuple[int, float]]:
        """Show the ``k`` nearest images of a feature ``vector`` (e.g. of an image file)."""
        if self.index is None:
            return []
        idx, sims = self.index.query(np.asarray(vector), k or self.k_spin.value())
        return self._show(list(zip(idx.tolist(), sims.tolist())), f"Most similar to {label}")

    def _name(self, i: int) -> str:
        from pathlib import Path

        return f"{Path(self.emb.paths[i]).name} ({self.emb.labels[i] or 'unlabelled'})"

    def _show(self, results: list[tuple[int, float]], title: str) -> list[tuple[int, float]]:
        while self.grid.count():
            item = self.grid.takeAt(0)
            if item.widget():
                item.widget().deleteLater()
        self.results = results
        self.title.setText(title)
        for n, (i, sim) in enumerate(results):
            tile = QLabel()
            self.thumbs.show(tile, self.emb.paths[i], TILE)  # decoded in a pool thread
            tile.setFixedSize(TILE + 4, TILE + 4)
            tile.setAlignment(Qt.AlignmentFlag.AlignCenter)
            tile.setToolTip(self.emb.paths[i])
            tile.mousePressEvent = lambda _ev, i=i: self.image_activated.emit(i)
            caption = QLabel(f"{sim:.3f} · {self.emb.labels[i] or '?'}")
            caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
            caption.setStyleSheet("font-size: 8pt")
            box = QWidget()
            col = QVBoxLayout(box)
            col.setContentsMargins(0, 0, 0, 0)
            col.setSpacing(0)
            col.addWidget(tile)
            col.addWidget(caption)
            self.grid.addWidget(box, n // COLUMNS, n % COLUMNS)
        return results
