"""Study > New study...: a preset (S1, S2, S4...) or a custom grid, a dataset and quick-trial overrides.

The dialog only gathers settings; :meth:`NewStudyDialog.config` builds and
validates them with the engine (:func:`engine.studies.build_study_config`),
and shows how many runs the grid holds before anything runs.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox, QDialog, QDialogButtonBox, QGroupBox, QHBoxLayout, QLabel, QLineEdit, QListWidget, QListWidgetItem,
    QVBoxLayout, QWidget,
)

from engine.errors import HistoDeskError
from engine.schema import choices, number_list
from gui.path_field import PathFieldWidget
from gui.results.intervals import html_escape
from gui.ssl.widgets import form_layout
from gui.wizard.fields import combo, schema_spin

CUSTOM = "custom"


class NewStudyDialog(QDialog):
    """Preset or custom recipes, dataset, seeds / folds / fractions / draws, and overrides for a quick trial."""

    def __init__(self, parent: QWidget | None = None, *, dataset: str = "", runs_dir: str | None = None):
        super().__init__(parent)
        from engine.presets import preset_names
        from engine.studies import StudyConfig

        self.setWindowTitle("New study")
        self.runs_dir = runs_dir
        self.preset_combo = QComboBox()
        self.preset_combo.addItems(preset_names("study") + [CUSTOM])
        self.description = QLabel()
        self.description.setWordWrap(True)
        self.description.setStyleSheet("color: #444;")
        self.dataset_edit = PathFieldWidget("Labelled dataset", placeholder="labelled dataset folder, CSV or 'demo'",
                                            text=dataset)
        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("default: <preset>-<kind>")
        self.recipe_list = QListWidget()
        self.recipe_list.setMaximumHeight(120)
        self.seeds_edit = QLineEdit("0")
        self.folds_spin = schema_spin(StudyConfig, "folds", 0, 20, special="no folds (one split)")
        self.fractions_edit = QLineEdit("1")
        self.fractions_edit.setToolTip("Label efficiency: fractions of the training labels, e.g. 0.1,0.25,1 "
                                       "(whole patients are sampled); 1 alone: every run sees all labels")
        self.draws_spin = schema_spin(StudyConfig, "draws", 3, 20)
        self.draws_spin.setToolTip("Label efficiency: patient samples per fraction below 1 (error bars)")
        self.steps_spin = schema_spin(StudyConfig, "steps", 0, 10_000_000, special="no step budget", none_below=True)
        self.steps_spin.setToolTip("Label efficiency: the same number of optimiser steps for every run "
                                   "(epochs derived from it)")
        self.seeds_edit.setToolTip("Initialisation seeds, e.g. 0,1,2: one run per recipe and seed on the same split")
        design = QGroupBox("Design")
        form_layout([("Initialisation seeds:", self.seeds_edit), ("Patient-level folds:", self.folds_spin),
                     ("Label fractions:", self.fractions_edit), ("Patient draws per fraction:", self.draws_spin),
                     ("Optimiser steps per run:", self.steps_spin)], design)
        # the minimum of each (one below the schema's) stands for "not overridden"
        self.epochs_spin = schema_spin(StudyConfig, "epochs", 0, 10_000, special="preset's", none_below=True)
        self.size_spin = schema_spin(StudyConfig, "image_size", 0, special="preset's", none_below=True)
        self.max_images_spin = schema_spin(StudyConfig, "max_images", 0, 10_000_000, special="all", none_below=True)
        self.batch_spin = schema_spin(StudyConfig, "batch_size", 0, 4096, special="preset's", none_below=True)
        self.device_combo = combo(choices(StudyConfig, "device"), "auto")
        trial = QGroupBox("Quick trial (overrides every run)")
        form_layout([("Epochs per run:", self.epochs_spin), ("Image size (px):", self.size_spin),
                     ("Max images:", self.max_images_spin), ("Batch size:", self.batch_spin),
                     ("Device:", self.device_combo)], trial)
        boxes = QHBoxLayout()
        boxes.addWidget(design)
        boxes.addWidget(trial)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.summary.setTextFormat(Qt.TextFormat.RichText)
        form = form_layout([("Preset:", self.preset_combo), ("", self.description), ("Dataset:", self.dataset_edit),
                            ("Recipes:", self.recipe_list), ("Name:", self.name_edit)])
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Run study")
        self.buttons.accepted.connect(self._on_accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(boxes)
        layout.addStretch(1)
        layout.addWidget(self.summary)
        layout.addWidget(self.buttons)
        self.preset_combo.currentTextChanged.connect(self._on_preset_changed)
        for edit in (self.seeds_edit, self.fractions_edit):
            edit.textChanged.connect(lambda _t: self._update_summary())
        for box in (self.folds_spin, self.draws_spin, self.steps_spin):
            box.valueChanged.connect(lambda _v: self._update_summary())
        self.recipe_list.itemChanged.connect(lambda _i: self._update_summary())
        self.dataset_edit.changed.connect(lambda _t: self._update_summary())
        self._on_preset_changed(self.preset_combo.currentText())
        self.resize(820, 620)

    # --- public API -------------------------------------------------------
    def set_preset(self, name: str) -> None:
        """Choose study preset ``name`` (or "custom")."""
        self.preset_combo.setCurrentText(name)

    def overrides(self) -> dict[str, Any]:
        """The settings typed, as a study-config override of the preset (ConfigError for unreadable numbers)."""
        out: dict[str, Any] = {"dataset": self.dataset_edit.path(), "recipes": self._recipes(),
                               "seeds": number_list(self.seeds_edit.text(), int, "Seeds"),
                               "folds": self.folds_spin.value(), "draws": self.draws_spin.value(),
                               "fractions": number_list(self.fractions_edit.text(), float, "Label fractions") or [1.0],
                               "steps": self.steps_spin.value() or None}
        for key, box in (("epochs", self.epochs_spin), ("image_size", self.size_spin),
                         ("max_images", self.max_images_spin), ("batch_size", self.batch_spin)):
            if box.value() > box.minimum():
                out[key] = box.value()
        if self.device_combo.currentText() != "auto":
            out["device"] = self.device_combo.currentText()
        if self.name_edit.text().strip():
            out["name"] = self.name_edit.text().strip()
        if self.runs_dir:
            out["runs_dir"] = str(self.runs_dir)
        return out

    def config(self):
        """The validated :class:`engine.studies.StudyConfig` (ValueError / ConfigError when a setting is wrong)."""
        from engine.studies import build_study_config

        preset = self.preset_combo.currentText()
        overrides = self.overrides()
        if not overrides["dataset"]:
            raise ValueError("Choose a labelled dataset (folder, CSV list or 'demo').")
        if not overrides["recipes"]:
            raise ValueError("Tick at least one recipe.")
        return build_study_config(None if preset == CUSTOM else preset, overrides)

    # --- helpers ----------------------------------------------------------
    def _recipes(self) -> list[dict]:
        return [self.recipe_list.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.recipe_list.count())
                if self.recipe_list.item(i).checkState() == Qt.CheckState.Checked]

    def _on_preset_changed(self, name: str) -> None:
        from engine.presets import preset_dict, preset_names

        data = preset_dict("study", name) if name != CUSTOM else {}
        self.description.setText(data.get("description") or "Custom study: tick the training presets to compare; "
                                 "seeds, folds or label fractions make the grid.")
        recipes = data.get("recipes") or [{"name": p, "preset": p} for p in preset_names("train")]
        self.recipe_list.blockSignals(True)
        self.recipe_list.clear()
        for recipe in recipes:
            item = QListWidgetItem(self._recipe_text(recipe))
            item.setData(Qt.ItemDataRole.UserRole, recipe)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if data else Qt.CheckState.Unchecked)
            self.recipe_list.addItem(item)
        self.recipe_list.blockSignals(False)
        self.seeds_edit.setText(",".join(str(s) for s in data.get("seeds", [0])))
        self.folds_spin.setValue(int(data.get("folds") or 0))
        self.fractions_edit.setText(",".join(f"{f:g}" for f in data.get("fractions", [1.0])))
        self.draws_spin.setValue(int(data.get("draws") or 3))
        self.steps_spin.setValue(int(data.get("steps") or 0))
        self._update_summary()

    @staticmethod
    def _recipe_text(recipe: dict) -> str:
        if recipe.get("ssl_preset") or recipe.get("ssl"):
            return (f"{recipe['name']}: SSL pretraining ({recipe.get('ssl_preset', 'custom')}) then "
                    f"{recipe.get('downstream', 'probe')}")
        return f"{recipe['name']}: training preset {recipe.get('preset') or 'custom'}"

    def _update_summary(self) -> None:
        from engine.studies import expand

        try:  # draws and steps only matter for label fractions below 1
            partial = any(f < 1 for f in number_list(self.fractions_edit.text(), float, "Label fractions"))
        except HistoDeskError:
            partial = True
        self.draws_spin.setEnabled(partial)
        self.steps_spin.setEnabled(partial or bool(self.steps_spin.value()))

        try:
            cfg = self.config()
        except (HistoDeskError, ValueError) as exc:
            self.summary.setText(f"<span style='color:#b00020'>{html_escape(exc)}</span>")
            self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(False)
            return
        n = len(expand(cfg))
        self.summary.setText(f"<b>{cfg.kind}</b> study: <b>{n} runs</b> ({len(cfg.recipes)} recipes). Runs are "
                             "queued as one job with progress, ETA and Cancel; Study &gt; Resume study... goes on "
                             "after a cancel. Recipes whose ImageNet weights are not available are skipped with the "
                             "reason recorded.")
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(True)

    def _on_accept(self) -> None:
        try:
            self.config()
        except (HistoDeskError, ValueError) as exc:
            self.summary.setText(f"<span style='color:#b00020'>{html_escape(exc)}</span>")
            return
        self.accept()
