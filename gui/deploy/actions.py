"""Deploy actions in the main window: File > Classify folder..., File > Export model to ONNX...

Both run their engine call as a job of the window's queue (progress, ETA and
cancel in the Jobs tab). The "Classifications" tab
(:class:`~gui.deploy.batches_view.ClassificationsWidget`) lists every batch,
from the GUI or the CLI, and shows the results of the one selected; a
finished classification opens there.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Slot
from PySide6.QtWidgets import QWidget

from gui.extensions import Extension, ExtensionHost
from gui.workers import CANCELLED, Job


# Engine calls, looked up at call time so tests may wrap them.
def _predict_job(model, folder, *, progress, cancel, **options):
    from engine.evaluation.predict import predict_folder
    return predict_folder(model, folder, progress=progress, cancel=cancel, **options)


def _export_job(run_dir, out, *, int8, progress, cancel):
    from engine.deploy.export import export_run
    return export_run(run_dir, out, int8=int8, progress=progress, cancel=cancel)


class DeployActions(Extension):
    """Opens the deploy dialogs for ``window`` and turns their choices into jobs."""

    def __init__(self, window: ExtensionHost):
        super().__init__(window)
        self.dialogs: list[QWidget] = []
        self.results: list[QWidget] = []  # results views shown in the Classifications tab, oldest first
        self.classifications: QWidget | None = None  # the Classifications tab, while open
        # job id -> (on_failed(message), on_cancelled()); popped when the job ends, however it ends
        self._failure_handlers: dict[int, tuple] = {}
        window.queue.job_failed.connect(self._on_job_failed)
        window.queue.job_finished.connect(self._on_job_finished)

    # --- public API ---------------------------------------------------------
    def open_classify_dialog(self, model: str | None = None, folder: str | None = None) -> QWidget:
        """Show the (window-modal, non-blocking) Classify folder dialog; OK queues the job."""
        from gui.deploy.classify_dialog import ClassifyFolderDialog

        if model is None:
            runs = self.window.runs_tab.selected_runs()
            model = str(runs[0].path) if runs and runs[0].model_weights.exists() else None
        dialog = ClassifyFolderDialog(self.window.runs_dir, self.window, model=model, folder=folder)
        dialog.accepted.connect(lambda d=dialog: self.classify(d.model(), d.folder(), **d.options()))
        return self._open(dialog)

    def open_export_dialog(self, run_dir: str | None = None) -> QWidget:
        """Show the Export dialog, preselecting ``run_dir`` or the run selected in the Runs tab."""
        from gui.deploy.export_dialog import ExportDialog

        if run_dir is None:
            runs = self.window.runs_tab.selected_runs()
            run_dir = str(runs[0].path) if runs else None
        return self._open(ExportDialog(self.window.runs_dir, self.export, self.window, run_dir=run_dir,
                                       fine_tune=self._fine_tune))

    def classify(self, model: str, folder: str, **options) -> Job:
        """Queue ``predict_folder(model, folder, **options)``; the results open in the Classifications tab."""
        from engine.io_utils import display_path

        return self.window.queue.submit(
            f"Classify {display_path(Path(folder).name)}", _predict_job, str(model), str(folder), kind="predict",
            on_finished=lambda result: self.show_results(result, model=str(model), folder=str(folder)), **options)

    def continue_batch(self, batch: dict) -> Job:
        """Resume an unfinished batch (a :func:`~engine.evaluation.batch_output.list_batches` record)."""
        kept = ("tta", "heatmaps", "cam_method", "backend", "variant", "device", "batch_size", "recursive")
        options = {k: v for k, v in (batch.get("options") or {}).items() if k in kept}
        return self.classify(batch["model"], batch["folder"], out=batch["out"], resume=True, **options)

    def open_classifications(self) -> QWidget:
        """Open (or switch to) the Classifications tab."""
        from gui.deploy.batches_view import ClassificationsWidget

        if self.classifications is None:
            self.classifications = ClassificationsWidget(on_continue=self.continue_batch)
            self.window.add_closable_tab(self.classifications, "Classifications", on_close=self._forget,
                                         tooltip="Folder classifications (from the app and the command line)",
                                         close_tip="Close the Classifications tab (results stay on disk)")
        else:
            self.classifications.refresh()
            self.window.tabs.setCurrentWidget(self.classifications)
        return self.classifications

    def export(self, run_dir: str, out: str | None = None, int8: bool = False, on_finished=None,
               on_failed=None, on_cancelled=None) -> Job:
        """Queue ``export_run(run_dir, out, int8=int8)``.

        ``on_finished(result)`` gets the report dict; ``on_failed(message)`` the engine's message;
        ``on_cancelled()`` is called when the job is cancelled (from the Jobs tab).
        """
        job = self.window.queue.submit(f"Export {Path(run_dir).name} to ONNX", _export_job, str(run_dir), out,
                                       kind="export", int8=int8, on_finished=on_finished)
        if on_failed is not None or on_cancelled is not None:
            self._failure_handlers[job.id] = (on_failed, on_cancelled)
        return job

    def show_results(self, result: dict, *, model: str = "", folder: str = "") -> QWidget:
        """Show a ``predict_folder`` result in the Classifications tab (opened if needed); returns its view."""
        from engine.io_utils import display_path

        widget = self.open_classifications().show_result(result, model=model, folder=folder)
        self.results.append(widget)
        self.window.statusBar().showMessage(f"{result['n_ok']} images classified, {result['n_failed']} failed: "
                                            f"{display_path(result['out'])}", 10000)
        return widget

    def close_classifications(self) -> None:
        """Close the Classifications tab (the results stay on disk)."""
        if self.classifications is not None:
            self.window.close_tab(self.classifications, self._forget)

    def _forget(self, widget: QWidget) -> None:
        if widget is self.classifications:
            self.classifications = None
            self.results.clear()

    # --- internals ------------------------------------------------------------
    def _fine_tune(self, ssl_run: str) -> None:
        """The export dialog's Fine-tune... for an SSL run: the Self-supervised menu's fine-tune dialog."""
        from gui.ssl.actions import ssl_actions

        ssl_actions(self.window).open_downstream(ssl_run)

    def _open(self, dialog: QWidget) -> QWidget:
        dialog.finished.connect(lambda _r, d=dialog: self.dialogs.remove(d) if d in self.dialogs else None)
        dialog.finished.connect(dialog.deleteLater)  # after accepted/rejected handlers have read it
        self.dialogs.append(dialog)
        dialog.open()
        return dialog

    @Slot(object, str, str)
    def _on_job_failed(self, job: Job, message: str, _tb: str) -> None:
        if job.kind == "predict" and self.classifications is not None:
            self.classifications.refresh()  # the batch now reads "failed"; its rows so far can be continued
        on_failed, _on_cancelled = self._failure_handlers.pop(job.id, (None, None))
        if on_failed is not None:
            on_failed(message)

    @Slot(object)
    def _on_job_finished(self, job: Job) -> None:
        """Done or cancelled: forget the job's handlers; tell its dialog when it was cancelled."""
        if job.kind == "predict" and job.state == CANCELLED and self.classifications is not None:
            self.classifications.refresh()
        _on_failed, on_cancelled = self._failure_handlers.pop(job.id, (None, None))
        if job.state == CANCELLED and on_cancelled is not None:
            on_cancelled()


def deploy_actions(window: ExtensionHost) -> DeployActions:
    """The window's :class:`DeployActions` (created and registered on first use)."""
    actions = window.find_extension(DeployActions)
    return actions if actions is not None else window.register(DeployActions(window))


def install(window: ExtensionHost) -> None:
    """Add "Classify folder...", "Classifications" and "Export model to ONNX..." to the File menu (above Quit)."""
    actions = deploy_actions(window)
    file_menu = window.menu("&File")
    quit_action = next((a for a in file_menu.actions() if a.text() == "Quit"), None)
    new = [window.add_action(file_menu, "Classify folder...", lambda: actions.open_classify_dialog()),
           window.add_action(file_menu, "Classifications", lambda: actions.open_classifications()),
           window.add_action(file_menu, "Export model to ONNX...", lambda: actions.open_export_dialog())]
    if quit_action is not None:
        for action in new:
            file_menu.removeAction(action)
            file_menu.insertAction(quit_action, action)
        file_menu.insertSeparator(quit_action)
