"""The "Study" menu: New study..., Resume study..., Open study...; studies run as one job on the window's queue."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog

from gui import errors
from gui.extensions import Extension, ExtensionHost
from gui.workers import CANCELLED, DONE, Job


def study_actions(window: ExtensionHost) -> "StudyActions":
    """The :class:`StudyActions` installed on ``window`` (installed now if missing)."""
    actions = window.find_extension(StudyActions)
    return actions if actions is not None else install(window)


class StudyActions(Extension):
    """Slots behind the Study menu; ``dialog`` is the last dialog opened, ``views`` the open study tabs."""

    def __init__(self, window: ExtensionHost):
        super().__init__(window)
        self.dialog = None
        self.views: list = []

    def _runs_dir(self) -> str:
        from engine.paths import runs_dir

        return str(self.window.runs_dir or runs_dir())

    # --- jobs ---------------------------------------------------------------
    def start_study(self, config) -> Job:
        """Queue ``run_study(config)`` (a StudyConfig) as one job; its results open in a tab when it ends."""
        from engine.studies import run_study

        title = f"Study {config.preset or 'custom'} ({config.kind}, {config.name or 'new'})"
        return self.window.show_job(self.window.queue.submit(title, run_study, config, kind="study",
                                                            on_finished=self._on_study_done))

    def resume_study(self, path: str) -> Job:
        """Queue the resumption of the study in folder ``path`` (completed runs kept)."""
        from engine.studies import resume_study

        return self.window.show_job(self.window.queue.submit(f"Resume study {Path(path).name}", resume_study,
                                                            str(path), kind="study", on_finished=self._on_study_done))

    def _on_job_ended(self, job: Job) -> None:
        """A cancelled or failed study: its runs so far are listed, and a cancelled one's results shown."""
        if job.kind != "study" or job.state == DONE:
            return
        self.window.refresh_runs()
        if job.state == CANCELLED and isinstance(job.result, dict) and job.result.get("path"):
            self.open_study(job.result["path"])

    def _on_study_done(self, results: dict) -> None:
        self.window.refresh_runs()
        self.open_study(results["path"])

    # --- study tabs ---------------------------------------------------------
    def open_study(self, path: str):
        """Open (or refresh) the tab of the study in ``path``; its runs are grouped in the Runs tab."""
        from gui.studies.study_view import StudyResultsWidget

        for view in self.views:
            if view.study.get("path") == str(Path(path)):
                view.load(path)
                self.window.tabs.setCurrentWidget(view)
                return view
        view = StudyResultsWidget()
        view.load(path)
        view.runs_button.clicked.connect(lambda: self.show_runs(view))
        view.resume_button.clicked.connect(lambda: self.resume_study(view.study["path"]))
        view.report_button.clicked.connect(lambda: self.export_report(view.study["path"]))
        view.run_activated.connect(self._on_run_activated)
        self.window.add_closable_tab(view, f"Study {Path(path).name}", tooltip=str(path), on_close=self._forget,
                                     close_tip="Close this study")
        self.views.append(view)
        return view

    def show_runs(self, view) -> None:
        """Show the study's runs in the Runs tab."""
        self.window.refresh_runs()
        self.window.runs_tab.show_study(view.study.get("name", ""))
        self.window.tabs.setCurrentWidget(self.window.runs_tab)

    def export_report(self, path: str):
        """Open the report dialog for the study in ``path``."""
        from gui.report_action import open_report_dialog

        self.dialog = open_report_dialog(self.window, path)
        return self.dialog

    def _on_run_activated(self, run: str) -> None:
        self.window.refresh_runs()
        self.window.runs_tab.select_run(run)
        self.window.tabs.setCurrentWidget(self.window.runs_tab)

    def _forget(self, view) -> None:
        if view in self.views:
            self.views.remove(view)

    # --- menu slots ---------------------------------------------------------
    def _on_new(self):
        from gui.studies.study_dialog import NewStudyDialog

        dialog = NewStudyDialog(self.window, dataset=self.window.dataset_path or "", runs_dir=self.window.runs_dir)
        dialog.accepted.connect(lambda: self.start_study(dialog.config()))
        self.dialog = dialog
        dialog.open()  # window-modal, non-blocking
        return dialog

    def _choose_study(self, title: str) -> str | None:
        from engine.studies.store import is_study, studies_dir

        path = QFileDialog.getExistingDirectory(self.window, title, str(studies_dir(self._runs_dir())))
        if not path:
            return None
        if not is_study(path):
            errors.show_error(self.window, "Not a study", f"{path} is not a study folder (no results.json): choose "
                              "a folder under <runs>/studies/.")
            return None
        return path

    def _on_resume(self) -> None:
        path = self._choose_study("Resume which study?")
        if path:
            self.resume_study(path)

    def _on_open(self) -> None:
        path = self._choose_study("Open a study")
        if path:
            self.open_study(path)


def install(window: ExtensionHost) -> StudyActions:
    """Add the "&Study" menu to ``window``; registers and returns the :class:`StudyActions` behind it."""
    actions = window.register(StudyActions(window))
    menu = window.menu("&Study")
    window.add_action(menu, "New study...", lambda: actions._on_new())
    window.add_action(menu, "Resume study...", lambda: actions._on_resume())
    window.add_action(menu, "Open study...", lambda: actions._on_open())
    window.queue.job_finished.connect(actions._on_job_ended)
    window.queue.job_failed.connect(lambda job, _m, _t: actions._on_job_ended(job))
    return actions
