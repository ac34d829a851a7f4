"""The image beside its heatmap overlay, with method, target, colour map and opacity controls.

Shared by the prediction browser and the "Explain an image" dialog. The CAM
(or occlusion map) is computed by an :class:`~gui.explain.worker.ExplainService`
off the GUI thread; opacity and colour-map changes only re-blend the cached
map (:func:`engine.explain.overlay.overlay_heatmap`), so they are instant.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QComboBox, QFileDialog, QGridLayout, QHBoxLayout, QLabel, QPushButton, QSlider, QVBoxLayout, QWidget,
)

from gui import errors
from gui.explain.widgets import ImageViewWidget, ProbabilityBarsWidget
from gui.explain.worker import ExplainService

OCCLUSION = "occlusion"
OCCLUSION_INFO = ("Occlusion sensitivity", "drop of the target's probability when a grey patch hides each "
                  "region; slow (one forward pass per patch position) (Zeiler & Fergus, ECCV 2014)")
PREDICTED = "predicted class"


def method_choices() -> list[tuple[str, str, str]]:
    """``(name, label, tooltip)`` of the CAM methods in the "cam" registry, then occlusion."""
    from engine.registry import meta, names

    choices = []
    for name in names("cam"):
        info = meta("cam", name)
        tip = f"{info.get('description', '')} ({info.get('paper', '')})" if info.get("description") else ""
        choices.append((name, info.get("label", name), tip))
    return [*choices, (OCCLUSION, *OCCLUSION_INFO)]


def _compute(source, method: str, target: int | None, tta, need_probs: bool):
    """The request run in the pool thread: probabilities if asked, the image as the model sees it and its map.

    ``target`` None explains the arg-max of the probabilities computed here (with TTA if asked), so the map
    always matches the prediction shown; without them, the model's own prediction for this view.
    """

    def run(explainer, cancel):
        probs = explainer.predict(source, tta=tta) if need_probs else None
        cls = int(np.argmax(probs)) if target is None and probs is not None else target
        if method == OCCLUSION:
            image = explainer.input_image(source)
            cam = explainer.occlusion(source, target=cls, cancel=cancel)
        else:
            image, cam = explainer.heatmap(source, method=method, target=cls)
        cancel.raise_if_cancelled()
        return {"image": image, "cam": np.asarray(cam, dtype=np.float32), "probs": probs,
                "classes": list(explainer.classes), "method": method, "target": cls,
                "source": source if isinstance(source, str) else None}

    return run


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
        self.image: np.ndarray | None = None
        self.cam: np.ndarray | None = None
        self.overlay: np.ndarray | None = None
        self.last_result: dict | None = None
        self._build()

    # --- construction -------------------------------------------------------
    def _build(self) -> None:
        from engine.explain.overlay import COLORMAPS

        self.method_combo = QComboBox()
        for i, (name, label, tip) in enumerate(method_choices()):
            self.method_combo.addItem(label, name)
            self.method_combo.setItemData(i, tip, Qt.ItemDataRole.ToolTipRole)
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
        self.cmap_combo.currentIndexChanged.connect(self._on_blend_changed)
        self.opacity_slider.valueChanged.connect(self._on_blend_changed)
        self.export_button.clicked.connect(self._on_export_clicked)
        controls = QGridLayout()
        for col, (text, widget) in enumerate((("Method", self.method_combo), ("Target", self.target_combo),
                                              ("Colours", self.cmap_combo), ("Opacity", self.opacity_slider))):
            controls.addWidget(QLabel(text), 0, col)
            controls.addWidget(widget, 1, col)
        controls.addWidget(self.export_button, 1, 4)

        self.image_view = ImageViewWidget("No image")
        self.overlay_view = ImageViewWidget("No heatmap")
        views = QHBoxLayout()
        views.addWidget(self.image_view, 1)
        views.addWidget(self.overlay_view, 1)
        self.caption = QLabel("")
        self.caption.setWordWrap(True)
        self.caption.setTextFormat(Qt.TextFormat.RichText)
        self.status = QLabel("")
        self.status.setStyleSheet("color: #6b7280;")
        self.bars = ProbabilityBarsWidget()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(controls)
        layout.addLayout(views, 1)
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
        self.caption.setText(caption)
        self.bars.set_probabilities(self.classes, probs, true_label)
        return self._start()

    def clear(self, message: str = "No image") -> None:
        """Forget the image and drop any result still coming."""
        self._source, self._request = None, 0
        self.image = self.cam = self.overlay = None
        self.image_view.set_message(message)
        self.overlay_view.set_message("")
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
        """The overlay shown, at full resolution (null before the first heatmap)."""
        return self.overlay_view.source_pixmap()

    def is_busy(self) -> bool:
        """True while the map of the current image is being computed."""
        return self._request != 0 and self._done != self._request

    def export_png(self, path: str) -> None:
        """Save the current overlay as a PNG (HistoDeskError-free: nothing to save raises ValueError)."""
        from engine.explain.overlay import save_png

        if self.overlay is None:
            raise ValueError("There is no heatmap to export yet.")
        save_png(path, self.overlay)

    # --- internals ------------------------------------------------------------
    def _start(self) -> int:
        if self._source is None:
            return 0
        method, label = self.method(), self.method_combo.currentText()
        loading = "" if self.service.model_ready() else "Loading the model, then "
        self.status.setText(f"{loading}{'c' if loading else 'C'}omputing {label}...")
        target = self.target_combo.currentData()
        if target is None and self._probs is not None:  # explain the prediction shown (e.g. the table's)
            target = int(np.argmax(self._probs))
        fn = _compute(self._source, method, target, self._tta, self._probs is None)
        self._request = self.service.request(fn)
        return self._request

    def _blend(self) -> None:
        from engine.explain.overlay import overlay_heatmap

        if self.image is None or self.cam is None:
            return
        alpha = self.opacity_slider.value() / 100.0
        self.overlay = overlay_heatmap(self.image, self.cam, alpha=alpha, colormap=self.cmap_combo.currentText())
        self.overlay_view.set_rgb(self.overlay)

    def _explained_class(self, result: dict) -> str:
        target = result["target"]
        name = self.classes[target] if target is not None and target < len(self.classes) else "the prediction"
        return f"{name} (predicted)" if self.target_combo.currentData() is None else name

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
        self.image, self.cam = result["image"], result["cam"]
        self.image_view.set_rgb(self.image)
        self._blend()
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
        self.overlay_view.set_message("No heatmap")
        self.failed.emit(message)

    @Slot()
    def _on_explanation_changed(self) -> None:
        self._start()

    @Slot()
    def _on_blend_changed(self) -> None:
        self._blend()

    @Slot()
    def _on_export_clicked(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export heatmap overlay", "heatmap.png", "PNG images (*.png)")
        if not path:
            return
        try:
            self.export_png(path if path.lower().endswith(".png") else path + ".png")
        except Exception as exc:  # noqa: BLE001 - a failed save is reported, not raised
            errors.show_error(self, "Export failed", str(exc))
