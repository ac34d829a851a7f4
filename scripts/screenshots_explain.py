"""Save PNG screenshots of the explanation views into docs/screenshots/ (offscreen).

Usage: ``QT_QPA_PLATFORM=offscreen python scripts/screenshots_explain.py [--out DIR] [--epochs N] [--run DIR]``.
In a throw-away HistoDesk home it generates the demo dataset and trains the
demo preset briefly (or reuses ``--run``), then grabs the prediction browser
(misclassified only, Grad-CAM), the "Explain an image" dialog (TTA on) and the
robustness curves.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from screenshots import save, settle, start, wait_until


def _train_demo(epochs: int, runs: Path) -> str:
    """Generate the demo dataset and train the demo preset on it; the run folder."""
    from engine.data.demo import generate_demo
    from engine.training.config import build_config
    from engine.training.job import train

    data = generate_demo()
    config = build_config("demo", {"epochs": epochs, "data": {"path": str(data)}, "runs_dir": str(runs),
                                   "early_stopping": {"patience": 0}})
    return str(train(config).path)


def main(argv: list[str] | None = None) -> int:
    """Produce the screenshots; returns 0."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", default=None, help="reuse this finished run instead of training one")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--out", default=str(REPO / "docs" / "screenshots"))
    args = parser.parse_args(argv)
    app, out, tmp = start(args.out, "histodesk-explain-shots-")
    run_dir = args.run or _train_demo(args.epochs, tmp / "runs")
    from gui.main_window import MainWindow
    from gui.explain.actions import ExplainActions

    window = MainWindow(autoload=False, runs_dir=str(Path(run_dir).parent))
    window.resize(1400, 820)
    window.show()
    window.refresh_runs()
    window.runs_tab.select_run(run_dir)

    browser = window.extension(ExplainActions).open_browser(run_dir)
    browser.set_filters(misclassified_only=True)
    browser.panel.set_method("gradcam")
    wait_until(app, lambda: not browser.panel.is_busy() and browser.panel.overlay is not None, 120)
    settle(app, 0.5)
    save(window, out, "explain-browser")

    image = browser.current_prediction()["path"]
    dialog = window.extension(ExplainActions).open_image_dialog(run_dir)
    dialog.resize(960, 720)
    dialog.set_tta(True)
    dialog.set_image_path(image)
    wait_until(app, lambda: not dialog.panel.is_busy() and dialog.probabilities() is not None, 120)
    settle(app, 0.5)
    save(dialog, out, "explain-image-dialog")
    dialog.reject()

    view = window.extension(ExplainActions).open_robustness(run_dir)
    if view.results is None:
        job = view.start()
        wait_until(app, lambda: job.state not in ("queued", "running"), 600)
    settle(app, 0.8)
    save(window, out, "explain-robustness")
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
