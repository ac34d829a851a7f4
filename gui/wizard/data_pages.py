"""Wizard pages for the data: which dataset and how it is split."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtWidgets import (
    QCheckBox, QFileDialog, QFormLayout, QGroupBox, QHBoxLayout, QLabel, QLineEdit, QPushButton, QVBoxLayout,
    QWidget, QWizardPage,
)

from engine import registry
from engine.errors import ConfigError
from engine.options import SplitName, literal_values
from engine.schema import choices, validate
from engine.training.config import DataConfig, SplitConfig, TrainConfig
from gui.wizard.fields import INT_MAX, combo, error_label, schema_spin, set_combo, show_error, spin
from gui.wizard.preset_box import PresetBox

_MODE_LABELS = {"auto": "auto (patient-level when patient ids are known)", "patient": "patient-level",
                "image": "image-level (may leak patients between splits)",
                "dataset": "the dataset's own train/val/test (folders or CSV split column)"}
_GROUP_LABELS = {"case": "case: a patient's slides stay together (BreaKHis, safe)",
                 "slide": "slide id (slides of one patient may straddle splits)"}
#: (value, label) of each split mode and grouping, the values from the split schema.
SPLIT_MODES = [(m, _MODE_LABELS.get(m, m)) for m in choices(SplitConfig, "mode")]
GROUP_BY = [(g, _GROUP_LABELS.get(g, g)) for g in choices(SplitConfig, "group_by")]


class DatasetPage(QWizardPage):
    """The preset to start from, then dataset folder or CSV, importer, image size, normalisation, cache, cap."""

    def __init__(self, dataset_path: str = "", parent=None):
        super().__init__(parent)
        self.setTitle("Preset and dataset")
        self.setSubTitle("Start from a preset (or custom), then choose the images and how they become network inputs.")
        self.preset_box = PresetBox()
        self.path_edit = QLineEdit(dataset_path)
        self.path_edit.setPlaceholderText("dataset folder, CSV list, or 'demo'")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._on_browse)
        row = QHBoxLayout()
        row.addWidget(self.path_edit, 1)
        row.addWidget(browse)
        self.importer_combo = combo(["auto"] + registry.names("importer"), "auto")
        self.size_spin = schema_spin(DataConfig, "image_size", 224, suffix=" px")
        self.normalize_combo = combo(choices(DataConfig, "normalize"), "imagenet")
        self.normalize_combo.setToolTip("imagenet: ImageNet mean/std; unit: pixels / 255 (S1 basic CNN)")
        self.cache_check = QCheckBox("Decode once and cache at training resolution")
        self.max_spin = schema_spin(DataConfig, "max_images", 0, 10_000_000, none_below=True)
        self.max_spin.setSpecialValueText("all images")
        form = QFormLayout()
        form.addRow("Dataset:", row)
        form.addRow("Importer:", self.importer_combo)
        form.addRow("Image size:", self.size_spin)
        form.addRow("Normalisation:", self.normalize_combo)
        form.addRow("Cache:", self.cache_check)
        form.addRow("Max images:", self.max_spin)
        self.error = error_label()
        layout = QVBoxLayout(self)
        layout.addWidget(self.preset_box)
        layout.addLayout(form)
        layout.addStretch(1)
        layout.addWidget(self.error)
        self.path_edit.textChanged.connect(self._on_path_changed)

    def _on_browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Dataset folder", self.path_edit.text())
        if folder:
            self.path_edit.setText(folder)

    def _on_path_changed(self, _text: str) -> None:
        show_error(self.error, "")
        self.completeChanged.emit()

    def isComplete(self) -> bool:
        """Next is enabled once a path is typed."""
        return bool(self.path_edit.text().strip())

    def validatePage(self) -> bool:
        """The path must exist (or be the built-in ``demo``)."""
        text = self.path_edit.text().strip()
        if not text:
            return show_error(self.error, "Choose a dataset folder or CSV file.")
        if text != "demo" and not Path(text).expanduser().exists():
            return show_error(self.error, f"{text} does not exist: choose an existing dataset folder or CSV.")
        return show_error(self.error, "")

    def load(self, cfg: TrainConfig) -> None:
        """Fill the fields from ``cfg`` (the path is kept when ``cfg`` has none)."""
        if cfg.data.path:
            self.path_edit.setText(cfg.data.path)
        set_combo(self.importer_combo, cfg.data.importer)
        self.size_spin.setValue(cfg.data.image_size)
        set_combo(self.normalize_combo, cfg.data.normalize)
        self.cache_check.setChecked(cfg.data.cache)
        self.max_spin.setValue(cfg.data.max_images or 0)

    def field_widgets(self) -> dict[str, list[QWidget]]:
        """The widgets of each setting a preset sets on this page (dotted config key -> widgets)."""
        return {"data.image_size": [self.size_spin], "data.normalize": [self.normalize_combo]}

    def apply(self, d: dict[str, Any]) -> None:
        """Write the fields into the config dict ``d``."""
        d["data"].update(path=self.path_edit.text().strip(), importer=self.importer_combo.currentText(),
                         image_size=self.size_spin.value(), normalize=self.normalize_combo.currentText(),
                         cache=self.cache_check.isChecked(), max_images=self.max_spin.value() or None)


class SplitPage(QWizardPage):
    """Split mode and grouping, train/val/test percentages, k-fold, the split seed and the training seed."""

    def __init__(self, catalog=None, parent=None):
        super().__init__(parent)
        self.setTitle("Split")
        self.setSubTitle("How images are divided into train, validation and test sets.")
        self.mode_combo = combo([label for _, label in SPLIT_MODES])
        self.group_combo = combo([label for _, label in GROUP_BY])
        self.group_combo.setToolTip("BreaKHis slide ids such as 22549AB and 22549CD come from one patient (case "
                                    "A-14-22549); grouping by case keeps them in one split.")
        self.mode_note = QLabel(self._mode_note(catalog))
        self.mode_note.setWordWrap(True)
        self.ratio_spins = [spin(0, 100, v, " %") for v in (70, 15, 15)]
        ratio_row = QHBoxLayout()
        for name, box in zip(literal_values(SplitName), self.ratio_spins):
            ratio_row.addWidget(QLabel(name))
            ratio_row.addWidget(box)
            box.valueChanged.connect(self._on_ratio_changed)
        self.sum_label = QLabel()
        ratio_row.addWidget(self.sum_label)
        ratio_row.addStretch(1)
        self.kfold_spin = schema_spin(SplitConfig, "k_folds", 0, 20)
        self.kfold_spin.setSpecialValueText("off")
        self.fold_spin = schema_spin(SplitConfig, "fold", 0, 19)  # then capped at k - 1
        self.seed_spin = schema_spin(SplitConfig, "seed", 0, INT_MAX)
        self.seed_spin.setToolTip("Seed of the split alone: runs with other training seeds keep the same test set.")
        self.init_seed_spin = schema_spin(TrainConfig, "seed", 0, INT_MAX)
        self.init_seed_spin.setToolTip("Seed of the weight initialisation and the shuffling, not of the split.")
        self.no_test_check = QCheckBox("Allow an empty test split (otherwise an error)")
        self.kfold_spin.valueChanged.connect(self._on_kfold_changed)
        box = QGroupBox("Cross-validation")
        kform = QFormLayout(box)
        kform.addRow("Folds (k):", self.kfold_spin)
        kform.addRow("Use fold:", self.fold_spin)
        form = QFormLayout()
        form.addRow("Mode:", self.mode_combo)
        form.addRow("", self.mode_note)
        form.addRow("Group by:", self.group_combo)
        form.addRow("Ratios:", ratio_row)
        form.addRow("", self.no_test_check)
        form.addRow("Split seed:", self.seed_spin)
        form.addRow("Training seed:", self.init_seed_spin)
        self.error = error_label()
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(box)
        layout.addStretch(1)
        layout.addWidget(self.error)
        self._on_ratio_changed()
        self._on_kfold_changed(0)

    @staticmethod
    def _mode_note(catalog) -> str:
        if catalog is None:
            return ("auto = patient-level split whenever patient ids are known (e.g. BreaKHis file names), "
                    "so no patient is in two splits, even when the dataset has its own train/test folders "
                    "(use 'dataset' for those); otherwise image-level.")
        known = catalog.has_patients
        if callable(known):
            known = known()
        if known:
            return (f"Patient ids found ({catalog.summary().get('patients', '?')} patients): auto = patient-level "
                    "split, so no patient appears in two splits.")
        return "No patient ids in this dataset: auto = image-level split; test figures may be optimistic."

    def ratios(self) -> list[int]:
        """The three percentages (train, val, test)."""
        return [b.value() for b in self.ratio_spins]

    def _on_ratio_changed(self, _value: int = 0) -> None:
        total = sum(self.ratios())
        colour = "#1b5e20" if total == 100 else "#b00020"
        self.sum_label.setText(f"<span style='color:{colour}'>sum {total} %</span>")
        show_error(self.error, "")

    def _on_kfold_changed(self, k: int) -> None:
        self.fold_spin.setEnabled(k > 1)
        self.fold_spin.setMaximum(max(k - 1, 0))

    def validatePage(self) -> bool:
        """The split checked by the split schema (:class:`SplitConfig`): ratios summing to 100 % with a train
        share, k-fold with at least 2 folds."""
        settings: dict[str, Any] = {"split": {}}
        self.apply(settings)
        try:
            validate(SplitConfig, settings["split"], "split")
        except ConfigError as exc:
            return show_error(self.error, str(exc))
        return show_error(self.error, "")

    def load(self, cfg: TrainConfig) -> None:
        """Fill the fields from ``cfg``."""
        modes, groups = [m for m, _ in SPLIT_MODES], [g for g, _ in GROUP_BY]
        self.mode_combo.setCurrentIndex(modes.index(cfg.split.mode) if cfg.split.mode in modes else 0)
        self.group_combo.setCurrentIndex(groups.index(cfg.split.group_by) if cfg.split.group_by in groups else 0)
        for box, value in zip(self.ratio_spins, cfg.split.ratios):
            box.setValue(round(float(value) * 100))
        self.kfold_spin.setValue(cfg.split.k_folds)
        self.fold_spin.setValue(cfg.split.fold)
        self.seed_spin.setValue(cfg.split.seed)
        self.init_seed_spin.setValue(cfg.seed)
        self.no_test_check.setChecked(cfg.split.allow_no_test)

    def apply(self, d: dict[str, Any]) -> None:
        """Write the fields into the config dict ``d``."""
        k = self.kfold_spin.value()
        d["split"].update(mode=SPLIT_MODES[self.mode_combo.currentIndex()][0],
                          group_by=GROUP_BY[self.group_combo.currentIndex()][0],
                          ratios=[v / 100 for v in self.ratios()], k_folds=k,
                          fold=self.fold_spin.value() if k > 1 else 0,
                          seed=self.seed_spin.value(), allow_no_test=self.no_test_check.isChecked())
        d["seed"] = self.init_seed_spin.value()

    def field_widgets(self) -> dict[str, list[QWidget]]:
        """The widgets of each setting on this page (dotted config key -> widgets)."""
        return {"split.mode": [self.mode_combo], "split.group_by": [self.group_combo], "split.ratios": self.ratio_spins,
                "split.k_folds": [self.kfold_spin], "split.fold": [self.fold_spin], "split.seed": [self.seed_spin],
                "seed": [self.init_seed_spin], "split.allow_no_test": [self.no_test_check]}
