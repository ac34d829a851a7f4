"""Run actions of the Runs tab and the Analyze menu: evaluate on another dataset, export a report, compare.

Installed by :mod:`gui.extensions`; the buttons sit under the runs list and in
its context menu. Every long step is a job on the window's queue.
"""

from __future__ import annotations

from pathlib import Path

from gui import errors
from gui.extensions import Extension, ExtensionHost
from gui.workers import Job


def _evaluate_external_job(run: str, dataset: str, label_map: dict, name: str | None, tta, *, progress,
                           cancel) -> dict:
    from engine.evaluation.external import evaluate_external

    return evaluate_external(run, dataset, label_map=label_map, name=name, tta=tta, progress=progress, cancel=cancel)


class ResultsActions(Extension):
    """Slots behind the run actions; ``dialog`` is the last dialog opened (tests drive it)."""

    def __init__(self, window: ExtensionHost):
        super().__init__(window)
        self.dialog = None

    def _selected(self):
        runs = self.window.runs_tab.selected_runs()
        return runs[0] if runs else None

    # --- external evaluation ------------------------------------------------
    def open_external_dialog(self):
        """Open "Evaluate on another dataset..." for the selected run; Evaluate queues the job."""
        from gui.results.external_dialog import ExternalEvaluationDialog

        runs = self.window.runs_list.runs()
        dialog = ExternalEvaluationDialog(runs, self.window, current=self._selected())
        if not dialog.runs:
            errors.show_info(self.window, "Evaluate on another dataset", "No finished run with saved weights yet: "
                             "train a model first.")
            return None
        dialog.accepted.connect(lambda: self.evaluate_external(**dialog.request()))
        self.dialog = dialog
        dialog.open()
        return dialog

    def evaluate_external(self, run: str, dataset: str, label_map: dict, name: str | None = None,
                          tta=False) -> Job:
        """Queue the external evaluation; when it ends the run is selected in the Runs tab with the evaluation
        shown under its own name (like a finished training, the Jobs tab stays in front)."""
        job = self.window.queue.submit(f"Evaluate {Path(run).name} on {Path(dataset).name}", _evaluate_external_job,
                                       run, dataset, label_map, name, tta, kind="evaluate",
                                       on_finished=lambda result: self._show_external(run, result))
        return self.window.show_job(job)

    def _show_external(self, run: str, result: dict) -> None:
        name = (result.get("meta") or {}).get("name", "")
        view = self.window.run_view
        shown = view.run
        self.window.refresh_runs()
        self.window.runs_tab.select_run(run)  # shows the run (re-read) unless it was selected already
        self.window.statusBar().showMessage(f"External evaluation '{name}' of {Path(run).name} is ready: Runs tab, "
                                            f"split 'external: {name}'.", 15000)
        if view.run is shown:
            from engine.runs import Run

            view.set_run(Run(Path(run)), split=name)  # re-read: the new evaluation joins the split list
        else:
            view.select_split(name)

    # --- reports and comparisons --------------------------------------------
    def open_report_dialog(self, path: str | None = None):
        """Export the report of ``path`` (the selected run when None)."""
        from gui.report_action import open_report_dialog

        run = self._selected()
        target = path or (str(run.path) if run is not None else None)
        if target is None:
            errors.show_info(self.window, "Export report", "Select a run in the Runs tab first.")
            return None
        self.dialog = open_report_dialog(self.window, target)
        return self.dialog


def install(window: ExtensionHost) -> ResultsActions:
    """Add the run actions to the Runs tab and the Analyze menu of ``window``; registers the :class:`ResultsActions`."""
    from gui.results.compare import side_queue

    actions = window.register(ResultsActions(window))
    menu = window.menu("&Analyze")
    menu.addSeparator()
    window.add_action(menu, "Evaluate on another dataset...", lambda: actions.open_external_dialog())
    window.add_action(menu, "Compare selected runs", window.runs_tab.compare_selected)
    window.add_action(menu, "Export report of selected run...", lambda: actions.open_report_dialog())
    window.runs_tab.add_run_action("Evaluate on another dataset…", actions.open_external_dialog,
                                   "Evaluate the selected run on every image of another dataset (label map)")
    window.runs_tab.add_run_action("Export report…", lambda: actions.open_report_dialog(),
                                   "An HTML and PDF report of the selected run")
    window.add_quit_hook(lambda: side_queue().cancel_all_and_wait(5000))
    return actions
