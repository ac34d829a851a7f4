"""The augmented views a self-supervised method trains on, for sample images of a dataset."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (QDialog, QFormLayout, QGridLayout, QHBoxLayout, QLabel, QPushButton, QScrollArea,
                               QSpinBox, QVBoxLayout, QWidget)

from engine.errors import HistoDeskError
from gui.images import numpy_to_pixmap
from gui.ssl.widgets import PathEditWidget

CELL_PX = 112  # on-screen size of the largest view
DEBOUNCE_MS = 250  # typing and spin-box steps recompute the views once the user pauses


def sample_image_paths(path: str, limit: int = 40) -> list[Path]:
    """Up to ``limit`` image files of a dataset folder (walk order), for previews."""
    from engine.data.importers.base import sample_images

    folder = Path(path).expanduser()
    return sample_images(folder, limit) if path and folder.is_dir() else []


class ViewPairsWidget(QWidget):
    """A grid of ``n`` samples of a method's views: the source image, then view 1, view 2 (and local crops).

    Built from :func:`engine.ssl.views.preview_pairs`; "Resample" draws new
    random augmentations (next seed), "Another image" steps through sample
    images of the folder given to :meth:`set_folder`. Views smaller than the
    global ones (DINO's local crops) are drawn proportionally smaller.

    The ``set_*`` methods recompute at once; edits made while the user types or
    steps a spin box go through :meth:`set_folder_later`,
    :meth:`set_image_size_later` and :meth:`schedule_refresh`, which wait for a
    :data:`DEBOUNCE_MS` pause (the folder walk, decode and augmentations run on
    the GUI thread).
    """

    def __init__(self, parent: QWidget | None = None, *, n: int = 4, image_size: int = 96, cell_px: int = CELL_PX):
        super().__init__(parent)
        self.method: str | None = None
        self.hparams: dict | None = None  # method hyper-parameters (e.g. the augmentation preset)
        self.image: np.ndarray | None = None
        self.image_size, self.seed, self.cell_px = int(image_size), 0, int(cell_px)
        self.samples: list[list[np.ndarray]] = []
        self.paths: list[Path] = []
        self.index = 0
        self._pending_folder: str | None = None
        self._timer = QTimer(self, singleShot=True, interval=DEBOUNCE_MS)
        self._timer.timeout.connect(self._on_timer)
        self.caption = QLabel()
        self.caption.setWordWrap(True)
        self.n_spin = QSpinBox()
        self.n_spin.setRange(1, 12)
        self.n_spin.setValue(n)
        self.n_spin.setPrefix("pairs: ")
        self.n_spin.valueChanged.connect(self._on_n_changed)
        self.next_button = QPushButton("Another image")
        self.next_button.clicked.connect(self._on_next_image)
        self.next_button.setVisible(False)
        self.resample_button = QPushButton("Resample")
        self.resample_button.setToolTip("Draw new random augmentations of the same image")
        self.resample_button.clicked.connect(self._on_resample)
        top = QHBoxLayout()
        top.addWidget(self.caption, 1)
        top.addWidget(self.n_spin)
        top.addWidget(self.next_button)
        top.addWidget(self.resample_button)
        self.grid_host = QWidget()
        self.grid = QGridLayout(self.grid_host)
        self.grid.setSpacing(6)
        self.grid.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.grid_host)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(scroll, 1)
        self.show_message("Choose a method and an image to see its augmented views.")

    # --- public API -------------------------------------------------------
    def set_method(self, name: str) -> None:
        """Show the views of SSL method ``name``."""
        self.method = name
        self.refresh()

    def set_image_size(self, size: int) -> None:
        """Make the views at ``size`` px (the training image size)."""
        self.image_size = int(size)
        self.refresh()

    def set_image(self, rgb: np.ndarray) -> None:
        """Use ``rgb`` (uint8 H x W x 3) as the source image."""
        self.image = np.array(rgb, dtype=np.uint8)  # a writable copy (torch warns on read-only arrays)
        self.refresh()

    def set_folder(self, folder: str) -> None:
        """Take sample images from ``folder`` ("Another image" steps through them) and show the first."""
        self._pending_folder = None
        self.paths, self.index = sample_image_paths(folder), 0
        self.next_button.setVisible(len(self.paths) > 1)
        self._load_current()

    def set_folder_later(self, folder: str) -> None:
        """Like :meth:`set_folder`, once nothing changed for :data:`DEBOUNCE_MS` (typing in a path field)."""
        self._pending_folder = folder
        self._timer.start()

    def set_image_size_later(self, size: int) -> None:
        """Like :meth:`set_image_size`, once nothing changed for :data:`DEBOUNCE_MS` (spin-box steps)."""
        self.image_size = int(size)
        self.schedule_refresh()

    def schedule_refresh(self) -> None:
        """Recompute the views after a :data:`DEBOUNCE_MS` pause (restarted by every call)."""
        self._timer.start()

    def is_pending(self) -> bool:
        """True while a debounced change waits to be applied."""
        return self._timer.isActive()

    def pair_count(self) -> int:
        """Number of samples (rows) shown."""
        return len(self.samples)

    def view_count(self) -> int:
        """Number of views per sample (2 for SimCLR/BYOL/MoCo, 2 + K for DINO)."""
        return len(self.samples[0]) if self.samples else 0

    def refresh(self) -> None:
        """Recompute the views for the current method, image, n and seed."""
        if self._pending_folder is None:
            self._timer.stop()  # this refresh covers any debounced one
        if not self.method or self.image is None:
            return
        from engine.ssl.views import preview_pairs

        try:
            self.samples = preview_pairs(self.method, self.image, n=self.n_spin.value(),
                                         image_size=self.image_size, seed=self.seed, hparams=self.hparams)
        except HistoDeskError as exc:
            self.samples = []
            self.show_message(str(exc))
            return
        self._draw()

    def show_message(self, text: str) -> None:
        """Clear the grid and show ``text`` instead."""
        while self.grid.count():
            item = self.grid.takeAt(0)
            if item.widget() is not None:
                item.widget().hide()  # hidden at once: deleteLater waits for the event loop
                item.widget().deleteLater()
        self.caption.setText(text)

    # --- drawing ----------------------------------------------------------
    def _load_current(self) -> None:
        from engine.data.imageio import read_image

        if not self.paths:
            self.image = None
            self.show_message("No image found to preview: choose a folder of images.")
            return
        try:
            self.set_image(read_image(self.paths[self.index % len(self.paths)]))
        except HistoDeskError as exc:
            self.show_message(str(exc))

    def _cell(self, rgb: np.ndarray, scale: float, tip: str) -> QLabel:
        label = QLabel()
        side = max(16, int(round(self.cell_px * scale)))
        label.setPixmap(numpy_to_pixmap(rgb).scaled(side, side, Qt.AspectRatioMode.KeepAspectRatio,
                                                Qt.TransformationMode.SmoothTransformation))
        label.setFixedSize(side + 4, side + 4)
        label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        label.setStyleSheet("background: #f2f2f2; border: 1px solid #cccccc;")
        label.setToolTip(tip)
        return label

    def _draw(self) -> None:
        self.show_message("")
        n_views = self.view_count()
        big = max((max(v.shape[:2]) for views in self.samples for v in views), default=1)
        header = ["source"] + [f"view {i + 1}" if i < 2 else f"local {i - 1}" for i in range(n_views)]
        for col, text in enumerate(header):
            head = QLabel(f"<b>{text}</b>")
            head.setAlignment(Qt.AlignmentFlag.AlignCenter)
            self.grid.addWidget(head, 0, col)
        h, w = self.image.shape[:2]
        centre = Qt.AlignmentFlag.AlignCenter
        for row, views in enumerate(self.samples, start=1):
            self.grid.addWidget(self._cell(self.image, 1.0, f"source image {w}x{h}"), row, 0, centre)
            for col, view in enumerate(views, start=1):
                vh, vw = view.shape[:2]
                self.grid.addWidget(self._cell(view, max(vh, vw) / big, f"{vw}x{vh} px"), row, col, centre)
        where = f"image {self.index % len(self.paths) + 1}/{len(self.paths)}, " if self.paths else ""
        what = ("Each row: views of one image the loss treats as a positive pair." if n_views > 1 else
                "One augmented view per image: the method trains on pseudo-labels, not on pairs.")
        self.caption.setText(f"<b>{self.method}</b>: {n_views} view{'s' if n_views > 1 else ''} per image at "
                             f"{self.image_size} px ({where}seed {self.seed}). {what}")

    # --- slots ------------------------------------------------------------
    def _on_resample(self) -> None:
        self.seed += 1
        self.refresh()

    def _on_next_image(self) -> None:
        self.index += 1
        self._load_current()

    def _on_n_changed(self, _n: int) -> None:
        self.schedule_refresh()

    def _on_timer(self) -> None:
        folder, self._pending_folder = self._pending_folder, None
        if folder is not None:
            self.set_folder(folder)
        else:
            self.refresh()


class ViewPairsDialog(QDialog):
    """A window showing a method's augmented views for images of a folder (or of an SSL run's dataset)."""

    def __init__(self, parent: QWidget | None = None, *, ssl_run: str | None = None, dataset_path: str = "",
                 method: str | None = None, image_size: int = 96):
        super().__init__(parent)
        from engine import registry
        from gui.wizard.fields import combo, spin

        self.setWindowTitle("Augmented views")
        cfg = _run_config(ssl_run)
        dataset_path = cfg.get("data", {}).get("path") or dataset_path
        image_size = min(int(cfg.get("data", {}).get("image_size") or image_size), 160)
        self.method_combo = combo(registry.names("ssl"), cfg.get("method") or method or "simclr")
        self.size_spin = spin(16, 512, image_size, " px")
        self.folder_edit = PathEditWidget(dataset_path, "folder of images", caption="Images")
        self.views = ViewPairsWidget(n=4, image_size=image_size)
        form = QFormLayout()
        form.addRow("Method:", self.method_combo)
        form.addRow("Preview size:", self.size_spin)
        form.addRow("Images:", self.folder_edit)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.views, 1)
        self.views.method = self.method_combo.currentText()
        self.method_combo.currentTextChanged.connect(self.views.set_method)
        self.size_spin.valueChanged.connect(self.views.set_image_size_later)
        self.folder_edit.changed.connect(self.views.set_folder_later)
        self.resize(780, 660)
        self.views.set_folder(dataset_path)


def _run_config(ssl_run: str | None) -> dict:
    if not ssl_run:
        return {}
    from engine.runs import Run

    try:
        return Run.open(ssl_run).config
    except HistoDeskError:
        return {}
