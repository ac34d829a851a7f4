"""Save PNG screenshots of HistoDesk's main views into docs/screenshots/ (offscreen).

Usage: ``QT_QPA_PLATFORM=offscreen python scripts/screenshots.py [--out DIR] [--epochs N]``.
Runs in a throw-away HistoDesk home and settings folder: generates the demo
dataset, opens it, trains the demo preset briefly (twice, for the comparison)
and grabs the dataset browser, each wizard page, the Jobs tab with live
curves, a run's results and the run comparison.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def wait_until(app, condition, timeout_s: float = 300.0) -> None:
    """Process events until ``condition()`` is true; RuntimeError on timeout."""
    end = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > end:
            raise RuntimeError("timed out waiting for the app")
        app.processEvents()
        time.sleep(0.01)


def settle(app, seconds: float = 0.4) -> None:
    """Let pending paints and lazy loads (thumbnails) happen."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.01)


def save(widget, out: Path, name: str) -> None:
    """Grab ``widget`` into ``out/name``.png and print the path."""
    path = out / f"{name}.png"
    widget.grab().save(str(path))
    print(path)


def application(tmp: Path):
    """The QApplication, with HistoDesk's home and settings inside the throw-away folder ``tmp``."""
    os.environ["HISTODESK_HOME"] = str(tmp / "home")
    from PySide6.QtCore import QSettings

    from gui.app import create_application

    app = create_application(["histodesk-screenshots"])
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp / "settings"))
    return app


def start(out: str, prefix: str = "histodesk-shots-"):
    """(app, output folder, temp folder): create ``out`` and a temp folder, start the application there."""
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    return application(tmp), folder, tmp


def wizard_preset_shots(app, out: Path, wizard) -> None:
    """The wizard started from a preset with two edits: the first page (amber marks, count) and the review list."""
    wizard.resize(900, 680)
    wizard.show()
    wizard.apply_preset("demo")
    wizard.dataset_page.size_spin.setValue(96)
    wizard.recipe_page.lr_edit.setText("3e-4")
    settle(app, 0.3)
    save(wizard, out, "02-wizard-preset-changed")
    for _ in range(len(wizard.pageIds()) - 1):
        wizard.next()
    settle(app, 0.3)
    save(wizard, out, "02-wizard-review-changes")
    wizard.reject()


def main(argv: list[str] | None = None) -> int:
    """Produce the screenshots; returns 0."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(REPO / "docs" / "screenshots"))
    parser.add_argument("--epochs", type=int, default=5)
    args = parser.parse_args(argv)
    app, out, tmp = start(args.out)

    from gui.main_window import MainWindow
    from gui.results.compare import CompareRunsWidget
    from gui.wizard.train_wizard import TrainWizard

    window = MainWindow()  # first launch: generates and opens the demo dataset
    window.resize(1280, 820)
    window.show()
    wait_until(app, lambda: window.split is not None)
    save(window, out, "00-start-here")  # the first tab on first launch
    window.tabs.setCurrentWidget(window.browser)
    settle(app, 1.5)
    window.browser.select_record(0)
    settle(app, 1.0)
    save(window, out, "01-dataset-browser")

    wizard = TrainWizard(window.dataset_path, window, catalog=window.catalog)
    wizard.resize(900, 680)
    wizard.show()
    for i in range(len(wizard.pageIds())):
        settle(app, 0.3)
        save(wizard, out, f"02-wizard-page{i + 1}")
        wizard.next()
    wizard.reject()
    wizard_preset_shots(app, out, TrainWizard(window.dataset_path, window, catalog=window.catalog))

    from engine.training.config import build_config

    overrides = {"epochs": args.epochs, "data": {"path": window.dataset_path},
                 "early_stopping": {"patience": 0}}
    job = window.start_training(build_config("demo", overrides))
    wait_until(app, lambda: len(job.history) >= 2 or job.state != "running" and job.state != "queued")
    settle(app, 0.3)
    save(window, out, "03-jobs-live-curves")
    wait_until(app, lambda: job.state in ("done", "failed", "cancelled"))
    second = window.start_training(build_config("demo", overrides, {"name": "demo-lr3e-4", "optim": {"lr": 3e-4},
                                                                     "epochs": max(2, args.epochs - 2)}))
    wait_until(app, lambda: second.state in ("done", "failed", "cancelled") and window.queue.is_idle())
    window.jobs_panel.select_job(job)
    settle(app, 0.5)
    save(window, out, "04-jobs-finished")

    window.tabs.setCurrentWidget(window.runs_tab)
    window.refresh_runs()
    window.runs_list.select_run(job.result.path)
    settle(app, 1.0)
    save(window, out, "05-run-results")

    compare = CompareRunsWidget([job.result, second.result])
    compare.resize(1280, 720)
    compare.show()
    settle(app, 1.0)
    save(compare, out, "06-compare-runs")
    compare.close()
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
