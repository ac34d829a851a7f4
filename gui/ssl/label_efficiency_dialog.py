"""One-action label-efficiency study: fine-tune with 1-100 % of the labels for several encoder inits."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from engine.errors import HistoDeskError
from engine.runs import Run
from engine.schema import choices
from engine.ssl.label_efficiency import LabelEfficiencyConfig
from gui.ssl.widgets import (ConfigDialogBase, PathEditWidget, SSLRunComboWidget, check_dataset, check_ssl_run,
                             form_layout)
from gui.wizard.fields import INT_MAX, combo, schema_spin, show_error

FRACTIONS = (0.01, 0.1, 0.25, 1.0)
ENCODERS = (("ssl", "SSL-initialised (the run's encoder)"), ("random", "Random initialisation"),
            ("imagenet", "ImageNet weights"))


def imagenet_status(ssl_run: str) -> tuple[bool, str]:
    """Whether ImageNet weights exist for the SSL run's backbone, and why not."""
    from engine.models import weights_status

    try:
        backbone = Run.open(ssl_run).config.get("backbone", "")
    except HistoDeskError:
        return False, "choose an SSL run first"
    if not backbone:
        return False, "the SSL run does not name its backbone"
    status = weights_status(backbone)
    return status.available, (f"{backbone}: {status.message}" if status.available else
                              f"unavailable for {backbone}: {status.message}")


class LabelEfficiencyDialog(ConfigDialogBase):
    """Dataset, SSL run, label fractions, encoders and epochs -> :meth:`config` for ``label_efficiency``."""

    def __init__(self, parent: QWidget | None = None, *, runs_dir: str | None = None, dataset_path: str = "",
                 ssl_run: str | None = None):
        super().__init__(parent)
        self.setWindowTitle("Label-efficiency study")
        self.runs_dir = runs_dir
        self.dataset_edit = PathEditWidget(dataset_path, "labelled dataset folder or CSV", caption="Labelled dataset")
        self.run_combo = SSLRunComboWidget(runs_dir, ssl_run)
        self.fraction_checks = {f: QCheckBox(f"{f * 100:g} %") for f in FRACTIONS}
        fractions = QHBoxLayout()
        for box in self.fraction_checks.values():
            box.setChecked(True)
            fractions.addWidget(box)
        fractions.addStretch(1)
        self.encoder_checks = {name: QCheckBox(text) for name, text in ENCODERS}
        encoders = QVBoxLayout()
        for box in self.encoder_checks.values():
            box.setChecked(True)
            encoders.addWidget(box)
        self.imagenet_note = QLabel()
        self.imagenet_note.setWordWrap(True)
        encoders.addWidget(self.imagenet_note)
        self.mode_combo = combo(choices(LabelEfficiencyConfig, "mode"), "finetune")
        self.epochs_spin = schema_spin(LabelEfficiencyConfig, "epochs", 20, 10_000)
        self.frozen_spin = schema_spin(LabelEfficiencyConfig, "frozen_epochs", 0, 10_000, suffix=" epochs")
        self.frozen_spin.setSpecialValueText("none")
        self.frozen_spin.setToolTip("Fine-tune: train only the head for the first N epochs")
        self.seed_spin = schema_spin(LabelEfficiencyConfig, "seed", 0, INT_MAX)
        self.draws_spin = schema_spin(LabelEfficiencyConfig, "draws", 3, 50)
        self.draws_spin.setToolTip("Patient samples per fraction below 100 %: 3 or more give error bars")
        form = form_layout([("SSL run:", self.run_combo), ("Labelled dataset:", self.dataset_edit),
                            ("Label fractions:", fractions), ("Draws per fraction:", self.draws_spin),
                            ("Encoders:", encoders), ("Downstream:", self.mode_combo),
                            ("Epochs per run:", self.epochs_spin), ("Encoder frozen for:", self.frozen_spin),
                            ("Seed:", self.seed_spin)])
        note = QLabel("Training labels are subsampled by patient (a chosen patient keeps all its images); "
                      "validation and test sets stay whole. Each fraction below 100 % is drawn several times "
                      "(other patients each time); the plot shows the mean accuracy and AUC with +- 1 std.")
        self.finish_layout(form, note, "Run study")
        self.run_combo.changed.connect(self._on_run_changed)
        self.mode_combo.currentTextChanged.connect(lambda mode: self.frozen_spin.setEnabled(mode == "finetune"))
        self._on_run_changed(self.run_combo.path())
        self.resize(720, 460)

    def _on_run_changed(self, path: str) -> None:
        available, reason = imagenet_status(path) if path else (False, "choose an SSL run first")
        box = self.encoder_checks["imagenet"]
        box.setEnabled(available)
        box.setChecked(available and box.isChecked())
        self.imagenet_note.setText(f"ImageNet: {reason}")
        self.imagenet_note.setStyleSheet(f"color: {'#1b5e20' if available else '#b00020'};")
        show_error(self.error, "")

    def fractions(self) -> list[float]:
        """The label fractions ticked, ascending."""
        return [f for f, box in self.fraction_checks.items() if box.isChecked()]

    def encoders(self) -> list[str]:
        """The encoder initialisations ticked (``ssl``, ``random``, ``imagenet``)."""
        return [name for name, box in self.encoder_checks.items() if box.isChecked() and box.isEnabled()]

    def config(self) -> dict[str, Any]:
        """The study settings, a ``LabelEfficiencyConfig`` dict (ValueError / ConfigError when invalid)."""
        message = check_ssl_run(self.run_combo.path()) if "ssl" in self.encoders() else ""
        if message or check_dataset(self.dataset_edit.text()):
            raise ValueError(message or check_dataset(self.dataset_edit.text()))
        if not self.fractions():
            raise ValueError("Tick at least one label fraction.")
        if not self.encoders():
            raise ValueError("Tick at least one encoder.")
        cfg = {"dataset": self.dataset_edit.text(), "ssl_run": self.run_combo.path(), "fractions": self.fractions(),
               "encoders": self.encoders(), "mode": self.mode_combo.currentText(),
               "epochs": self.epochs_spin.value(), "seed": self.seed_spin.value(), "draws": self.draws_spin.value(),
               "frozen_epochs": self.frozen_spin.value() if self.mode_combo.currentText() == "finetune" else 0}
        if self.runs_dir:
            cfg["runs_dir"] = str(self.runs_dir)
        LabelEfficiencyConfig.from_dict(cfg)  # validates, frozen epochs below epochs included
        return cfg
