"""Feature areas that add menus, tabs and dialogs to the main window, through a typed host interface.

Each module listed in :data:`EXTENSIONS` exposes ``install(host)``, called once when the
:class:`~gui.main_window.MainWindow` is built. ``host`` is an :class:`ExtensionHost`: the area adds
its actions with ``host.menu(title)`` / ``host.add_action(...)``, its tabs with
``host.add_closable_tab(...)``, and registers the object behind them with ``host.register(obj)``.
Code that needs another area's object asks for it by type, ``host.extension(SSLActions)``, instead of
reading an attribute patched onto the window. Keeping areas (self-supervised learning, embeddings,
explanations, deployment, results, studies) in their own packages keeps ``main_window.py`` small.

A missing extension package is logged and skipped; an extension that fails to import or install
raises: a broken area must be seen, not shown as "not available".
"""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING, Any, Callable, TypeVar, cast

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QMainWindow, QWidget

if TYPE_CHECKING:
    from PySide6.QtGui import QAction
    from PySide6.QtWidgets import QMenu, QTabWidget

    from gui.results.run_view import RunResultsWidget
    from gui.results.runs_list import RunsListWidget
    from gui.runs_tab import RunsTabWidget
    from gui.workers import Job, JobQueue

EXTENSIONS = ("gui.ssl.actions", "gui.embedding.actions", "gui.explain.actions", "gui.deploy.actions",
              "gui.results.actions", "gui.studies.actions", "gui.resume")

T = TypeVar("T")
log = logging.getLogger(__name__)


class ExtensionHost(QMainWindow):
    """What an extension may use of the main window: its parts, its actions and the extension registry.

    :class:`~gui.main_window.MainWindow` implements the methods that raise NotImplementedError here;
    the registry and the quit hooks are implemented once, here.
    """

    queue: JobQueue
    tabs: QTabWidget
    runs_tab: RunsTabWidget
    runs_list: RunsListWidget
    run_view: RunResultsWidget
    runs_dir: str | None
    dataset_path: str | None

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._extensions: dict[type, object] = {}
        self._quit_hooks: list[Callable[[], None]] = []

    # --- implemented by the main window -----------------------------------------
    def menu(self, title: str) -> QMenu:
        """The top-level menu ``title`` (created if missing)."""
        raise NotImplementedError

    def add_action(self, menu: QMenu, text: str, slot: Callable, shortcut: Any = None) -> QAction:
        """Add an action to ``menu``."""
        raise NotImplementedError

    def add_closable_tab(self, widget: QWidget, title: str, *, tooltip: str = "",
                         on_close: Callable[[QWidget], None] | None = None, close_tip: str = "Close this tab") -> int:
        """Add ``widget`` as a closable tab and show it; returns its index."""
        raise NotImplementedError

    def close_tab(self, widget: QWidget, on_close: Callable[[QWidget], None] | None = None) -> None:
        """Remove ``widget``'s tab and stop its work."""
        raise NotImplementedError

    def show_job(self, job: Job) -> Job:
        """Show ``job`` in the Jobs tab; returns it."""
        raise NotImplementedError

    def start_training(self, config: Any) -> Job:
        """Queue a training job for ``config``."""
        raise NotImplementedError

    def refresh_runs(self) -> None:
        """Re-read the runs folder."""
        raise NotImplementedError

    # --- registry and quit hooks --------------------------------------------------
    def register(self, extension: T) -> T:
        """Make ``extension`` available to :meth:`extension` by its type (replacing one of that type); returns it."""
        self._extensions[type(extension)] = extension
        return extension

    def find_extension(self, kind: type[T]) -> T | None:
        """The registered object of type ``kind`` (or a subclass of it), or None."""
        found = self._extensions.get(kind)
        if found is None:
            found = next((obj for obj in self._extensions.values() if isinstance(obj, kind)), None)
        return cast("T | None", found)

    def extension(self, kind: type[T]) -> T:
        """The registered object of type ``kind`` (e.g. ``SSLActions``); LookupError when not installed."""
        found = self.find_extension(kind)
        if found is None:
            raise LookupError(f"The {kind.__name__} extension is not installed in this window.")
        return found

    def add_quit_hook(self, hook: Callable[[], None]) -> None:
        """Call ``hook()`` when the window closes (after running jobs are cancelled)."""
        self._quit_hooks.append(hook)

    def run_quit_hooks(self) -> None:
        """Call the quit hooks, in the order they were added."""
        for hook in self._quit_hooks:
            hook()


class Extension(QObject):
    """Base of the objects extensions register: a child of the host window, reachable as ``self.window``."""

    def __init__(self, window: ExtensionHost):
        super().__init__(window)
        self.window = window


def install_all(host: ExtensionHost) -> list[str]:
    """Call ``install(host)`` of every extension module present; returns the installed names."""
    installed = []
    for name in EXTENSIONS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name and name.startswith(exc.name):
                log.warning("GUI extension %s is not present; its menu is left out", name)
                continue
            raise
        module.install(host)
        installed.append(name)
    return installed
