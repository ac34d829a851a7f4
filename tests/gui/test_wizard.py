"""The training wizard, driven page by page."""

from __future__ import annotations

import os

import pytest

pytest.importorskip("PySide6")

from engine.training.config import TrainConfig, build_config

GRAB_DIR = os.environ.get("HISTODESK_GRAB_DIR", "/tmp")


@pytest.fixture
def wizard(qtbot, tmp_path):
    from gui.wizard import TrainWizard

    data = tmp_path / "data"
    data.mkdir()
    w = TrainWizard(str(data))
    qtbot.addWidget(w)
    w.show()
    return w


def _shown(label) -> bool:
    return not label.isHidden() and bool(label.text())


def test_wizard_pages_validate_and_build_config(wizard, tmp_path):
    w = wizard
    page = w.dataset_page
    assert w.currentPage() is page
    page.path_edit.setText(str(tmp_path / "missing"))
    w.next()
    assert w.currentPage() is page and _shown(page.error)
    page.path_edit.setText(str(tmp_path / "data"))
    page.size_spin.setValue(64)
    page.normalize_combo.setCurrentText("unit")
    page.max_spin.setValue(500)
    w.grab().save(os.path.join(GRAB_DIR, "histodesk_wizard_1_dataset.png"))
    w.next()

    split = w.split_page
    assert w.currentPage() is split
    split.ratio_spins[0].setValue(80)  # 80 + 15 + 15 = 110
    w.next()
    assert w.currentPage() is split and "100" in split.error.text() and _shown(split.error)
    w.grab().save(os.path.join(GRAB_DIR, "histodesk_wizard_2_split_error.png"))
    split.ratio_spins[0].setValue(60)
    split.ratio_spins[1].setValue(20)
    split.ratio_spins[2].setValue(20)
    split.seed_spin.setValue(7)
    split.init_seed_spin.setValue(3)
    split.group_combo.setCurrentIndex(1)
    w.next()

    model = w.model_page
    assert w.currentPage() is model
    model.model_combo.setCurrentText("basic_cnn")  # trained from scratch: never has ImageNet weights
    model.radio_imagenet.setChecked(True)
    assert "unavailable" in model.weights_label.text() and "b00020" in model.weights_label.styleSheet()
    w.next()
    assert w.currentPage() is model and _shown(model.error)
    w.grab().save(os.path.join(GRAB_DIR, "histodesk_wizard_3_model_error.png"))
    model.radio_file.setChecked(True)
    model.file_edit.setText(str(tmp_path / "nope.safetensors"))
    w.next()
    assert w.currentPage() is model and _shown(model.error)
    model.radio_none.setChecked(True)
    model.hidden_spin.setValue(64)
    model.dropout_spin.setValue(0.3)
    w.next()

    recipe = w.recipe_page
    assert w.currentPage() is recipe
    recipe.lr_edit.setText("0")
    w.next()
    assert w.currentPage() is recipe and "optim.lr: got 0.0; input should be greater than 0" in recipe.error.text()
    recipe.lr_edit.setText("5e-4")
    recipe.epochs_spin.setValue(3)
    recipe.schedule_combo.setCurrentText("step")
    recipe.augment.checks["hflip"].setChecked(True)
    recipe.augment.spins["rotation"].setValue(20)
    recipe.balanced_check.setChecked(True)
    w.grab().save(os.path.join(GRAB_DIR, "histodesk_wizard_4_recipe.png"))
    w.next()

    review = w.review_page
    assert w.currentPage() is review
    assert review.device_label.text()
    assert "basic_cnn" in review.text.toPlainText()
    review.json_check.setChecked(True)
    assert '"lr": 0.0005' in review.text.toPlainText()
    review.json_check.setChecked(False)
    w.grab().save(os.path.join(GRAB_DIR, "histodesk_wizard_5_review.png"))

    cfg = w.config()
    assert cfg.data.path == str(tmp_path / "data") and cfg.data.image_size == 64 and cfg.data.normalize == "unit"
    assert cfg.data.max_images == 500
    assert cfg.split.ratios == [0.6, 0.2, 0.2] and cfg.split.mode == "auto" and cfg.split.group_by == "slide"
    assert cfg.split.seed == 7 and cfg.seed == 3  # the split seed is not the initialisation seed
    model = cfg.model
    assert (model.name, model.pretrained, model.head_hidden, model.dropout) == ("basic_cnn", "none", 64, 0.3)
    assert cfg.optim.lr == 5e-4 and cfg.epochs == 3 and cfg.schedule.name == "step"
    assert cfg.augment.hflip and cfg.augment.rotation == 20 and cfg.loss.class_weights == "balanced"
    assert cfg.preset is None
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg


@pytest.mark.parametrize("preset", ["s1-basic-cnn", "s3-hybrid"])
def test_preset_fills_every_page(wizard, preset):
    w = wizard
    assert w.currentPage() is w.dataset_page and w.dataset_page.preset_box.isVisible()  # the preset comes first
    w.dataset_page.preset_box.combo.setCurrentText(preset)
    cfg, ref = w.config().to_dict(), build_config(preset).to_dict()
    assert cfg["data"]["path"] == w.dataset_page.path_edit.text()
    cfg["data"]["path"] = ref["data"]["path"]
    assert cfg == ref
    # A custom edit on top of the preset shows in the config.
    w.recipe_page.batch_spin.setValue(12)
    w.recipe_page.phases.table.item(0, 1).setText("2") if w.recipe_page.phases.table.rowCount() else None
    edited = w.config()
    assert edited.batch_size == 12 and edited.preset == preset
    if ref["phases"]:
        assert edited.phases[0].epochs == 2
        assert edited.phases[1].trainable == ref["phases"][1]["trainable"]


def test_imagenet_model_status_and_bad_phase(wizard):
    from engine.models import weights_status

    w = wizard
    w.model_page.model_combo.setCurrentText("resnet18")
    w.model_page.radio_imagenet.setChecked(True)
    st = weights_status("resnet18")
    assert ("unavailable" in w.model_page.weights_label.text()) != st.available
    w.recipe_page.phases._on_add()
    w.recipe_page.phases.table.item(0, 2).setText("{bad json")
    assert not w.recipe_page.validatePage()
    assert "trainable" in w.recipe_page.error.text()


def test_split_page_lists_every_split_mode_and_grouping():
    from engine.schema import choices
    from engine.training.config import SplitConfig
    from gui.wizard.data_pages import GROUP_BY, SPLIT_MODES

    assert [m for m, _ in SPLIT_MODES] == choices(SplitConfig, "mode")
    assert [g for g, _ in GROUP_BY] == choices(SplitConfig, "group_by")


def test_split_note_and_estimate_use_catalog(qtbot, tmp_path):
    from types import SimpleNamespace

    from gui.wizard import TrainWizard

    catalog = SimpleNamespace(has_patients=True, records=[object()] * 40, summary=lambda: {"patients": 6})
    w = TrainWizard(str(tmp_path), catalog=catalog)
    qtbot.addWidget(w)
    w.show()
    assert "6 patients" in w.split_page.mode_note.text() and "patient-level" in w.split_page.mode_note.text()
    for _ in range(4):
        w.next()
    assert w.currentPage() is w.review_page
    assert "estimate" in w.review_page.estimate_label.text() and "40 images" in w.review_page.estimate_label.text()


def _marked_tip(widget) -> str:
    from gui.wizard.change_marks import is_marked

    return widget.toolTip() if is_marked(widget) else ""


def test_edits_after_a_preset_are_marked_listed_and_kept_on_another_preset(wizard):
    w = wizard
    box = w.dataset_page.preset_box
    w.apply_preset("s1-resnet50-transfer")
    assert w.changes() == {} and "All settings as in preset s1-resnet50-transfer" in box.status.text()
    recipe, model = w.recipe_page, w.model_page
    assert not _marked_tip(recipe.lr_edit) and recipe.lr_edit.text() == "0.001"
    recipe.lr_edit.setText("5e-4")
    model.dropout_spin.setValue(0.25)
    model.radio_none.setChecked(True)  # no ImageNet weights offline
    assert _marked_tip(recipe.lr_edit).startswith("Changed from preset s1-resnet50-transfer (was 0.001)")
    assert "was 0" in _marked_tip(model.dropout_spin)
    assert "(was imagenet)" in _marked_tip(model.radio_none)
    assert not _marked_tip(recipe.batch_spin)
    assert set(w.changes()) == {"optim.lr", "model.dropout", "model.pretrained"}
    assert "3 setting(s) changed from preset s1-resnet50-transfer" in box.status.text()
    assert "3 setting(s) changed" in recipe.preset_note.text()
    recipe.lr_edit.setText("0.001")  # back to the preset's value: no longer a change
    assert not _marked_tip(recipe.lr_edit) and set(w.changes()) == {"model.dropout", "model.pretrained"}
    recipe.lr_edit.setText("5e-4")
    # the review page lists each change as "key: preset value -> yours"
    for _ in range(4):
        w.next()
    assert w.currentPage() is w.review_page
    text = w.review_page.changes_label.text()
    assert "s1-resnet50-transfer, with 3 change(s)" in text and "optim.lr: 0.001 → 0.0005" in text
    assert "model.dropout: 0 → 0.25" in text
    w.grab().save(os.path.join(GRAB_DIR, "histodesk_wizard_5_review_changes.png"))
    # another preset with "keep my edits" (the default): the edits stay, on top of the new preset
    assert box.keep_check.isChecked() and "Keep my edits" in box.keep_check.text()
    w.apply_preset("s1-vgg16-transfer")
    cfg, ref = w.config(), build_config("s1-vgg16-transfer")
    assert cfg.preset == "s1-vgg16-transfer" and cfg.model.name == ref.model.name
    assert cfg.optim.lr == 5e-4 and cfg.model.dropout == 0.25 and cfg.phases == ref.phases
    assert set(w.changes()) == {"optim.lr", "model.dropout", "model.pretrained"} and _marked_tip(recipe.lr_edit)
    # unchecked: the next preset replaces every setting, and nothing is marked
    box.keep_check.setChecked(False)
    w.apply_preset("s1-basic-cnn")
    assert w.changes() == {} and not _marked_tip(recipe.lr_edit) and not _marked_tip(model.dropout_spin)
    ref = build_config("s1-basic-cnn").to_dict()
    got = w.config().to_dict()
    got["data"]["path"] = ref["data"]["path"]
    assert got == ref
    # custom: the fields stay as they are, no marks, no preset in the config
    recipe.lr_edit.setText("2e-3")
    w.apply_preset("custom")
    assert w.config().preset is None and w.config().optim.lr == 2e-3 and not _marked_tip(recipe.lr_edit)
    assert not box.keep_check.isEnabled() and "Custom recipe" in recipe.preset_note.text()


def test_first_page_shows_the_preset_box(wizard):
    w = wizard
    w.resize(860, 680)
    w.apply_preset("s1-resnet50-transfer")
    w.recipe_page.lr_edit.setText("5e-4")
    w.dataset_page.size_spin.setValue(192)
    assert "ResNet50" in w.dataset_page.preset_box.description.text()
    assert _marked_tip(w.dataset_page.size_spin).endswith("(was 224)")
    w.grab().save(os.path.join(GRAB_DIR, "histodesk_wizard_1_preset.png"))
    w.model_page.radio_none.setChecked(True)  # no ImageNet weights offline
    w.next()
    w.next()
    w.next()
    assert w.currentPage() is w.recipe_page
    w.grab().save(os.path.join(GRAB_DIR, "histodesk_wizard_4_recipe_marked.png"))


def test_preset_changes_helpers():
    from gui.wizard.preset_changes import change_lines, changes, flatten, nest, same

    ref = {"optim": {"lr": 1e-3, "name": "adam"}, "data": {"path": "a", "image_size": 224}, "phases": []}
    cur = {"optim": {"lr": 0.001 + 1e-15, "name": "sgd"}, "data": {"path": "b", "image_size": 224},
           "phases": [{"name": "p", "epochs": 2}]}
    found = changes(ref, cur)
    assert found == {"optim.name": ("adam", "sgd"), "phases": ([], [{"name": "p", "epochs": 2}])}  # path ignored
    assert change_lines(found) == ["optim.name: adam → sgd", "phases: none → 1 phases (2 epochs)"]
    assert nest(flatten(cur)) == cur and same([0.15, 1], [15 / 100, 1.0]) and not same(True, 1.5)
