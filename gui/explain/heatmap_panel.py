"""The image with its heatmap overlaid, in a zoomable canvas, with method, target, colour map and opacity controls.

Shared by the prediction browser and the "Explain an image" dialog. The CAM
(or occlusion map) is computed by an :class:`~gui.explain.worker.ExplainService`
off the GUI thread, which also decodes the image at its own size; the heatmap is
drawn over the part of the image the model saw (:mod:`engine.explain.placement`),
at the image's aspect ratio. Opacity changes only change the overlay layer's
opacity and colour-map changes recolour the cached map, so they are instant; the
exported PNG is the blend at the image's own size (:attr:`HeatmapPanelWidget.overlay`).
The method list comes from the "cam" registry, whose first use imports torch and
pytorch-grad-cam (seconds): it is read in a pool thread, and an image shown before
it arrives is explained as soon as it does.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QComboBox, QFileDialog, QGridLayout, QLabel, QPushButton, QSlider, QVBoxLayout, QWidget,
)

from gui import errors
from gui.canvas import ImageCanvas
from gui.explain.heatmap_work import (OCCLUSION, OCCLUSION_INFO, PREDICTED, blend, compute_request,
                                      method_choices, save_blend)
from gui.explain.widgets import ProbabilityBarsWidget
from gui.explain.worker import ExplainService
from gui.tasks import TaskRunner


class HeatmapPanelWidget(QWidget):
    """Shows one image and its explanation; call :meth:`show_image` to explain another."""

    heatmap_ready = Signal()          # a new overlay is on screen
    prediction_ready = Signal(object)  # probabilities computed by the model (when not given)
    failed = Signal(str)

    def __init__(self, service: ExplainService, parent: QWidget | None = None):
        super().__init__(parent)
        self.service = service
        self.service.finished.connect(self._on_result)
        self.service.failed.connect(self._on_failed)
        self._request = 0
        self._done = 0  # the last request answered (result or failure)
        self._source = None
        self._probs = None
        self._tta = False
        self._true_label: str | None = None
        self.classes: list[str] = []
        self.image: np.ndarray | None = None  # the image at its own size
        self.cam: np.ndarray | None = None  # the map over the model's square input
        self.box: tuple | None = None  # where that square lies in the image's pixels
        self.last_result: dict | None = None
        self._runner = TaskRunner(self, threads=1, name="histodesk-heatmap-export")
        self._methods_ready = False
        self._build()
        self._runner.submit(method_choices, on_done=self._set_methods, on_error=self._on_methods_failed)

    # --- construction -------------------------------------------------------
    def _build(self) -> None:
        from engine.explain.overlay import COLORMAPS

        self.method_combo = QComboBox()
        self.method_combo.addItem("Loading methods...")
        self.method_combo.setEnabled(False)  # until method_choices() arrives from the pool thread
        self.target_combo = QComboBox()
        self.target_combo.addItem(PREDICTED, None)
        self.cmap_combo = QComboBox()
        self.cmap_combo.addItems(list(COLORMAPS))
        self.opacity_slider = QSlider(Qt.Orientation.Horizontal)
        self.opacity_slider.setRange(0, 100)
        self.opacity_slider.setValue(50)
        self.opacity_slider.setMinimumWidth(90)
        self.export_button = QPushButton("Export PNG...")
        self.export_button.setEnabled(False)
        for combo in (self.method_combo, self.target_combo):
            combo.currentIndexChanged.connect(self._on_explanation_changed)
        self.cmap_combo.currentIndexChanged.connect(self._on_colours_changed)
        self.opacity_slider.valueChanged.connect(self._on_opacity_changed)
        self.export_button.clicked.connect(self._on_export_clicked)
        controls = QGridLayout()
        for col, (text, widget) in enumerate((("Method", self.method_combo), ("Target", self.target_combo),
                                              ("Colours", self.cmap_combo), ("Opacity", self.opacity_slider))):
            controls.addWidget(QLabel(text), 0, col)
            controls.addWidget(widget, 1, col)
        controls.addWidget(self.export_button, 1, 4)

        self.image_view = ImageCanvas("No image")  # the image, its heatmap as an overlay layer
        self.caption = QLabel("")
        self.caption.setWordWrap(True)
        self.caption.setTextFormat(Qt.TextFormat.RichText)
        self.status = QLabel("")
        self.status.setStyleSheet("color: #6b7280;")
        self.bars = ProbabilityBarsWidget()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(controls)
        layout.addWidget(self.image_view, 1)
        layout.addWidget(self.caption)
        layout.addWidget(self.bars)
        layout.addWidget(self.status)

    # --- public API ---------------------------------------------------------
    def set_classes(self, classes: list[str]) -> None:
        """Class names (fills the target combo; keeps the chosen target when still valid)."""
        if list(classes) == self.classes:
            return
        self.classes = list(classes)
        current = self.target_combo.currentText()
        self.target_combo.blockSignals(True)
        self.target_combo.clear()
        self.target_combo.addItem(PREDICTED, None)
        for i, name in enumerate(self.classes):
            self.target_combo.addItem(name, i)
        self.target_combo.setCurrentText(current if current in self.classes else PREDICTED)
        self.target_combo.blockSignals(False)

    def show_image(self, source, *, probs=None, tta=False, true_label: str | None = None, caption: str = "") -> int:
        """Explain ``source`` (a path or an RGB array); ``probs`` known already skips the prediction."""
        self._source, self._probs, self._tta, self._true_label = source, probs, tta, true_label
        self.export_button.setEnabled(False)  # until this image's heatmap is shown
        self.caption.setText(caption)
        self.bars.set_probabilities(self.classes, probs, true_label)
        return self._start()

    def clear(self, message: str = "No image") -> None:
        """Forget the image and drop any result still coming."""
        self._source, self._request = None, 0
        self.image = self.cam = self.box = None
        self.image_view.set_message(message)
        self.caption.setText("")
        self.status.setText("")
        self.export_button.setEnabled(False)

    def method(self) -> str:
        """The chosen method's registry name (or "occlusion")."""
        return self.method_combo.currentData()

    def set_method(self, name: str) -> None:
        """Choose a method by registry name (recomputes the map)."""
        index = self.method_combo.findData(name)
        if index < 0:
            raise ValueError(f"Unknown explanation method {name!r}")
        self.method_combo.setCurrentIndex(index)

    def probabilities(self):
        """Probabilities of the image shown (given or computed), or None."""
        return self._probs

    def overlay_pixmap(self) -> QPixmap:
        """The heatmap layer shown over the image (null before the first heatmap)."""
        return self.image_view.overlay_pixmap()

    @property
    def overlay(self) -> np.ndarray | None:
        """The heatmap blended over the image at the chosen opacity and colours, at the image's own size."""
        if self.image is None or self.cam is None:
            return None
        return blend(self.image, self.cam, self.box, self.opacity_slider.value() / 100.0,
                      self.cmap_combo.currentText())

    def is_busy(self) -> bool:
        """True while the map of the current image is being computed (or waits for the method list)."""
        if not self._methods_ready:
            return self._source is not None
        return self._request != 0 and self._done != self._request

    def export_png(self, path: str) -> None:
        """Save the current overlay as a PNG at the image's own size (nothing to save raises ValueError)."""
        from engine.explain.overlay import save_png

        overlay = self.overlay
        if overlay is None:
            raise ValueError("There is no heatmap to export yet.")
        save_png(path, overlay)

    # --- internals ------------------------------------------------------------
    def _start(self) -> int:
        if self._source is None:
            return 0
        if not self._methods_ready:  # _set_methods starts it
            self._request = 0
            self.status.setText("Loading the explanation methods...")
            return 0
        method, label = self.method(), self.method_combo.currentText()
        loading = "" if self.service.model_ready() else "Loading the model, then "
        self.status.setText(f"{loading}{'c' if loading else 'C'}omputing {label}...")
        target = self.target_combo.currentData()
        if target is None and self._probs is not None:  # explain the prediction shown (e.g. the table's)
            target = int(np.argmax(self._probs))
        fn = compute_request(self._source, method, target, self._tta, self._probs is None)
        self._request = self.service.request(fn)
        return self._request

    def _draw_heatmap(self) -> None:
        """Colour the cached map onto the overlay layer (at most 1024 px long: fast on the GUI thread)."""
        from engine.explain.placement import heat_rgba

        if self.image is None or self.cam is None:
            return
        height, width = self.image.shape[:2]
        rgba = heat_rgba(self.cam, self.box, height, width, self.cmap_combo.currentText())
        self.image_view.set_overlay(rgba, self.opacity_slider.value() / 100.0)

    def _explained_class(self, result: dict) -> str:
        target = result["target"]
        name = self.classes[target] if target is not None and target < len(self.classes) else "the prediction"
        return f"{name} (predicted)" if self.target_combo.currentData() is None else name

    def _set_methods(self, choices: list[tuple[str, str, str]]) -> None:
        """Fill the method combo (from the pool thread's :func:`method_choices`) and explain the waiting image."""
        self.method_combo.blockSignals(True)
        self.method_combo.clear()
        for i, (name, label, tip) in enumerate(choices):
            self.method_combo.addItem(label, name)
            self.method_combo.setItemData(i, tip, Qt.ItemDataRole.ToolTipRole)
        self.method_combo.blockSignals(False)
        self.method_combo.setEnabled(True)
        self._methods_ready = True
        self._start()

    def _on_methods_failed(self, message: str) -> None:
        """No CAM method could be loaded (e.g. pytorch-grad-cam is missing): occlusion still works."""
        self._set_methods([(OCCLUSION, *OCCLUSION_INFO)])
        self.method_combo.setToolTip(f"Class activation maps are unavailable: {message}")

    @Slot(int, object)
    def _on_result(self, request_id: int, result: dict) -> None:
        if request_id != self._request or self._source is None:
            return  # stale: the user moved on
        result["request"] = self._done = request_id
        self.last_result = result
        self.set_classes(result["classes"])
        if result.get("probs") is not None:
            self._probs = np.asarray(result["probs"], dtype=float)
            self.bars.set_probabilities(self.classes, self._probs, self._true_label)
            self.prediction_ready.emit(self._probs)
        self.image, self.cam, self.box = result["image"], result["cam"], result["box"]
        self.image_view.set_image(result["qimage"], keep_view=True)
        self._draw_heatmap()
        self.export_button.setEnabled(True)
        index = self.method_combo.findData(result["method"])
        name = self.method_combo.itemText(index) if index >= 0 else result["method"]
        self.status.setText(f"{name} for {self._explained_class(result)} · {result.get('seconds', 0):.2f} s")
        self.heatmap_ready.emit()

    @Slot(int, str)
    def _on_failed(self, request_id: int, message: str) -> None:
        if request_id != self._request:
            return
        self._done = request_id
        short = message.splitlines()[0] if message else "unknown error"
        self.status.setText(f"Could not explain this image: {short}")
        self.status.setToolTip(message)
        self.image = self.cam = self.box = None  # never the previous image beside this one's error
        self.image_view.set_message(f"Could not explain this image: {short}")
        self.export_button.setEnabled(False)
        self.failed.emit(message)

    @Slot()
    def _on_explanation_changed(self) -> None:
        self._start()

    @Slot()
    def _on_colours_changed(self) -> None:
        self._draw_heatmap()

    @Slot(int)
    def _on_opacity_changed(self, value: int) -> None:
        self.image_view.set_overlay_opacity(value / 100.0)

    @Slot()
    def _on_export_clicked(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export heatmap overlay", "heatmap.png", "PNG images (*.png)")
        if not path or self.image is None or self.cam is None:
            return
        path = path if path.lower().endswith(".png") else path + ".png"
        alpha, colormap = self.opacity_slider.value() / 100.0, self.cmap_combo.currentText()
        self.status.setText("Exporting the overlay...")  # blended and written in a pool thread
        self._runner.submit(save_blend, path, self.image, self.cam, self.box, alpha, colormap,
                            on_done=lambda saved: self.status.setText(f"Overlay saved: {saved}"),
                            on_error=lambda reason: errors.show_error(self, "Export failed", reason))

