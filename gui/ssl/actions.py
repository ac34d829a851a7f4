"""The "Self-supervised" menu: pretrain, resume, probe / fine-tune, label-efficiency studies, view pairs."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog

from gui import errors
from gui.extensions import Extension, ExtensionHost
from gui.run_lists import is_ssl_run
from gui.workers import Job


def open_pretrain_wizard(window: ExtensionHost, dataset_path: str | None = None):
    """Open the pretraining wizard over ``window``; Finish queues the pretraining job. Returns the wizard."""
    from gui.ssl.pretrain_wizard import PretrainWizard

    actions = ssl_actions(window)
    wizard = PretrainWizard(dataset_path if dataset_path is not None else (window.dataset_path or ""), window,
                            runs_dir=window.runs_dir)
    wizard.accepted.connect(lambda: actions.start_pretrain(wizard.config()))
    actions.wizard = wizard
    wizard.open()  # window-modal, non-blocking
    return wizard


def ssl_actions(window: ExtensionHost) -> "SSLActions":
    """The :class:`SSLActions` installed on ``window`` (installed now if missing)."""
    actions = window.find_extension(SSLActions)
    return actions if actions is not None else install(window)


class SSLActions(Extension):
    """Slots behind the Self-supervised menu; everything long runs on ``window.queue``."""

    def __init__(self, window: ExtensionHost):
        super().__init__(window)
        self.dialog = None  # the last dialog opened (tests drive it)
        self.wizard = None  # the last pretraining wizard opened
        self.study_tabs: list = []

    # --- jobs ---------------------------------------------------------------
    def start_pretrain(self, config) -> Job:
        """Queue SSL pretraining of ``config`` (an SSLConfig) as a "train" job."""
        from engine.ssl.job import pretrain

        title = f"Pretrain {config.method} ({config.backbone})"
        return self.window.show_job(self.window.queue.submit(title, pretrain, config, kind="train"))

    def resume_pretrain(self, run_dir: str) -> Job:
        """Queue the resumption of the SSL run ``run_dir``."""
        from engine.ssl.job import resume_pretrain
        from gui.resume import queue_resume  # its curves start from the run's earlier epochs

        return queue_resume(self.window, f"Resume pretraining {Path(run_dir).name}", resume_pretrain, run_dir)

    def start_label_efficiency(self, config: dict) -> Job:
        """Queue a label-efficiency study; its plot opens in a tab when it finishes."""
        from engine.ssl.label_efficiency import label_efficiency

        job = self.window.queue.submit("Label efficiency study", label_efficiency, config, kind="train",
                                       on_finished=self.show_study)
        return self.window.show_job(job)

    # --- study tabs ---------------------------------------------------------
    def show_study(self, study) -> object:
        """Open a closable tab plotting ``study`` (a result dict with its folder, or a study folder path)."""
        from gui.studies.efficiency_plot import StudyEfficiencyPlotWidget  # means over the draws, +- 1 std bars

        widget = StudyEfficiencyPlotWidget()
        folder = study.get("path") if isinstance(study, dict) else study
        if folder and Path(folder).exists():
            widget.load(folder)
        else:
            widget.set_study(study)
        self.window.add_closable_tab(widget, f"Label efficiency {Path(folder).name if folder else ''}".strip(),
                                     on_close=self._forget, close_tip="Close this plot")
        self.study_tabs.append(widget)
        return widget

    def _close_tab(self, widget) -> None:
        self.window.close_tab(widget, self._forget)

    def _forget(self, widget) -> None:
        if widget in self.study_tabs:
            self.study_tabs.remove(widget)

    # --- helpers ------------------------------------------------------------
    def _runs_dir(self) -> str:
        from engine.paths import runs_dir

        return str(self.window.runs_dir or runs_dir())

    def selected_ssl_run(self) -> str | None:
        """The SSL run selected in the Runs tab, if any."""
        runs = [r for r in self.window.runs_tab.selected_runs() if is_ssl_run(r)]
        return str(runs[0].path) if runs else None

    # --- menu slots ---------------------------------------------------------
    def _on_pretrain(self) -> None:
        self.dialog = open_pretrain_wizard(self.window)

    def _on_resume(self) -> None:
        """Resume the selected SSL run (when it can be), else list the resumable SSL runs."""
        from gui.resume import ResumeActions

        resume = self.window.extension(ResumeActions)
        path = self.selected_ssl_run()
        row = resume.selected_row() if path else None
        if row is not None:
            resume.resume_row(row)
        else:
            self.dialog = resume.open_dialog(ssl_only=True)

    def _on_downstream(self) -> None:
        self.open_downstream(self.selected_ssl_run())

    def open_downstream(self, ssl_run: str | None = None):
        """Open the linear probe / fine-tune dialog (``ssl_run`` preselected); OK queues the training."""
        from gui.ssl.downstream_dialog import DownstreamDialog

        dialog = DownstreamDialog(self.window, runs_dir=self.window.runs_dir, dataset_path=self.window.dataset_path
                                  or "", ssl_run=ssl_run)
        dialog.accepted.connect(lambda: self.window.start_training(dialog.config()))
        self.dialog = dialog
        dialog.open()
        return dialog

    def _on_label_efficiency(self) -> None:
        from gui.ssl.label_efficiency_dialog import LabelEfficiencyDialog

        dialog = LabelEfficiencyDialog(self.window, runs_dir=self.window.runs_dir,
                                       dataset_path=self.window.dataset_path or "", ssl_run=self.selected_ssl_run())
        dialog.accepted.connect(lambda: self.start_label_efficiency(dialog.config()))
        self.dialog = dialog
        dialog.open()

    def _on_open_study(self) -> None:
        path = QFileDialog.getExistingDirectory(self.window, "Open a label-efficiency study folder", self._runs_dir())
        if not path:
            return
        if not (Path(path) / "results.json").is_file():
            errors.show_error(self.window, "Not a study", f"{path} has no results.json: choose the folder a "
                                                          "label-efficiency study wrote.")
            return
        self.show_study(path)

    def _on_show_views(self) -> None:
        from gui.ssl.view_pairs import ViewPairsDialog

        dialog = ViewPairsDialog(self.window, ssl_run=self.selected_ssl_run(),
                                 dataset_path=self.window.dataset_path or "")
        self.dialog = dialog
        dialog.show()


def install(window: ExtensionHost) -> SSLActions:
    """Add the "&Self-supervised" menu to ``window``; registers and returns the :class:`SSLActions` behind it."""
    actions = window.register(SSLActions(window))
    menu = window.menu("&Self-supervised")
    window.add_action(menu, "Pretrain (self-supervised)...", actions._on_pretrain)
    window.add_action(menu, "Resume pretraining...", actions._on_resume)
    menu.addSeparator()
    window.add_action(menu, "Linear probe / fine-tune from SSL run...", actions._on_downstream)
    window.add_action(menu, "Label efficiency study...", actions._on_label_efficiency)
    window.add_action(menu, "Open label-efficiency study...", actions._on_open_study)
    menu.addSeparator()
    window.add_action(menu, "Show augmented views...", actions._on_show_views)
    return actions
