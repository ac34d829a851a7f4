"""The pretraining wizard: images -> method -> backbone -> augmented views -> review, giving an SSLConfig."""

from __future__ import annotations

import copy
from typing import Any

from PySide6.QtWidgets import QFormLayout, QVBoxLayout, QWizard, QWizardPage

from engine.errors import HistoDeskError
from gui.ssl.pretrain_pages import SSLBackbonePage, SSLDataPage, SSLMethodPage
from gui.ssl.view_pairs import ViewPairsWidget
from gui.wizard.fields import show_error
from gui.wizard.review_page import ReviewPage

PREVIEW_MAX_PX = 160  # views are previewed at min(image size, this) to stay quick


class SSLViewsPage(QWizardPage):
    """The pairs of augmented views the chosen method trains on, for sample images of the dataset."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setTitle("Augmented views")
        self.setSubTitle("What the method sees: each row shows views of one image that the loss treats as a "
                         "positive pair. Check that the augmentations keep the tissue recognisable.")
        self.views = ViewPairsWidget(n=4)
        layout = QVBoxLayout(self)
        layout.addWidget(self.views, 1)

    def initializePage(self) -> None:
        """Show the current method's views for sample images of the chosen folder."""
        wizard = self.wizard()
        self.views.method = wizard.method_page.method()
        self.views.hparams = wizard.method_page.hparams.values()
        self.views.image_size = min(wizard.method_page.size_spin.value(), PREVIEW_MAX_PX)
        self.views.set_folder(wizard.data_page.path())


class SSLReviewPage(ReviewPage):
    """The training wizard's review page for an :class:`SSLConfig`: the resolved config and the device."""

    def __init__(self, parent=None):
        super().__init__(None, parent)
        self.setSubTitle("Check the settings; Finish starts pretraining as a job (Jobs tab: loss curve, ETA, "
                         "Cancel). A cancelled run can be resumed.")
        form = self.layout().itemAt(0).layout()
        if isinstance(form, QFormLayout):
            form.setRowVisible(self.estimate_label, False)  # no speed table for SSL methods

    def initializePage(self) -> None:
        """Resolve and validate the config from the earlier pages."""
        from engine.training.devices import describe_device, select_device

        try:
            cfg = self.wizard().config()
            self._dict = cfg.to_dict()
            self.device_label.setText(describe_device(select_device(cfg.device)))
            show_error(self.error, "")
        except (HistoDeskError, ValueError) as exc:
            self._dict = self.wizard().config_dict()
            self.device_label.setText("?")
            show_error(self.error, str(exc))
        self._on_json_toggled(self.json_check.isChecked())

    def validatePage(self) -> bool:
        """The resolved config must be valid."""
        try:
            self.wizard().config()
        except (HistoDeskError, ValueError) as exc:
            return show_error(self.error, str(exc))
        return show_error(self.error, "")


class PretrainWizard(QWizard):
    """Images -> method -> backbone -> views -> review; :meth:`config` gives the :class:`SSLConfig`.

    ``runs_dir``: where the run folder goes (None: the default runs folder).
    """

    def __init__(self, dataset_path: str = "", parent=None, runs_dir: str | None = None):
        super().__init__(parent)
        self.setWindowTitle("Self-supervised pretraining")
        self.setWizardStyle(QWizard.WizardStyle.ClassicStyle)
        self.setOption(QWizard.WizardOption.NoBackButtonOnStartPage, True)
        self.resize(860, 720)
        self.runs_dir = runs_dir
        self.data_page = SSLDataPage(dataset_path)
        self.method_page = SSLMethodPage()
        self.backbone_page = SSLBackbonePage()
        self.views_page = SSLViewsPage()
        self.review_page = SSLReviewPage()
        self.pages = [self.data_page, self.method_page, self.backbone_page, self.views_page, self.review_page]
        for page in self.pages:
            self.addPage(page)
        self.data_page.inspected.connect(lambda _info: self.method_page.set_labelled(self.data_page.labelled()))
        self.method_page.set_labelled(self.data_page.labelled())

    def config_dict(self) -> dict[str, Any]:
        """The settings of every page merged over the SSLConfig defaults."""
        from engine.ssl.config import SSLConfig

        d = copy.deepcopy(SSLConfig().to_dict())
        for page in (self.data_page, self.method_page, self.backbone_page):
            page.apply(d)
        d["name"] = f"{d['method']}-{d['backbone']}"
        if self.runs_dir:
            d["runs_dir"] = str(self.runs_dir)
        return d

    def config(self):
        """The wizard's settings as a validated :class:`engine.ssl.config.SSLConfig` (ConfigError if invalid)."""
        from engine.ssl.config import SSLConfig

        return SSLConfig.from_dict(self.config_dict())
