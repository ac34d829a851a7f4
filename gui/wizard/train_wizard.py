"""The training wizard: five pages that produce a :class:`TrainConfig`."""

from __future__ import annotations

import copy
from typing import Any

from PySide6.QtWidgets import QWizard

from engine.models import model_info
from engine.training.config import TrainConfig, build_config
from gui.wizard.data_pages import DatasetPage, SplitPage
from gui.wizard.model_page import ModelPage
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
        self.recipe_page.preset_chosen.connect(self._on_preset_chosen)
        default = TrainConfig()
        for page in self.pages[:4]:
            page.load(default)
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
        """Fill every page from preset ``name``; the dataset path, importer, cache and cap are kept."""
        cfg = build_config(name)
        self._base = cfg.to_dict()
        self.dataset_page.size_spin.setValue(cfg.data.image_size)
        self.dataset_page.normalize_combo.setCurrentText(cfg.data.normalize)
        self.split_page.load(cfg)
        self.model_page.load(cfg)
        self.recipe_page.load(cfg)

    def apply_preset(self, name: str) -> None:
        """Select preset ``name`` on the recipe page (fills all pages)."""
        self.recipe_page.preset_combo.setCurrentText(name)

    def config_dict(self) -> dict[str, Any]:
        """The settings of all pages merged over the chosen preset (or the defaults)."""
        d = copy.deepcopy(self._base)
        for page in self.pages[:4]:
            page.apply(d)
        if d.get("preset") is None:
            d["name"] = d["model"]["name"]
            d["model"].update(model_info(d["model"]["name"]).get("recipe", {}))
        return d

    def config(self) -> TrainConfig:
        """The wizard's settings as a validated TrainConfig (ConfigError when invalid)."""
        return TrainConfig.from_dict(self.config_dict())
