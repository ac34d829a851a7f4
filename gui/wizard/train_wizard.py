"""The training wizard: five pages that produce a :class:`TrainConfig`.

The preset is chosen first (on the dataset page) and fills the later pages;
a setting the user then changes is marked in amber with the preset's value on
hover, and the review page lists every change.
"""

from __future__ import annotations

import copy
from typing import Any

from PySide6.QtWidgets import QWizard

from engine.errors import ConfigError
from engine.models import model_info
from engine.training.config import TrainConfig, build_config
from gui.wizard.change_marks import on_change, set_mark
from gui.wizard.data_pages import DatasetPage, SplitPage
from gui.wizard.model_page import ModelPage
from gui.wizard.preset_changes import changes, nest, show_value
from gui.wizard.recipe_page import RecipePage
from gui.wizard.review_page import ReviewPage


class TrainWizard(QWizard):
    """Dataset -> split -> model -> recipe -> review; :meth:`config` gives the resulting TrainConfig.

    ``catalog`` (an :class:`engine.data.catalog.Catalog`, optional) tells the
    split page whether patient ids are known and the review page how many
    images there are.
    """

    def __init__(self, dataset_path: str, parent=None, catalog=None):
        super().__init__(parent)
        self.setWindowTitle("New training run")
        self.setWizardStyle(QWizard.WizardStyle.ClassicStyle)
        self.setOption(QWizard.WizardOption.NoBackButtonOnStartPage, True)
        self.resize(860, 680)
        self._base: dict[str, Any] = TrainConfig().to_dict()
        self.dataset_page = DatasetPage(dataset_path)
        self.split_page = SplitPage(catalog)
        self.model_page = ModelPage()
        self.recipe_page = RecipePage()
        self.review_page = ReviewPage(catalog)
        self.pages = [self.dataset_page, self.split_page, self.model_page, self.recipe_page, self.review_page]
        for page in self.pages:
            self.addPage(page)
        self._reference: dict[str, Any] | None = None  # the preset's settings, None for a custom recipe
        self._loading = False
        default = TrainConfig()
        for page in self.pages[:4]:
            page.load(default)
        self.fields: dict[str, list] = {}
        for page in self.pages[:4]:
            self.fields.update(page.field_widgets())
        for widgets in self.fields.values():
            for widget in widgets:
                on_change(widget, self._refresh_changes)
        self.preset_box = self.dataset_page.preset_box
        self.preset_box.chosen.connect(self._on_preset_chosen)
        self._show_preset()
        self._add_ssl_branch()

    def _add_ssl_branch(self) -> None:
        """A "Self-supervised pretraining..." button on the first page handing over to gui.ssl's wizard."""
        from gui.extensions import ExtensionHost
        from gui.ssl.actions import open_pretrain_wizard

        host = self.parentWidget()
        if not isinstance(host, ExtensionHost):  # e.g. a wizard opened on its own, in a test
            return
        self.setButtonText(QWizard.WizardButton.CustomButton1, "Self-supervised pretraining…")
        self.setOption(QWizard.WizardOption.HaveCustomButton1, True)
        self.currentIdChanged.connect(lambda page_id: self.button(QWizard.WizardButton.CustomButton1).setVisible(
            page_id == self.startId()))
        self.customButtonClicked.connect(lambda _which: (self.reject(), open_pretrain_wizard(
            host, self.dataset_page.path_edit.text())))

    def _on_preset_chosen(self, name: str) -> None:
        """Fill every page from preset ``name``, keeping the changes from the previous preset when the box says so;
        the dataset path, importer, cache and cap are always kept. ``custom`` keeps the fields as they are."""
        if self.preset_box.name() is None:
            self._reference = None
            self._show_preset()
            return
        edits = {key: now for key, (_was, now) in self.changes().items()} if self.preset_box.keep_edits() else {}
        reference = build_config(name)
        note = ""
        try:
            cfg = build_config(name, nest(edits)) if edits else reference
        except ConfigError as exc:
            cfg, note = reference, f"Your edits could not be kept on this preset ({exc}); its settings are shown."
        self._base, self._reference = reference.to_dict(), reference.to_dict()
        self._loading = True
        try:
            self.dataset_page.size_spin.setValue(cfg.data.image_size)
            self.dataset_page.normalize_combo.setCurrentText(cfg.data.normalize)
            for page in (self.split_page, self.model_page, self.recipe_page):
                page.load(cfg)
        finally:
            self._loading = False
        self._show_preset(note)

    def _refresh_changes(self, *_args) -> None:
        if not self._loading:
            self._show_preset()

    def _show_preset(self, note: str = "") -> None:
        """Mark the fields changed from the preset and say so on the first and the recipe page."""
        found = self.changes()
        name = self.preset_box.name()
        for key, widgets in self.fields.items():
            tip = f"Changed from preset {name} (was {show_value(found[key][0])})" if key in found else None
            for widget in widgets:
                set_mark(widget, tip)
        self.preset_box.show_changes(len(found), note)
        self.recipe_page.preset_note.setText(
            f"Preset {name} (chosen on the first page): {len(found)} setting(s) changed from it, marked in amber."
            if name else "Custom recipe (no preset chosen on the first page): every field is yours to set.")

    def changes(self) -> dict[str, tuple[Any, Any]]:
        """``{dotted key: (preset value, current value)}`` of each setting changed from the preset ({} if custom)."""
        if self._reference is None:
            return {}
        return changes(self._reference, self.config_dict())

    def apply_preset(self, name: str) -> None:
        """Select preset ``name`` on the first page (fills all pages)."""
        self.preset_box.combo.setCurrentText(name)

    def config_dict(self) -> dict[str, Any]:
        """The settings of all pages merged over the chosen preset (or the defaults)."""
        d = copy.deepcopy(self._base)
        for page in self.pages[:4]:
            page.apply(d)
        d["preset"] = self.preset_box.name()
        if d.get("preset") is None:
            d["name"] = d["model"]["name"]
            d["model"].update(model_info(d["model"]["name"]).get("recipe", {}))
        return d

    def config(self) -> TrainConfig:
        """The wizard's settings as a validated TrainConfig (ConfigError when invalid)."""
        return TrainConfig.from_dict(self.config_dict())
