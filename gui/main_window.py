"""The main window: Dataset, Jobs and Runs tabs, menus, and the job queue they share.

It is the :class:`~gui.extensions.ExtensionHost` of the feature areas in :mod:`gui.extensions`.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Slot
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (QFileDialog, QLabel, QMessageBox, QProgressBar, QTabBar, QTabWidget,
                               QToolButton, QWidget)

from engine.jobs import Progress
from gui import settings
from gui.dataset.browser import DatasetBrowserWidget
from gui.dataset.opening import DatasetOpener, dataset_name
from gui.extensions import ExtensionHost, install_all
from gui.jobs_panel import JobsPanelWidget, progress_text
from gui.runs_tab import RunsTabWidget
from gui.tasks import wait_for_retired
from gui.workers import CANCELLED, DONE, Job, JobQueue

DATASET_KINDS = ("demo", "scan", "split")


class MainWindow(ExtensionHost):
    """HistoDesk's main window (the extensions' host). ``autoload``: open the demo (first launch) or the last
    dataset."""

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
        self._build_status_bar()
        self._restore_window()
        if autoload:
            QTimer.singleShot(0, self._autoload)

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
        self._action(file_menu, "Open dataset folder...", self._on_open_folder, QKeySequence.StandardKey.Open)
        self._action(file_menu, "Open CSV...", self._on_open_csv)
        self.recent_menu = file_menu.addMenu("Open recent")
        self._action(file_menu, "Open demo dataset", self.open_demo)
        file_menu.addSeparator()  # gui.deploy adds Classify folder... and Export model to ONNX... here
        self._action(file_menu, "Quit", self.close, QKeySequence.StandardKey.Quit)
        train_menu = bar.addMenu("&Train")
        self._action(train_menu, "New training...", self._on_new_training, QKeySequence.StandardKey.New)
        self._action(train_menu, "Resume run...", self._on_resume_run)
        view_menu = bar.addMenu("&View")
        self._action(view_menu, "Refresh runs", self.refresh_runs, QKeySequence(Qt.Key.Key_F5))
        help_menu = bar.addMenu("&Help")
        self._action(help_menu, "About HistoDesk", self._on_about)
        self._fill_recent_menu()

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        recent = settings.recent_datasets()
        for path in recent:
            self._action(self.recent_menu, path, lambda _c=False, p=path: self.open_dataset(p))
        self.recent_menu.setEnabled(bool(recent))

    def _build_status_bar(self) -> None:
        from engine.training.devices import describe_device, select_device

        self.job_bar = QProgressBar()
        self.job_bar.setMaximumWidth(260)
        self.job_bar.setRange(0, 1000)
        self.job_bar.hide()
        self.statusBar().addPermanentWidget(self.job_bar)
        self.device_label = QLabel(f"Device: {describe_device(select_device())}")
        self.statusBar().addPermanentWidget(self.device_label)

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
        """Queue ``engine.training.job.resume(run_dir)``."""
        from engine.training import job as training

        return self.show_job(self.queue.submit(f"Resume {Path(run_dir).name}", training.resume, run_dir, kind="train"))

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
    def _autoload(self) -> None:
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
            self.statusBar().showMessage(f"{job.title}: {job.state}", 8000)

    @Slot(object, str, str)
    def _on_job_failed(self, job: Job, message: str, _tb: str) -> None:
        self.job_bar.hide()
        self.statusBar().showMessage(f"{job.title} failed: {message}", 8000)
        if job.kind == "train":
            self.refresh_runs()

    @Slot()
    def _on_open_folder(self) -> None:
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
        from gui.wizard.train_wizard import TrainWizard

        wizard = TrainWizard(self.dataset_path or "", self, catalog=self.catalog)
        wizard.accepted.connect(lambda: self.start_training(wizard.config()))
        self.wizard = wizard
        wizard.open()  # window-modal, non-blocking: the event loop keeps running

    @Slot()
    def _on_resume_run(self) -> None:
        from engine.paths import runs_dir

        path = QFileDialog.getExistingDirectory(self, "Resume which run?", str(self.runs_dir or runs_dir()))
        if path:
            self.resume_run(path)

    @Slot()
    def _on_about(self) -> None:
        from gui.app import about_html

        QMessageBox.about(self, "About HistoDesk", about_html())

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
        self.run_quit_hooks()
        wait_for_retired(10000)  # the one blocking wait: short tasks of closed views still running
        event.accept()
