"""HistoDesk entry point.

``python main.py``            opens the desktop app (headless demo without a display)
``python main.py <command>``  runs an engine job headless (see --help)

Installed with pip, the same start-up is the ``histodesk-gui`` command and the CLI is ``histodesk``;
the packaged app runs this file. The dispatch itself lives in :mod:`gui.launcher`.
"""

from __future__ import annotations

import sys

from gui.launcher import main

if __name__ == "__main__":
    import multiprocessing

    multiprocessing.freeze_support()  # DataLoader workers in a packaged build re-enter here
    sys.exit(main())
