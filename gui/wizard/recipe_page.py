"""Wizard page for the training recipe: optimiser, schedule, stopping, loss, augmentation, phases.

The preset is chosen on the wizard's first page; this page says which one it is.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import (
    QCheckBox, QFormLayout, QGroupBox, QHBoxLayout, QLabel, QTabWidget, QVBoxLayout, QWidget, QWizardPage,
)

from engine.errors import ConfigError
from engine.schema import choices
from engine.training.config import EarlyStoppingConfig, LossConfig, OptimConfig, ScheduleConfig, TrainConfig
from gui.wizard.fields import FloatEditWidget, combo, error_label, schema_dspin, schema_spin, set_combo, show_error
from gui.wizard.recipe_widgets import AugmentWidget, PhasesTableWidget

MONITORS = [m for m in choices(EarlyStoppingConfig, "monitor") if m.startswith("val_")]
_PARAMS = {"plateau": ("monitor", "factor", "patience", "min_lr"), "step": ("step_size", "gamma"),
           "cosine": ("min_lr",)}
SCHEDULE_PARAMS = {name: _PARAMS.get(name, ()) for name in choices(ScheduleConfig, "name")}


class RecipePage(QWizardPage):
    """Every recipe field; a note names the preset chosen on the first page (set by the wizard)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setTitle("Recipe")
        self.setSubTitle("Optimiser, schedule, stopping, loss, augmentation and phases.")
        self.preset_note = QLabel()
        self.preset_note.setWordWrap(True)
        self.preset_note.setStyleSheet("color: #444;")
        self.tabs = QTabWidget()
        self.tabs.addTab(self._build_training_tab(), "Training")
        self.augment = AugmentWidget()
        self.tabs.addTab(self.augment, "Augmentation")
        self.phases = PhasesTableWidget()
        self.tabs.addTab(self.phases, "Phases")
        self.error = error_label()
        layout = QVBoxLayout(self)
        layout.addWidget(self.preset_note)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(self.error)
        self.schedule_combo.currentTextChanged.connect(self._on_schedule_changed)
        for edit in (self.lr_edit, self.backbone_lr_edit, self.wd_edit, self.sched["min_lr"]):
            edit.textChanged.connect(self._on_field_edited)
        self.phases.table.itemChanged.connect(self._on_field_edited)
        self.phases.table.model().rowsInserted.connect(self._on_phases_changed)
        self.phases.table.model().rowsRemoved.connect(self._on_phases_changed)
        self._on_schedule_changed(self.schedule_combo.currentText())

    def _build_training_tab(self) -> QWidget:
        self.optim_combo = combo(choices(OptimConfig, "name"))
        self.lr_edit = FloatEditWidget(1e-3)
        self.backbone_lr_edit = FloatEditWidget(None, optional=True)
        self.wd_edit = FloatEditWidget(0.0)
        self.epochs_spin = schema_spin(TrainConfig, "epochs", 10, 10_000)
        self.batch_spin = schema_spin(TrainConfig, "batch_size", 32, 4096)
        optim = QGroupBox("Optimiser")
        f = QFormLayout(optim)
        for label, w in (("Optimizer:", self.optim_combo), ("Learning rate:", self.lr_edit),
                         ("Backbone lr:", self.backbone_lr_edit), ("Weight decay:", self.wd_edit),
                         ("Epochs:", self.epochs_spin), ("Batch size:", self.batch_spin)):
            f.addRow(label, w)
        self.schedule_combo = combo(list(SCHEDULE_PARAMS))
        self.sched = {"monitor": combo(MONITORS), "factor": schema_dspin(ScheduleConfig, "factor", 0.5),
                      "patience": schema_spin(ScheduleConfig, "patience", 3, 1000), "min_lr": FloatEditWidget(1e-6),
                      "step_size": schema_spin(ScheduleConfig, "step_size", 7, 1000),
                      "gamma": schema_dspin(ScheduleConfig, "gamma", 0.1)}
        sched = QGroupBox("LR schedule")
        self.sched_form = QFormLayout(sched)
        self.sched_form.addRow("Schedule:", self.schedule_combo)
        for key, w in self.sched.items():
            self.sched_form.addRow(key.replace("_", " ") + ":", w)
        self.es_monitor = combo(MONITORS)
        self.es_patience = schema_spin(EarlyStoppingConfig, "patience", 0, 1000)
        self.es_patience.setSpecialValueText("off")
        self.es_min_epochs = schema_spin(EarlyStoppingConfig, "min_epochs", 0, 1000)
        self.es_restore = QCheckBox("Restore best weights")
        stop = QGroupBox("Early stopping")
        f = QFormLayout(stop)
        for label, w in (("Monitor:", self.es_monitor), ("Patience:", self.es_patience),
                         ("Min epochs:", self.es_min_epochs), ("", self.es_restore)):
            f.addRow(label, w)
        self.balanced_check = QCheckBox("Balanced class weights")
        self.smoothing_spin = schema_dspin(LossConfig, "label_smoothing", 0.0)
        self.sampler_combo = combo(choices(TrainConfig, "sampler"))
        loss = QGroupBox("Loss and sampling")
        f = QFormLayout(loss)
        f.addRow("", self.balanced_check)
        f.addRow("Label smoothing:", self.smoothing_spin)
        f.addRow("Sampler:", self.sampler_combo)
        left, right = QVBoxLayout(), QVBoxLayout()
        left.addWidget(optim)
        left.addWidget(stop)
        right.addWidget(sched)
        right.addWidget(loss)
        left.addStretch(1)
        right.addStretch(1)
        tab = QWidget()
        row = QHBoxLayout(tab)
        row.addLayout(left)
        row.addLayout(right)
        return tab

    def _on_phases_changed(self, *_args) -> None:
        has_phases = self.phases.table.rowCount() > 0
        self.epochs_spin.setEnabled(not has_phases)
        self.epochs_spin.setToolTip("The phases set the number of epochs." if has_phases else "")

    def _on_field_edited(self, *_args) -> None:
        show_error(self.error, "")

    def _on_schedule_changed(self, name: str) -> None:
        for key, w in self.sched.items():
            visible = key in SCHEDULE_PARAMS.get(name, ())
            self.sched_form.setRowVisible(w, visible)

    def field_widgets(self) -> dict[str, list[QWidget]]:
        """The widgets of each setting on this page (dotted config key -> widgets)."""
        fields: dict[str, list[QWidget]] = {
            "optim.name": [self.optim_combo], "optim.lr": [self.lr_edit], "optim.backbone_lr": [self.backbone_lr_edit],
            "optim.weight_decay": [self.wd_edit], "epochs": [self.epochs_spin], "batch_size": [self.batch_spin],
            "schedule.name": [self.schedule_combo], "early_stopping.monitor": [self.es_monitor],
            "early_stopping.patience": [self.es_patience], "early_stopping.min_epochs": [self.es_min_epochs],
            "early_stopping.restore_best": [self.es_restore], "loss.class_weights": [self.balanced_check],
            "loss.label_smoothing": [self.smoothing_spin], "sampler": [self.sampler_combo],
            "phases": [self.phases.table]}
        fields.update({f"schedule.{key}": [w] for key, w in self.sched.items()})
        fields.update({f"augment.{key}": [w] for key, w in {**self.augment.checks, **self.augment.spins}.items()})
        return fields

    def validatePage(self) -> bool:
        """The recipe checked by the training schema (:class:`TrainConfig`): learning rates, weight decay,
        schedule, stopping, loss, augmentation and every phase; the message names the field and the value."""
        try:
            self.phases.phases()
        except ConfigError as exc:
            self.tabs.setCurrentWidget(self.phases)
            return show_error(self.error, str(exc))
        recipe: dict[str, Any] = {key: {} for key in ("optim", "schedule", "early_stopping", "loss", "augment")}
        self.apply(recipe)
        try:
            TrainConfig.from_dict(recipe)
        except ConfigError as exc:
            return show_error(self.error, str(exc))
        return show_error(self.error, "")

    def load(self, cfg: TrainConfig) -> None:
        """Fill the fields from ``cfg``."""
        set_combo(self.optim_combo, cfg.optim.name)
        self.lr_edit.set_value(cfg.optim.lr)
        self.backbone_lr_edit.set_value(cfg.optim.backbone_lr)
        self.wd_edit.set_value(cfg.optim.weight_decay)
        self.epochs_spin.setValue(cfg.epochs)
        self.batch_spin.setValue(cfg.batch_size)
        s = cfg.schedule
        set_combo(self.schedule_combo, s.name)
        set_combo(self.sched["monitor"], s.monitor)
        self.sched["factor"].setValue(s.factor)
        self.sched["patience"].setValue(s.patience)
        self.sched["min_lr"].set_value(s.min_lr)
        self.sched["step_size"].setValue(s.step_size)
        self.sched["gamma"].setValue(s.gamma)
        e = cfg.early_stopping
        set_combo(self.es_monitor, e.monitor)
        self.es_patience.setValue(e.patience)
        self.es_min_epochs.setValue(e.min_epochs)
        self.es_restore.setChecked(e.restore_best)
        self.balanced_check.setChecked(cfg.loss.class_weights == "balanced")
        self.smoothing_spin.setValue(cfg.loss.label_smoothing)
        set_combo(self.sampler_combo, cfg.sampler)
        self.augment.load(cfg.augment)
        self.phases.load(cfg.phases)

    def apply(self, d: dict[str, Any]) -> None:
        """Write the fields into the config dict ``d`` (call after :meth:`validatePage`)."""
        d["optim"].update(name=self.optim_combo.currentText(), lr=self.lr_edit.entry(),
                          backbone_lr=self.backbone_lr_edit.entry(), weight_decay=self.wd_edit.entry() or 0.0)
        d.update(epochs=self.epochs_spin.value(), batch_size=self.batch_spin.value(),
                 sampler=self.sampler_combo.currentText())
        d["schedule"].update(name=self.schedule_combo.currentText(), monitor=self.sched["monitor"].currentText(),
                             factor=round(self.sched["factor"].value(), 4), patience=self.sched["patience"].value(),
                             min_lr=self.sched["min_lr"].entry() or 0.0, step_size=self.sched["step_size"].value(),
                             gamma=round(self.sched["gamma"].value(), 4))
        d["early_stopping"].update(monitor=self.es_monitor.currentText(), patience=self.es_patience.value(),
                                   min_epochs=self.es_min_epochs.value(), restore_best=self.es_restore.isChecked())
        d["loss"].update(class_weights="balanced" if self.balanced_check.isChecked() else None,
                         label_smoothing=round(self.smoothing_spin.value(), 4))
        d["augment"].update(self.augment.values())
        try:
            d["phases"] = self.phases.phases()
        except ConfigError:
            pass  # reported by validatePage; keep the preset's phases
