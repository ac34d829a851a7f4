"""Application start-up: QApplication, pyqtgraph defaults, the main window.

The window is shown before anything slow: torch is imported and the dataset opened (the demo generated on
first launch) after its first paint (:mod:`gui.startup`), so it appears within about a second.
"""

from __future__ import annotations

import sys

from engine.paths import resources_dir
from gui.settings import APPLICATION, ORGANIZATION


def about_html() -> str:
    """The Help > About text, with the one version number (``engine.__version__``, also the CLI's --version)."""
    from engine import __version__

    return (f"<b>HistoDesk {__version__}</b><br>Train and compare histopathology image classifiers on your "
            "desktop.<br>Engine and GUI share one job protocol; every run is a folder you can reopen from the "
            "app or the CLI.")


def configure_pyqtgraph() -> None:
    """White plots with antialiased lines, to match the rest of the app."""
    import pyqtgraph as pg

    pg.setConfigOptions(background="w", foreground="k", antialias=True)


def create_application(argv: list[str] | None = None):
    """The QApplication (reused if one exists) with name, organisation and icon set."""
    from PySide6.QtGui import QIcon
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(list(sys.argv if argv is None else argv) or ["histodesk"])
    app.setApplicationName(APPLICATION)
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationDisplayName("HistoDesk")
    icon = resources_dir() / "icons" / "histodesk.svg"
    if icon.exists():
        app.setWindowIcon(QIcon(str(icon)))
    configure_pyqtgraph()
    from gui.main_thread_gc import install

    install(app)  # garbage is collected on the GUI thread only (no Qt deadlock with job threads)
    return app


def run_app(argv: list[str] | None = None) -> int:
    """Open HistoDesk's main window and run the event loop; returns the exit code."""
    import logging

    from engine.logs import configure_logging

    configure_logging(logging.WARNING)  # engine warnings outside a job on stderr; a job's go to its log
    app = create_application(argv)
    from gui.main_window import MainWindow

    from gui.startup import trace, trace_startup

    window = MainWindow()  # torch, the dataset and the demo generation wait for its first paint
    trace_startup(window)  # HISTODESK_STARTUP_TRACE=1: print when it was painted and usable
    window.runtime.ready.connect(lambda _info: trace("runtime"))
    window.show()
    return int(app.exec())
