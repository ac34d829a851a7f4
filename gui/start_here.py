"""The Start here panel: what to do first, shown on first launch and whenever no dataset opens at start-up.

Each button calls the window's existing action: open a dataset, train on the demo data (the training wizard
with the ``demo`` preset, once the demo dataset is open), classify a folder (the deploy extension's dialog)
and open a slide, shown only when an extension that opens slides (:class:`SlideOpener`) is registered. The
panel also shows the progress of the dataset being prepared (the demo is generated in the background on
first launch). Help > Start here brings it back.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from PySide6.QtCore import Slot
from PySide6.QtWidgets import QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget

from engine.jobs import Progress
from gui import settings
from gui.workers import DONE, TERMINAL_STATES, Job

if TYPE_CHECKING:
    from gui.main_window import MainWindow

TITLE = "Start here"
DATASET_KINDS = ("demo", "scan", "split")


@runtime_checkable
class SlideOpener(Protocol):
    """A registered extension that opens whole-slide images (a slide viewer) has this method."""

    def open_slide(self) -> object:
        """Ask for a slide and open it."""


def should_show_at_launch() -> bool:
    """True on first launch and when the last dataset no longer exists (nothing would be open)."""
    last = settings.last_dataset()
    return last is None or not Path(last).exists()


def _demo_path() -> str:
    from engine.data.demo import demo_path

    return str(demo_path())


class StartHerePanel(QWidget):
    """The panel's buttons and the progress of the dataset being opened, for ``window`` (a MainWindow)."""

    def __init__(self, window: MainWindow):
        super().__init__()
        self.window = window
        self._train_when_demo_opens = False
        title = QLabel(f"<h2>{TITLE}</h2>HistoDesk trains and compares histopathology image classifiers. "
                       "Your images are only read, never changed.")
        title.setWordWrap(True)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.bar.hide()
        layout = QVBoxLayout(self)
        layout.addWidget(title)
        layout.addWidget(self.status)
        layout.addWidget(self.bar)
        self.open_button = self._button(layout, "Open a dataset...", "A folder of images in class sub-folders, "
                                        "or a CSV list of images and labels.", self._open_dataset)
        self.demo_button = self._button(layout, "Train on the demo data", "The training wizard with the demo "
                                        "preset on the built-in demo dataset (a few minutes on a CPU).",
                                        self.train_on_demo)
        self.classify_button = self._button(layout, "Classify a folder...", "Label new images with a trained "
                                            "model; results go to HistoDesk's outputs folder, never beside your "
                                            "images.", self._classify)
        self.slide_button = self._button(layout, "Open a slide...", "View a whole-slide image.", self._open_slide)
        layout.addStretch(1)
        window.queue.job_progress.connect(self._on_progress)
        window.queue.job_finished.connect(self._on_ended)
        window.queue.job_failed.connect(self._on_failed)
        self.refresh()

    @staticmethod
    def _button(layout: QVBoxLayout, text: str, tip: str, slot) -> QPushButton:
        button = QPushButton(text)
        button.setMinimumHeight(40)
        button.setMaximumWidth(420)
        button.clicked.connect(slot)
        note = QLabel(tip)
        note.setWordWrap(True)
        note.setMaximumWidth(420)
        note.setStyleSheet("margin-bottom: 8px;")
        layout.addWidget(button)
        layout.addWidget(note)
        button.setProperty("note", note)
        return button

    # --- state --------------------------------------------------------------
    def refresh(self) -> None:
        """Show the open dataset and the buttons that apply (Classify with the deploy extension, slides with a
        :class:`SlideOpener`)."""
        from gui.deploy.actions import DeployActions

        self._show_button(self.classify_button, self.window.find_extension(DeployActions) is not None)
        self._show_button(self.slide_button, self.window.find_extension(SlideOpener) is not None)
        path = self.window.dataset_path
        if self.bar.isHidden():
            self.status.setText(f"Open now: {Path(path).name}." if path else "No dataset is open yet.")

    def showEvent(self, event) -> None:  # noqa: N802 - Qt's name
        """Refresh when shown (an extension may have been registered since)."""
        self.refresh()
        super().showEvent(event)

    @staticmethod
    def _show_button(button: QPushButton, visible: bool) -> None:
        button.setVisible(visible)
        button.property("note").setVisible(visible)

    def _active_demo(self) -> Job | None:
        return next((j for j in self.window.queue.jobs if j.kind == "demo" and j.state not in TERMINAL_STATES), None)

    # --- actions ------------------------------------------------------------
    @Slot()
    def _open_dataset(self) -> None:
        self.window.open_dataset_dialog()

    @Slot()
    def train_on_demo(self) -> None:
        """Open the training wizard with the demo preset, opening (generating) the demo dataset first if needed."""
        if self.window.dataset_path == _demo_path() and self.window.catalog is not None:
            self.window.new_training("demo")
            return
        self._train_when_demo_opens = True
        if self._active_demo() is None:
            self.window.open_demo()
        self.status.setText("Opening the demo dataset; the training wizard opens when it is ready...")

    @Slot()
    def _classify(self) -> None:
        from gui.deploy.actions import DeployActions

        self.window.extension(DeployActions).open_classify_dialog()

    @Slot()
    def _open_slide(self) -> None:
        opener = self.window.find_extension(SlideOpener)
        if opener is not None:
            opener.open_slide()

    # --- dataset jobs -------------------------------------------------------
    @Slot(object, object)
    def _on_progress(self, job: Job, event: Progress) -> None:
        if job.kind not in DATASET_KINDS or event.stage == "log":
            return
        self.bar.show()
        self.bar.setRange(0, 0 if event.fraction is None else 1000)
        self.bar.setValue(int((event.fraction or 0) * 1000))
        what = "Preparing the demo dataset" if job.kind == "demo" else job.title
        self.status.setText(f"{what}: {event.message or event.stage}...")

    @Slot(object)
    def _on_ended(self, job: Job) -> None:
        if job.kind not in DATASET_KINDS:
            return
        self.bar.hide()
        self.refresh()
        if job.kind == "scan" and job.state == DONE and self._train_when_demo_opens \
                and self.window.dataset_path == _demo_path():
            self._train_when_demo_opens = False
            self.window.new_training("demo")

    @Slot(object, str, str)
    def _on_failed(self, job: Job, message: str, _tb: str) -> None:
        if job.kind in DATASET_KINDS:
            self._train_when_demo_opens = False
            self.bar.hide()
            self.status.setText(f"{job.title} failed: {message}")


def show_start_here(window: MainWindow) -> StartHerePanel:
    """Bring the Start here tab to the front (created as the first tab if it is not open); returns the panel."""
    for index in range(window.tabs.count()):
        panel = window.tabs.widget(index)
        if isinstance(panel, StartHerePanel):
            panel.refresh()
            window.tabs.setCurrentIndex(index)
            return panel
    panel = StartHerePanel(window)
    index = window.add_closable_tab(panel, TITLE, tooltip="What to do first", close_tip="Close Start here "
                                    "(Help > Start here brings it back)")
    window.tabs.tabBar().moveTab(index, 0)
    window.tabs.setCurrentWidget(panel)
    return panel
