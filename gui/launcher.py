"""Start-up dispatch shared by ``python main.py``, the packaged app and the ``histodesk-gui`` command.

Without arguments HistoDesk opens the desktop app (which opens the demo dataset on first launch);
where there is no display (or no Qt) it trains and evaluates the demo preset headless instead.
With a command it runs the CLI. Qt is imported only when the window is really opened, so this
module is importable where PySide6 is missing.
"""

from __future__ import annotations

import os
import sys


def has_display() -> bool:
    """True where a window can be shown (Windows, macOS, an X11/Wayland session or Qt's offscreen platform)."""
    if sys.platform in ("win32", "darwin"):
        return True
    if os.environ.get("QT_QPA_PLATFORM") == "offscreen":
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def headless_demo() -> int:
    """No display: train and evaluate the demo preset and print the metrics."""
    from engine.cli import main as cli_main

    print("No display found: training the demo preset headless on the built-in demo dataset.\n"
          "(Run `histodesk --help` or `python main.py --help` for every command.)", file=sys.stderr)
    return cli_main(["train", "--preset", "demo"])


def open_app(qt_argv: list[str] | None = None) -> int:
    """Open the desktop app, or run the headless demo where there is no display or no Qt."""
    if not has_display():
        return headless_demo()
    from gui.qt_libs import warn_before_qt

    warn_before_qt()  # a missing X11 library makes Qt abort the process: say which, and how to install it
    try:
        from gui.app import run_app
    except ImportError:
        return headless_demo()
    return run_app(qt_argv)


def main(argv: list[str] | None = None) -> int:
    """Dispatch to the GUI, the headless demo, the hidden self-test or a CLI command."""
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "selftest":  # hidden: used by packaging/smoke_test.sh on the frozen app
        from gui.deploy.selftest import selftest_main

        return selftest_main(argv[1:])
    if argv:
        from engine.cli import main as cli_main

        return cli_main(argv)
    return open_app()


def gui_main() -> int:
    """The ``histodesk-gui`` command: the desktop app (``selftest`` runs the hidden window self-test)."""
    args = sys.argv[1:]
    if args and args[0] == "selftest":
        return main(args)
    return open_app([sys.argv[0], *args])  # the rest are Qt's own options (-platform, -style, ...)
