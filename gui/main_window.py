"""The main window: Dataset, Jobs and Runs tabs, menus, and the job queue they share.

It is the :class:`~gui.extensions.ExtensionHost` of the feature areas in :mod:`gui.extensions`.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Slot
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (QFileDialog, QLabel, QMessageBox, QProgressBar, QTabBar, QTabWidget,
                               QToolButton, QWidget)

from engine.jobs import Progress
from gui import settings
from gui.dataset.browser import DatasetBrowserWidget
from gui.dataset.opening import DatasetOpener, dataset_name
from gui.extensions import ExtensionHost, install_all
from gui.help import install_help_menu
from gui.jobs_panel import JobsPanelWidget, progress_text
from gui.runs_tab import RunsTabWidget
from gui.runtime_info import RuntimeInfo
from gui.start_here import should_show_at_launch, show_start_here
from gui.startup import after_first_paint
from gui.tasks import wait_for_retired
from gui.workers import CANCELLED, DONE, Job, JobQueue

DATASET_KINDS = ("demo", "scan", "split")


class MainWindow(ExtensionHost):
    """HistoDesk's main window (the extensions' host). ``autoload``: open the demo (first launch) or the last
    dataset, after the first paint (with the Start here tab when nothing would be open otherwise)."""

    def __init__(self, parent: QWidget | None = None, *, autoload: bool = True, runs_dir: str | None = None):
        super().__init__(parent)
        self.setWindowTitle("HistoDesk")
        self.resize(1200, 800)
        self.runs_dir = runs_dir
        self.dataset_path: str | None = None
        self.catalog = None
        self.split = None
        self.wizard = None  # the last training wizard opened (New training...)
        self.queue = JobQueue(self)
        self.opener = DatasetOpener(self)
        self.queue.job_progress.connect(self._on_job_progress)
        self.queue.job_finished.connect(self._on_job_finished)
        self.queue.job_failed.connect(self._on_job_failed)

        self.tabs = QTabWidget()
        self.setCentralWidget(self.tabs)
        self.browser = DatasetBrowserWidget(self)
        self.tabs.addTab(self.browser, "Dataset")
        self.jobs_panel = JobsPanelWidget(self.queue)
        self.tabs.addTab(self.jobs_panel, "Jobs")
        self.runs_tab = RunsTabWidget(runs_dir)
        self.runs_list, self.run_view = self.runs_tab.runs_list, self.runs_tab.run_view
        self.tabs.addTab(self.runs_tab, "Runs")
        self._build_menus()
        self.extensions = install_all(self)  # names of the installed extension modules
        install_help_menu(self)
        self._build_status_bar()
        self._restore_window()
        # torch is imported (for the device and CUDA) and the dataset opened once the window is on screen
        after_first_paint(self, self.runtime.start)
        if autoload:
            if should_show_at_launch():
                show_start_here(self)
            after_first_paint(self, self.autoload)

    # --- construction -----------------------------------------------------
    def _action(self, menu, text: str, slot, shortcut=None) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(slot)
        menu.addAction(action)
        return action

    def menu(self, title: str):
        """The top-level menu called ``title`` (e.g. "&Explain"), created before Help if missing."""
        bar = self.menuBar()
        for action in bar.actions():
            if action.menu() is not None and action.text() == title:
                return action.menu()
        new = bar.addMenu(title)
        help_action = next((a for a in bar.actions() if a.text() == "&Help"), None)
        if help_action is not None:
            bar.removeAction(new.menuAction())
            bar.insertMenu(help_action, new)
        return new

    def add_action(self, menu, text: str, slot, shortcut=None) -> QAction:
        """Add an action to ``menu`` (used by the extensions in :mod:`gui.extensions`)."""
        return self._action(menu, text, slot, shortcut)

    def add_closable_tab(self, widget: QWidget, title: str, *, tooltip: str = "", on_close=None,
                         close_tip: str = "Close this tab") -> int:
        """Add ``widget`` as a tab with a ✕ button and switch to it; returns its index.

        Closing calls :meth:`close_tab` with ``on_close`` (a callable taking the widget, for bookkeeping).
        """
        index = self.tabs.addTab(widget, title)
        if tooltip:
            self.tabs.setTabToolTip(index, tooltip)
        button = QToolButton(text="✕", autoRaise=True, toolTip=close_tip)
        button.clicked.connect(lambda _c=False, w=widget: self.close_tab(w, on_close))
        self.tabs.tabBar().setTabButton(index, QTabBar.ButtonPosition.RightSide, button)
        self.tabs.setCurrentIndex(index)
        return index

    def close_tab(self, widget: QWidget, on_close=None) -> None:
        """Remove ``widget``'s tab, call ``on_close(widget)``, stop its work (``shutdown()``) and delete it."""
        index = self.tabs.indexOf(widget)
        if index >= 0:
            self.tabs.removeTab(index)
        if on_close is not None:
            on_close(widget)
        shutdown = getattr(widget, "shutdown", None)
        if callable(shutdown):
            shutdown()
        widget.deleteLater()

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        self._action(file_menu, "Open dataset folder...", self.open_dataset_dialog, QKeySequence.StandardKey.Open)
        self._action(file_menu, "Open CSV...", self._on_open_csv)
        self.recent_menu = file_menu.addMenu("Open recent")
        self._action(file_menu, "Open demo dataset", self.open_demo)
        file_menu.addSeparator()  # gui.deploy adds Classify folder... and Export model to ONNX... here
        self._action(file_menu, "Quit", self.close, QKeySequence.StandardKey.Quit)
        train_menu = bar.addMenu("&Train")
        self._action(train_menu, "New training...", self._on_new_training, QKeySequence.StandardKey.New)
        # gui.resume adds "Resume run..." here (and Resume to the Runs tab)
        view_menu = bar.addMenu("&View")
        self._action(view_menu, "Refresh runs", self.refresh_runs, QKeySequence(Qt.Key.Key_F5))
        bar.addMenu("&Help")  # filled by gui.help.install_help_menu; extension menus go before it
        self._fill_recent_menu()

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        recent = settings.recent_datasets()
        for path in recent:
            self._action(self.recent_menu, path, lambda _c=False, p=path: self.open_dataset(p))
        self.recent_menu.setEnabled(bool(recent))

    def _build_status_bar(self) -> None:
        self.job_bar = QProgressBar()
        self.job_bar.setMaximumWidth(260)
        self.job_bar.setRange(0, 1000)
        self.job_bar.hide()
        self.statusBar().addPermanentWidget(self.job_bar)
        self.device_label = QLabel("Device: checking...")
        self.statusBar().addPermanentWidget(self.device_label)
        self.runtime = self.register(RuntimeInfo(self))
        self.runtime.ready.connect(lambda info: self.device_label.setText(f"Device: {info['device']}"))

    def _restore_window(self) -> None:
        geometry, state = settings.window_geometry()
        if geometry is not None:
            self.restoreGeometry(geometry)
        if state is not None:
            self.restoreState(state)

    # --- public API -------------------------------------------------------
    def open_demo(self) -> Job:
        """Generate (if needed) and open the built-in demo dataset."""
        return self.opener.open_demo()

    def open_dataset(self, path: str) -> Job:
        """Scan ``path``, then show it and preview its split (seed 0); until the scan succeeds, the current
        dataset, title and wizard defaults stay as they are (a failure leaves them so and says why)."""
        return self.opener.open(str(path))

    def show_dataset(self, path: str, catalog) -> None:
        """Make the scanned dataset at ``path`` the current one: path, catalog, title, recent list, browser."""
        self.dataset_path, self.catalog, self.split = str(path), catalog, None
        settings.add_recent_dataset(self.dataset_path)
        self._fill_recent_menu()
        self.setWindowTitle(f"HistoDesk - {dataset_name(self.dataset_path)}")
        self.browser.set_catalog(catalog)
        self.browser.set_split(None)
        self.browser.set_notice("")

    def show_split(self, split) -> None:
        """Show the current dataset's split preview."""
        self.split = split
        self.browser.set_split(split)

    def start_training(self, config) -> Job:
        """Queue ``engine.training.job.train(config)``; the Jobs tab shows it."""
        from engine.training import job as training

        title = f"Train {config.name or config.model.name}"
        return self.show_job(self.queue.submit(title, training.train, config, kind="train"))

    def resume_run(self, run_dir: str) -> Job:
        """Queue the resume of ``run_dir`` (training, or SSL pretraining for an SSL run), its curves starting
        from the earlier epochs."""
        from gui.resume import resume_run

        return resume_run(self, run_dir)

    def show_job(self, job: Job) -> Job:
        """Bring the Jobs tab to the front with ``job`` selected; returns ``job``."""
        self.tabs.setCurrentWidget(self.jobs_panel)
        self.jobs_panel.select_job(job)
        return job

    def classify_folder(self, model: str, folder: str, **options) -> Job:
        """Queue ``predict_folder(model, folder, **options)`` (run or package); results open in a tab."""
        from gui.deploy.actions import deploy_actions

        return deploy_actions(self).classify(model, folder, **options)

    def refresh_runs(self) -> None:
        """Re-read the runs folder."""
        self.runs_tab.refresh()

    def confirm_close(self) -> bool:
        """Ask whether to cancel running jobs and quit (tests override this)."""
        answer = QMessageBox.question(self, "Quit HistoDesk", "A job is still running. Cancel it and quit?\n"
                                      "A cancelled training run keeps its best weights and can be resumed.")
        return answer == QMessageBox.StandardButton.Yes

    # --- slots ------------------------------------------------------------
    @Slot()
    def autoload(self) -> None:
        """Open the last dataset, or the demo on first launch (a last dataset that is gone opens nothing)."""
        last = settings.last_dataset()
        if last and Path(last).exists():
            self.open_dataset(last)
        elif last is None:
            self.open_demo()

    @Slot(object, object)
    def _on_job_progress(self, job: Job, event: Progress) -> None:
        if job.kind not in DATASET_KINDS or event.stage == "log":
            return
        self.job_bar.show()
        frac = event.fraction
        self.job_bar.setRange(0, 0 if frac is None else 1000)
        self.job_bar.setValue(int((frac or 0) * 1000))
        self.statusBar().showMessage(f"{job.title}: {event.message or progress_text(event)}")

    @Slot(object)
    def _on_job_finished(self, job: Job) -> None:
        if job.kind in DATASET_KINDS:
            self.job_bar.hide()
            self.statusBar().showMessage(f"{job.title}: {job.state}", 5000)
        if job.kind == "train" and job.state in (DONE, CANCELLED):
            self.refresh_runs()
            run = job.result
            if run is not None and hasattr(run, "path"):
                self.runs_tab.select_run(run.path)
            message = job.state
            if job.state == CANCELLED and hasattr(run, "path") and run.summary.get("status") == "cancelled":
                from gui.resume import cancelled_message

                message = cancelled_message(run)
            self.statusBar().showMessage(f"{job.title}: {message}", 15000)

    @Slot(object, str, str)
    def _on_job_failed(self, job: Job, message: str, _tb: str) -> None:
        self.job_bar.hide()
        self.statusBar().showMessage(f"{job.title} failed: {message}", 8000)
        if job.kind == "train":
            self.refresh_runs()

    @Slot()
    def open_dataset_dialog(self) -> None:
        """Ask for a dataset folder and open it."""
        path = QFileDialog.getExistingDirectory(self, "Open dataset folder", self.dataset_path or "")
        if path:
            self.open_dataset(path)

    @Slot()
    def _on_open_csv(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open image list", "", "Image lists (*.csv *.tsv *.txt)")
        if path:
            self.open_dataset(path)

    @Slot()
    def _on_new_training(self) -> None:
        self.new_training()

    def new_training(self, preset: str | None = None):
        """Open the training wizard on the current dataset (window-modal, non-blocking), with ``preset`` chosen."""
        from gui.wizard.train_wizard import TrainWizard

        wizard = TrainWizard(self.dataset_path or "", self, catalog=self.catalog)
        if preset is not None:
            wizard.apply_preset(preset)
        wizard.accepted.connect(lambda: self.start_training(wizard.config()))
        self.wizard = wizard
        wizard.open()  # window-modal, non-blocking: the event loop keeps running
        return wizard

    def closeEvent(self, event) -> None:
        """Ask before quitting while a job runs, then cancel it cleanly and save the window state."""
        if self.queue.running() is not None and not self.confirm_close():
            event.ignore()
            return
        if not self.queue.is_idle():
            self.statusBar().showMessage("Cancelling running job...")
            self.queue.cancel_all_and_wait(60000)
        settings.save_window(self.saveGeometry(), self.saveState())
        self.runs_tab.close_compare_windows()
        self.browser.shutdown()  # stop its background thumbnail decoding
        self.runtime.shutdown()
        self.run_quit_hooks()
        wait_for_retired(10000)  # the one blocking wait: short tasks of closed views still running
        event.accept()
