"""A shown main window for GUI tests, shared by the test modules' ``window`` fixtures."""

from __future__ import annotations

from contextlib import contextmanager


@contextmanager
def shown_main_window(qtbot, runs_dir: str, *, painted: bool = False):
    """Yield a shown :class:`~gui.main_window.MainWindow` on ``runs_dir`` (no dataset opened, closing never
    asks); ``painted`` waits for its first paint (start-up's cost, kept out of stall measurements). Queued
    jobs are cancelled afterwards."""
    from gui.main_window import MainWindow

    win = MainWindow(autoload=False, runs_dir=str(runs_dir))
    win.confirm_close = lambda: True
    qtbot.addWidget(win)
    win.show()
    if painted:
        qtbot.waitExposed(win)
        qtbot.wait(200)
    try:
        yield win
    finally:
        win.queue.cancel_all_and_wait(10000)
