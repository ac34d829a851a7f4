"""Spin boxes backed by a config field take their range from the schema; cross-field rules come from it too."""

from __future__ import annotations

import os

import pytest

pytest.importorskip("PySide6")

from PySide6.QtWidgets import QDoubleSpinBox

from engine.errors import ConfigError
from engine.schema import bounds
from engine.ssl.config import SSLConfig
from engine.ssl.label_efficiency import LabelEfficiencyConfig
from engine.training.config import (
    AugmentConfig, DataConfig, EarlyStoppingConfig, LossConfig, ModelConfig, ScheduleConfig, SplitConfig, TrainConfig,
)

GRAB_DIR = os.environ.get("HISTODESK_GRAB_DIR", "/tmp")
INT_MAX = 2_147_483_647


def expected_range(box, cls, field, fallback_max=None, none_below=False) -> tuple[float, float]:
    """The range a spin box should have: the schema's, an excluded end moved in one step, open ends the fallback."""
    b = bounds(cls, field)
    step = 10 ** -box.decimals() if isinstance(box, QDoubleSpinBox) else 1
    lo = b.lo + (0 if b.lo_inclusive else step) - (step if none_below else 0)
    hi = fallback_max if b.hi is None else b.hi - (0 if b.hi_inclusive else step)
    return pytest.approx(lo), pytest.approx(hi)


def _check(boxes) -> None:
    for box, cls, field, *rest in boxes:
        assert (box.minimum(), box.maximum()) == expected_range(box, cls, field, *rest), f"{cls.__name__}.{field}"


@pytest.fixture
def wizard(qtbot, tmp_path):
    from gui.wizard import TrainWizard

    w = TrainWizard(str(tmp_path))
    qtbot.addWidget(w)
    return w


def test_train_wizard_spin_boxes_follow_the_schema(wizard):
    recipe, data, split, model = wizard.recipe_page, wizard.dataset_page, wizard.split_page, wizard.model_page
    sched = recipe.sched
    _check([
        (recipe.epochs_spin, TrainConfig, "epochs", 10_000), (recipe.batch_spin, TrainConfig, "batch_size", 4096),
        (sched["factor"], ScheduleConfig, "factor"), (sched["gamma"], ScheduleConfig, "gamma"),
        (sched["patience"], ScheduleConfig, "patience", 1000), (sched["step_size"], ScheduleConfig, "step_size", 1000),
        (recipe.es_patience, EarlyStoppingConfig, "patience", 1000),
        (recipe.es_min_epochs, EarlyStoppingConfig, "min_epochs", 1000),
        (recipe.smoothing_spin, LossConfig, "label_smoothing"),
        *[(box, AugmentConfig, name) for name, box in recipe.augment.spins.items()],
        (data.size_spin, DataConfig, "image_size"), (data.max_spin, DataConfig, "max_images", 10_000_000, True),
        (split.kfold_spin, SplitConfig, "k_folds", 20), (split.seed_spin, SplitConfig, "seed", INT_MAX),
        (split.init_seed_spin, TrainConfig, "seed", INT_MAX),
        (model.hidden_spin, ModelConfig, "head_hidden", 8192, True), (model.dropout_spin, ModelConfig, "dropout"),
    ])
    # spot checks in plain numbers: open ends step in, closed ends stay, None sits below the minimum
    assert (sched["gamma"].minimum(), sched["gamma"].maximum()) == (0.01, 1.0)
    assert (recipe.smoothing_spin.minimum(), recipe.smoothing_spin.maximum()) == (0.0, 0.99)
    assert (data.size_spin.minimum(), data.size_spin.maximum()) == (8, 4096)
    assert data.max_spin.minimum() == 0 and data.max_spin.specialValueText() == "all images"


def test_ssl_dialogs_spin_boxes_follow_the_schema(qtbot, tmp_path):
    from gui.ssl.label_efficiency_dialog import LabelEfficiencyDialog
    from gui.ssl.pretrain_pages import SSLMethodPage

    page = SSLMethodPage()
    qtbot.addWidget(page)
    le = LabelEfficiencyDialog(runs_dir=str(tmp_path))
    qtbot.addWidget(le)
    _check([
        (page.epochs_spin, SSLConfig, "epochs", 10_000), (page.batch_spin, SSLConfig, "batch_size", 4096),
        (page.size_spin, DataConfig, "image_size"), (page.val_spin, SSLConfig, "val_fraction"),
        (page.knn_spin, SSLConfig, "knn_every", 1000), (page.patience_spin, SSLConfig, "patience", 1000),
        (le.epochs_spin, LabelEfficiencyConfig, "epochs", 10_000),
        (le.frozen_spin, LabelEfficiencyConfig, "frozen_epochs", 10_000),
        (le.draws_spin, LabelEfficiencyConfig, "draws", 50),
    ])
    assert page.batch_spin.minimum() == 2  # contrastive losses compare images


def test_label_efficiency_dialog_refuses_frozen_epochs_through_the_schema(qtbot, tmp_path):
    from gui.ssl.label_efficiency_dialog import LabelEfficiencyDialog

    dialog = LabelEfficiencyDialog(runs_dir=str(tmp_path), dataset_path="demo")
    qtbot.addWidget(dialog)
    dialog.encoder_checks["ssl"].setChecked(False)  # no SSL run needed
    dialog.mode_combo.setCurrentText("finetune")
    dialog.epochs_spin.setValue(3)
    dialog.frozen_spin.setValue(3)
    with pytest.raises(ConfigError, match=r"frozen_epochs \(3\) must be below epochs \(3\)"):
        dialog.config()
    dialog.show()
    dialog.ok_button.click()
    assert dialog.result() == 0 and "must be below epochs" in dialog.error.text() and dialog.error.isVisible()
    dialog.grab().save(os.path.join(GRAB_DIR, "histodesk_label_efficiency_frozen_error.png"))
    dialog.frozen_spin.setValue(2)
    assert dialog.config()["frozen_epochs"] == 2
    dialog.mode_combo.setCurrentText("probe")  # the encoder is never unfrozen: the rule does not apply
    dialog.frozen_spin.setValue(3)
    assert dialog.config()["frozen_epochs"] == 0


def test_study_dialog_spin_boxes_follow_the_schema(qtbot, tmp_path):
    from engine.studies import StudyConfig
    from gui.studies.study_dialog import NewStudyDialog

    d = NewStudyDialog(dataset="demo", runs_dir=str(tmp_path / "runs"))
    qtbot.addWidget(d)
    _check([
        (d.folds_spin, StudyConfig, "folds", 20), (d.draws_spin, StudyConfig, "draws", 20),
        (d.steps_spin, StudyConfig, "steps", 10_000_000, True), (d.epochs_spin, StudyConfig, "epochs", 10_000, True),
        (d.size_spin, StudyConfig, "image_size", None, True),
        (d.max_images_spin, StudyConfig, "max_images", 10_000_000, True),
        (d.batch_spin, StudyConfig, "batch_size", 4096, True),
    ])
    assert d.size_spin.minimum() == 7 and d.size_spin.text() == "preset's"  # one below 8 px: not overridden
    assert "image_size" not in d.overrides()
    d.size_spin.setValue(8)
    assert d.overrides()["image_size"] == 8


def test_classify_dialog_batch_size_follows_the_schema(qtbot, tmp_path):
    from engine.evaluation.predict_options import MAX_BATCH_SIZE, PredictOptions
    from gui.deploy.classify_dialog import ClassifyFolderDialog

    d = ClassifyFolderDialog(str(tmp_path))
    qtbot.addWidget(d)
    _check([(d.batch_spin, PredictOptions, "batch_size")])
    assert (d.batch_spin.minimum(), d.batch_spin.maximum(), d.batch_spin.value()) == (1, MAX_BATCH_SIZE, 32)
