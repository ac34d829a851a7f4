"""The Runs tab: the runs list beside the selected run's results, plus Compare."""

from __future__ import annotations

from PySide6.QtCore import Qt, Slot
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QGridLayout, QMenu, QPushButton, QSplitter, QVBoxLayout, QWidget

from gui import errors
from gui.results.run_view import RunResultsWidget
from gui.results.runs_list import RunsListWidget


class RunsTabWidget(QSplitter):
    """RunsListWidget | RunResultsWidget; "Compare" opens CompareRunsWidget for 2+ selected runs.

    Extensions add their run actions (buttons under the list, and the list's context menu) with
    :meth:`add_run_action`.
    """

    def __init__(self, runs_dir: str | None = None, parent: QWidget | None = None):
        super().__init__(Qt.Orientation.Horizontal, parent)
        self.runs_dir = runs_dir
        self.compare_windows: list[QWidget] = []
        self.run_actions: list[tuple[QPushButton, QAction]] = []
        self.runs_list = RunsListWidget(self)
        self.run_view = RunResultsWidget(self)
        left = QWidget()
        lay = QVBoxLayout(left)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.runs_list, 1)
        self.compare_button = QPushButton("Compare selected runs")
        self.compare_button.setToolTip("Intervals, the best value per figure, and a paired test for two runs "
                                       "evaluated on the same test images")
        self.compare_button.clicked.connect(self.compare_selected)
        self.buttons = QGridLayout()
        self.buttons.addWidget(self.compare_button, 0, 0)
        lay.addLayout(self.buttons)
        self.context_menu = QMenu(self)
        compare = self.context_menu.addAction("Compare selected runs")
        compare.triggered.connect(self.compare_selected)
        self.addWidget(left)
        self.addWidget(self.run_view)
        self.setSizes([540, 740])
        self.runs_list.run_selected.connect(self._on_run_selected)
        self.runs_list.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.runs_list.table.customContextMenuRequested.connect(self._on_context_menu)
        self.refresh()

    def add_run_action(self, text: str, slot, tooltip: str = "") -> QPushButton:
        """A button under the runs list and an entry of its context menu, both calling ``slot()``."""
        button = QPushButton(text)
        button.setToolTip(tooltip)
        button.clicked.connect(lambda _c=False: slot())
        n = len(self.run_actions) + 1
        self.buttons.addWidget(button, n // 2, n % 2)
        action = self.context_menu.addAction(text)
        action.setToolTip(tooltip)
        action.triggered.connect(lambda _c=False: slot())
        self.run_actions.append((button, action))
        return button

    def show_study(self, name: str) -> None:
        """Show the runs of study ``name`` in the list."""
        self.runs_list.show_study(name)

    def refresh(self) -> None:
        """Re-read the runs folder."""
        self.runs_list.refresh(self.runs_dir)

    def select_run(self, path) -> None:
        """Select (and show) the run at ``path``."""
        self.runs_list.select_run(path)

    def selected_runs(self) -> list:
        """The runs selected in the list."""
        return self.runs_list.selected_runs()

    def close_compare_windows(self) -> None:
        """Close every comparison window opened from here."""
        for window in self.compare_windows:
            window.close()
        self.compare_windows.clear()

    @Slot(object)
    def _on_context_menu(self, pos) -> None:
        self.context_menu.popup(self.runs_list.table.viewport().mapToGlobal(pos))

    @Slot(object)
    def _on_run_selected(self, run) -> None:
        self.run_view.set_run(run)

    @Slot()
    def compare_selected(self) -> None:
        """Open a comparison window of the selected runs (two or more)."""
        from gui.results.compare import CompareRunsWidget

        runs = self.selected_runs()
        if len(runs) < 2:
            errors.show_info(self.window(), "Compare runs", "Select two or more runs (Ctrl+click) to compare them.")
            return
        window = CompareRunsWidget(runs, self.window())
        window.setWindowFlag(Qt.WindowType.Window, True)
        window.setWindowTitle(f"Compare {len(runs)} runs")
        window.resize(1000, 700)
        window.show()
        self.compare_windows.append(window)
