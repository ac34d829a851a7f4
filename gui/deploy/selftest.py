"""``histodesk selftest``: open the main window, grab it, exit (checks a packaged build).

Hidden command used by ``packaging/smoke_test.sh`` on the frozen app: it builds
the main window without loading any dataset, shows it, lets Qt paint it, saves
a screenshot and reports the Qt platform, resource folder and extensions.
"""

from __future__ import annotations

import argparse
import os
import sys


def selftest_main(argv: list[str]) -> int:
    """Run the self-test; returns 0 when the window opened (and the screenshot was saved)."""
    parser = argparse.ArgumentParser(prog="histodesk selftest", description=__doc__)
    parser.add_argument("--screenshot", help="save a grab of the main window to this PNG")
    parser.add_argument("--ms", type=int, default=300, help="milliseconds of event processing before the grab")
    args = parser.parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

    from PySide6.QtCore import QElapsedTimer
    from PySide6.QtWidgets import QApplication

    from engine.paths import data_home, is_frozen, resources_dir
    from gui.app import create_application
    from gui.main_window import MainWindow

    app = create_application(["histodesk"])
    window = MainWindow(autoload=False)
    window.show()
    timer = QElapsedTimer()
    timer.start()
    while timer.elapsed() < args.ms:
        QApplication.processEvents()
    ok = window.isVisible()
    if args.screenshot:
        ok = window.grab().save(args.screenshot) and ok
    menus = [a.text().replace("&", "") for a in window.menuBar().actions()]
    print(f"selftest: window {'ok' if ok else 'FAILED'}; platform={app.platformName()}; frozen={is_frozen()}; "
          f"resources={resources_dir()} (presets: {len(list((resources_dir() / 'presets').glob('*.yaml')))}); "
          f"data_home={data_home()}; extensions={','.join(window.extensions)}; menus={','.join(menus)}")
    window.queue.cancel_all_and_wait(5000)
    window.close()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(selftest_main(sys.argv[1:]))
