"""Pages of the pretraining wizard: data (labelled or not), method with its hyper-parameters, backbone."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import (QFormLayout, QFrame, QGroupBox, QHBoxLayout, QLabel, QScrollArea, QVBoxLayout,
                               QWizardPage)

from engine import registry
from engine.errors import ConfigError
from engine.schema import choices
from engine.ssl.config import DeepClusterConfig, SSLConfig
from engine.training.config import DataConfig
from gui.ssl.hparams import HParamsFormWidget
from gui.ssl.widgets import PathEditWidget, form_layout
from gui.wizard.fields import INT_MAX, combo, error_label, schema_dspin, schema_spin, set_combo, show_error
from gui.wizard.model_page import ModelPage
from gui.wizard.review_page import count_images

UNLABELLED = "unlabelled"
DEFAULT_BACKBONE = "resnet18"


def inspect_folder(path: str) -> dict[str, Any]:
    """What a dataset folder holds: ``{"images", "importer", "labels", "labelled_share"}`` (cheap, sampled)."""
    from engine.data.importers import detect_importer

    info: dict[str, Any] = {"images": count_images(path) or 0, "importer": None, "labels": [],
                            "labelled_share": 0.0}
    if not path or not Path(path).expanduser().exists():
        return info
    try:
        name = detect_importer(Path(path).expanduser())
        share, labels = registry.create("importer", name).labelled_sample(Path(path).expanduser())
    except Exception:  # noqa: BLE001 - an unreadable folder just shows no labels
        return info
    info.update(importer=name, labels=sorted(labels), labelled_share=share)
    return info


def has_labels(info: dict[str, Any]) -> bool:
    """True when the sampled images carry at least two class labels (most of them labelled)."""
    return info.get("importer") != UNLABELLED and len(info.get("labels", [])) >= 2 and \
        info.get("labelled_share", 0.0) >= 0.5


class SSLDataPage(QWizardPage):
    """Dataset folder (labelled or not), how to read it, and how images become tensors."""

    inspected = Signal(dict)

    def __init__(self, dataset_path: str = "", parent=None):
        super().__init__(parent)
        self.setTitle("Images")
        self.setSubTitle("Self-supervised pretraining needs no labels: any folder of images will do. When the "
                         "folder is labelled, labels are used only to monitor the features (kNN accuracy).")
        self.path_edit = PathEditWidget(dataset_path, "folder of images (labelled or not) or CSV list",
                                        caption="Folder of images")
        importers = [n for n in registry.names("importer") if n != UNLABELLED]
        self.importer_combo = combo(["auto", UNLABELLED] + importers, "auto")
        self.importer_combo.setToolTip("auto: detect the layout; unlabelled: every image, labels ignored")
        self.found_label = QLabel()
        self.found_label.setWordWrap(True)
        self.normalize_combo = combo(choices(DataConfig, "normalize"), "imagenet")
        self.max_spin = schema_spin(DataConfig, "max_images", 0, 10_000_000, none_below=True)
        self.max_spin.setSpecialValueText("all images")
        self.error = error_label()
        layout = QVBoxLayout(self)
        layout.addLayout(form_layout([("Images:", self.path_edit), ("Read as:", self.importer_combo),
                                      ("Found:", self.found_label), ("Normalisation:", self.normalize_combo),
                                      ("Max images:", self.max_spin)]))
        layout.addStretch(1)
        layout.addWidget(self.error)
        self.info: dict[str, Any] = {}
        self._timer = QTimer(self, singleShot=True, interval=250)
        self._timer.timeout.connect(self.inspect)
        self.path_edit.changed.connect(self._on_path_changed)
        self.importer_combo.currentTextChanged.connect(self._on_path_changed)
        self.inspect()

    def path(self) -> str:
        """The folder or list typed."""
        return self.path_edit.text()

    def labelled(self) -> bool:
        """True when the images are read with labels (kNN monitoring possible)."""
        return self.importer_combo.currentText() != UNLABELLED and has_labels(self.info)

    def inspect(self) -> dict[str, Any]:
        """Count the images and detect labels now; updates the "Found" line."""
        self._timer.stop()
        self.info = inspect_folder(self.path())
        n = self.info["images"]
        if not self.path():
            text = "Choose a folder."
        elif not n:
            text = "<span style='color:#b00020'>no images found</span>"
        elif self.labelled():
            labels = self.info["labels"]
            shown = ", ".join(labels[:6]) + (", …" if len(labels) > 6 else "")
            text = (f"<b>{n}</b> images, labelled ({self.info['importer']} layout: {len(labels)} classes: "
                    f"{shown}). Labels are used only for the kNN monitor.")
        else:
            text = f"<b>{n}</b> images, unlabelled: every image is used, no kNN monitor."
        self.found_label.setText(text)
        self.inspected.emit(self.info)
        self.completeChanged.emit()
        return self.info

    def _on_path_changed(self, _text: str = "") -> None:
        show_error(self.error, "")
        self._timer.start()
        self.completeChanged.emit()

    def isComplete(self) -> bool:
        """Next is enabled once a path is typed."""
        return bool(self.path())

    def validatePage(self) -> bool:
        """The folder must exist and hold images."""
        if not Path(self.path()).expanduser().exists():
            return show_error(self.error, f"{self.path()} does not exist: choose a folder of images.")
        if not self.inspect()["images"] and Path(self.path()).is_dir():
            return show_error(self.error, "No images (.png, .jpg, .tif, .bmp) in this folder: choose another.")
        return show_error(self.error, "")

    def apply(self, d: dict[str, Any]) -> None:
        """Write the data fields into the SSL config dict ``d``."""
        importer = self.importer_combo.currentText()
        if importer == "auto" and not self.labelled():
            importer = UNLABELLED
        d.setdefault("data", {}).update(path=self.path(), importer=importer, max_images=self.max_spin.value() or None,
                                        normalize=self.normalize_combo.currentText())


class SSLMethodPage(QWizardPage):
    """The SSL method (with its description), common settings and the method's own hyper-parameters."""

    method_changed = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setTitle("Method")
        self.setSubTitle("Which self-supervised objective, and its hyper-parameters (defaults from the S4 study).")
        methods = registry.names("ssl")
        self.method_combo = combo(methods, "simclr" if "simclr" in methods else None)
        self.description = QLabel()
        self.description.setWordWrap(True)
        self.description.setStyleSheet("color: #444;")
        self.epochs_spin = schema_spin(SSLConfig, "epochs", 80, 10_000)
        self.batch_spin = schema_spin(SSLConfig, "batch_size", 32, 4096)
        self.size_spin = schema_spin(DataConfig, "image_size", 224, suffix=" px")
        self.seed_spin = schema_spin(SSLConfig, "seed", 0, INT_MAX)
        self.knn_spin = schema_spin(SSLConfig, "knn_every", 5, 1000)
        self.knn_spin.setSpecialValueText("off")
        self.knn_spin.setSuffix(" epochs")
        self.val_spin = schema_dspin(SSLConfig, "val_fraction", 0.1)
        self.val_spin.setToolTip("Share of images held out for the validation SSL loss (0 = none)")
        self.patience_spin = schema_spin(SSLConfig, "patience", 15, 1000, suffix=" epochs")
        self.patience_spin.setSpecialValueText("off")
        self.patience_spin.setToolTip("Stop when the validation SSL loss has not improved for this many epochs")
        self.knn_note = QLabel()
        self.knn_note.setStyleSheet("color: gray;")
        common = QGroupBox("Training")
        form_layout([("Epochs:", self.epochs_spin), ("Batch size:", self.batch_spin), ("Image size:", self.size_spin),
                     ("Seed:", self.seed_spin), ("Validation share:", self.val_spin),
                     ("Early stopping:", self.patience_spin), ("kNN monitor every:", self.knn_spin),
                     ("", self.knn_note)], common)
        self.hparams = HParamsFormWidget()
        method_box = QGroupBox("Method hyper-parameters")
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(self.hparams)
        QVBoxLayout(method_box).addWidget(scroll)
        top = QFormLayout()
        top.addRow("Method:", self.method_combo)
        self.deepcluster = HParamsFormWidget()
        self.deepcluster.set_defaults(dataclasses.asdict(DeepClusterConfig()))
        self.deepcluster_box = QGroupBox("DeepCluster (k-means pseudo-labels)")
        QVBoxLayout(self.deepcluster_box).addWidget(self.deepcluster)
        left = QVBoxLayout()
        left.addWidget(common)
        left.addWidget(self.deepcluster_box)
        left.addStretch(1)
        boxes = QHBoxLayout()
        boxes.addLayout(left)
        boxes.addWidget(method_box, 1)
        self.error = error_label()
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.description)
        layout.addLayout(boxes, 1)
        layout.addWidget(self.error)
        self.method_combo.currentTextChanged.connect(self._on_method_changed)
        self._on_method_changed(self.method_combo.currentText())
        self.set_labelled(True)

    def method(self) -> str:
        """The chosen method's registry name."""
        return self.method_combo.currentText()

    def set_labelled(self, labelled: bool) -> None:
        """Enable the kNN monitor only when the data has labels."""
        self.knn_spin.setEnabled(labelled)
        self.knn_note.setText("" if labelled else "needs a labelled folder")
        self.knn_note.setVisible(not labelled)

    def _on_method_changed(self, name: str) -> None:
        meta = registry.meta("ssl", name) if name else {}
        paper = f" <i>{meta['paper']}</i>" if meta.get("paper") else ""
        self.description.setText(f"<b>{meta.get('label', name)}</b>: {meta.get('description', '')}{paper}")
        self.hparams.set_defaults(dict(meta.get("defaults", {})))
        self.deepcluster_box.setVisible(meta.get("loop") == "deepcluster")
        show_error(self.error, "")
        self.method_changed.emit(name)

    def validatePage(self) -> bool:
        """Every hyper-parameter readable, and the page's settings checked by the SSL schema (:class:`SSLConfig`)."""
        settings: dict[str, Any] = {}
        try:
            self.deepcluster.values()
            self.apply(settings)
            SSLConfig.from_dict(settings)
        except (ConfigError, ValueError) as exc:
            return show_error(self.error, str(exc))
        return show_error(self.error, "")

    def apply(self, d: dict[str, Any]) -> None:
        """Write the method fields into the SSL config dict ``d``."""
        d.update(method=self.method(), epochs=self.epochs_spin.value(), batch_size=self.batch_spin.value(),
                 seed=self.seed_spin.value(), hparams=self.hparams.values(), patience=self.patience_spin.value(),
                 val_fraction=round(self.val_spin.value(), 4),
                 knn_every=self.knn_spin.value() if self.knn_spin.isEnabled() else 0)
        d.setdefault("data", {})["image_size"] = self.size_spin.value()
        if self.deepcluster_box.isVisibleTo(self):
            d["deepcluster"] = self.deepcluster.values()


class SSLBackbonePage(ModelPage):
    """The training wizard's model page without the classifier head: backbone and its initial weights."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setTitle("Backbone")
        self.setSubTitle("The encoder to pretrain; its pooled features are what the method learns.")
        form = self.layout().itemAt(0).layout()
        for field in (self.hidden_spin, self.dropout_spin):  # no classifier head during pretraining
            if isinstance(form, QFormLayout):
                form.setRowVisible(field, False)
        set_combo(self.model_combo, DEFAULT_BACKBONE)

    def apply(self, d: dict[str, Any]) -> None:
        """Write backbone and initialisation into the SSL config dict ``d``."""
        d.update(backbone=self.model_combo.currentText(), pretrained=self.pretrained())
