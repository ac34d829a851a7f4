"""Linear probe or fine-tuning of an SSL encoder on a labelled dataset (a normal training run)."""

from __future__ import annotations

from PySide6.QtWidgets import QButtonGroup, QLabel, QRadioButton, QVBoxLayout, QWidget

from engine.training.config import TrainConfig
from gui.ssl.widgets import (ConfigDialogBase, PathEditWidget, SSLRunComboWidget, check_dataset, check_ssl_run,
                             form_layout)
from gui.wizard.fields import schema_spin, show_error, spin

PROBE, FINETUNE = "probe", "finetune"


class DownstreamDialog(ConfigDialogBase):
    """SSL run + labelled dataset + mode (probe / fine-tune) + epochs -> :meth:`config` (a TrainConfig).

    Probe: the encoder stays frozen and only a linear head is trained.
    Fine-tune: everything is trained, optionally with the encoder frozen for
    the first N epochs (the head warms up first). The caller runs
    ``engine.training.job.train(config)`` so the run shows in Runs.
    """

    def __init__(self, parent: QWidget | None = None, *, runs_dir: str | None = None, dataset_path: str = "",
                 ssl_run: str | None = None):
        super().__init__(parent)
        self.setWindowTitle("Linear probe / fine-tune from an SSL run")
        self.runs_dir = runs_dir
        self.run_combo = SSLRunComboWidget(runs_dir, ssl_run)
        self.dataset_edit = PathEditWidget(dataset_path, "labelled dataset folder or CSV",
                                           caption="Labelled dataset")
        self.radio_probe = QRadioButton("Linear probe (frozen encoder, linear head only)")
        self.radio_finetune = QRadioButton("Fine-tune (train the whole network)")
        self.mode_group = QButtonGroup(self)
        self.mode_group.addButton(self.radio_probe)
        self.mode_group.addButton(self.radio_finetune)
        self.radio_finetune.setChecked(True)
        self.epochs_spin = schema_spin(TrainConfig, "epochs", 50, 10_000)
        self.frozen_spin = spin(0, 10_000, 0, " epochs")
        self.frozen_spin.setSpecialValueText("none")
        self.frozen_spin.setToolTip("Train only the head for the first N epochs, then the whole network")
        self.batch_spin = schema_spin(TrainConfig, "batch_size", 32, 4096)
        self.note = QLabel()
        mode = QVBoxLayout()
        mode.addWidget(self.radio_probe)
        mode.addWidget(self.radio_finetune)
        form = form_layout([("SSL run:", self.run_combo), ("Labelled dataset:", self.dataset_edit), ("Mode:", mode),
                            ("Epochs:", self.epochs_spin), ("Encoder frozen for:", self.frozen_spin),
                            ("Batch size:", self.batch_spin)])
        self.finish_layout(form, self.note, "Start training")
        self.mode_group.buttonToggled.connect(self._on_mode_changed)
        self._on_mode_changed()
        self.resize(720, 380)

    def mode(self) -> str:
        """``"probe"`` or ``"finetune"``."""
        return PROBE if self.radio_probe.isChecked() else FINETUNE

    def _on_mode_changed(self, *_args) -> None:
        finetune = self.mode() == FINETUNE
        self.frozen_spin.setEnabled(finetune)
        self.note.setText("The encoder's pretrained weights initialise a classifier trained on the labels; the "
                          + ("whole network learns (after the frozen epochs)." if finetune else
                             "encoder is frozen, so accuracy measures how linearly separable its features are.")
                          + " The run appears in Runs like any training run.")
        show_error(self.error, "")

    def config(self):
        """The downstream :class:`TrainConfig` (HistoDeskError / ValueError when a field is wrong)."""
        from engine.ssl.downstream import downstream_config

        message = check_ssl_run(self.run_combo.path()) or check_dataset(self.dataset_edit.text())
        if message:
            raise ValueError(message)
        overrides = {"batch_size": self.batch_spin.value()}
        if self.runs_dir:
            overrides["runs_dir"] = str(self.runs_dir)
        frozen = self.frozen_spin.value() if self.mode() == FINETUNE else 0
        return downstream_config(self.run_combo.path(), self.dataset_edit.text(), mode=self.mode(),
                                 frozen_epochs=frozen, epochs=self.epochs_spin.value(), **overrides)
