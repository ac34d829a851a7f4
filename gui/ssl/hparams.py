"""A form built from an SSL method's default hyper-parameters (registry meta ``"defaults"``)."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QCheckBox, QFormLayout, QLineEdit, QSpinBox, QWidget

from gui.wizard.fields import FloatEditWidget, combo, set_combo, spin

#: Friendlier labels for common keys; others are shown as ``key with spaces``.
LABELS = {"lr": "Learning rate", "weight_decay": "Weight decay", "temperature": "Temperature",
          "momentum": "EMA momentum", "optimizer": "Optimizer", "augment": "Augmentation preset",
          "probe_lr": "Linear-probe lr (later)", "finetune_lr": "Fine-tune lr (later)",
          "proj_hidden": "Projector hidden", "proj_dim": "Projector output", "pred_hidden": "Predictor hidden",
          "head_bn": "BatchNorm in head", "n_local_crops": "Local crops", "student_temp": "Student temperature",
          "teacher_temp": "Teacher temperature", "center_momentum": "Centre momentum", "k": "Clusters (k)",
          "pca_dim": "PCA dimension", "kmeans_iters": "k-means iterations", "kmeans_device": "k-means device"}


def choices(key: str) -> list[str] | None:
    """The values offered for string hyper-parameter ``key`` (None: free text), from the schemas."""
    from engine.schema import choices as schema_choices

    if key == "optimizer":  # the SSL loop builds an OptimConfig from it
        from engine.training.config import OptimConfig

        return schema_choices(OptimConfig, "name")
    if key == "kmeans_device":
        from engine.ssl.config import DeepClusterConfig

        return schema_choices(DeepClusterConfig, "kmeans_device")
    if key == "augment":
        from engine.ssl.views import PRESETS

        return list(PRESETS)
    return None


def _label(key: str) -> str:
    return LABELS.get(key, key.replace("_", " ").capitalize()) + ":"


class HParamsFormWidget(QWidget):
    """One editor per hyper-parameter: int spin, float edit, bool check, choice combo or text.

    :meth:`set_defaults` rebuilds the form for a method's defaults;
    :meth:`values` returns the edited dict (same keys and types). Lists/tuples
    are edited as comma-separated numbers.
    """

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.form = QFormLayout(self)
        self.form.setContentsMargins(0, 0, 0, 0)
        self.editors: dict[str, QWidget] = {}
        self.defaults: dict[str, Any] = {}

    def set_defaults(self, defaults: dict[str, Any]) -> None:
        """Show one editor per scalar (or list of numbers) entry of ``defaults``."""
        while self.form.rowCount():
            self.form.removeRow(0)
        self.editors, self.defaults = {}, {}
        for key, value in defaults.items():
            editor = self._editor(key, value)
            if editor is None:
                continue
            self.defaults[key] = value
            self.editors[key] = editor
            self.form.addRow(_label(key), editor)

    @staticmethod
    def _editor(key: str, value: Any) -> QWidget | None:
        if isinstance(value, bool):
            box = QCheckBox()
            box.setChecked(value)
            return box
        if isinstance(value, int):
            return spin(-1_000_000, 1_000_000_000, value)
        if isinstance(value, float):
            return FloatEditWidget(value)
        if isinstance(value, str):
            if choices(key):
                return combo(choices(key), value)
            return QLineEdit(value)
        if isinstance(value, (list, tuple)) and all(isinstance(v, (int, float)) for v in value):
            return QLineEdit(", ".join(f"{v:g}" for v in value))
        return None  # nested settings are not edited here

    def set_value(self, key: str, value: Any) -> None:
        """Put ``value`` into the editor of ``key`` (ignored when the method has no such key)."""
        editor = self.editors.get(key)
        if isinstance(editor, QCheckBox):
            editor.setChecked(bool(value))
        elif isinstance(editor, QSpinBox):
            editor.setValue(int(value))
        elif isinstance(editor, FloatEditWidget):
            editor.set_value(value)
        elif isinstance(editor, QLineEdit):
            editor.setText(", ".join(f"{v:g}" for v in value) if isinstance(value, (list, tuple)) else str(value))
        elif editor is not None:
            set_combo(editor, str(value))

    def values(self) -> dict[str, Any]:
        """The edited values; ValueError naming the field when one cannot be read."""
        out: dict[str, Any] = {}
        for key, editor in self.editors.items():
            default = self.defaults[key]
            if isinstance(editor, QCheckBox):
                out[key] = editor.isChecked()
            elif isinstance(editor, QSpinBox):
                out[key] = editor.value()
            elif isinstance(editor, FloatEditWidget):
                value = editor.value()
                if value is None:
                    raise ValueError(f"{_label(key)[:-1]} must be a number such as {default:g}.")
                out[key] = value
            elif isinstance(editor, QLineEdit) and isinstance(default, (list, tuple)):
                try:
                    parts = [p for p in editor.text().replace(";", ",").split(",") if p.strip()]
                    out[key] = [type(d)(float(p)) for p, d in zip(parts, list(default) * len(parts))]
                except ValueError:
                    raise ValueError(f"{_label(key)[:-1]} must be numbers separated by commas.") from None
            elif isinstance(editor, QLineEdit):
                out[key] = editor.text().strip()
            else:
                out[key] = editor.currentText()
        return out
