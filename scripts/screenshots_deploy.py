"""Save PNG screenshots of the deploy dialogs and the Classifications tab into docs/screenshots/ (offscreen).

Usage: ``QT_QPA_PLATFORM=offscreen python scripts/screenshots_deploy.py [--out DIR] [--epochs N] [--run DIR]``.
In a throw-away HistoDesk home it trains the demo preset briefly (or reuses
``--run``), exports it to ONNX with int8 from the Export dialog, then
classifies a folder of demo images (plus one unreadable file) with the package
from the Classify folder dialog and grabs the results tab.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))

from screenshots import save, settle, start, wait_until
from screenshots_explain import _train_demo


def _incoming(run_dir: str, dest: Path, n: int = 24) -> Path:
    """A folder of ``n`` demo test images (two sub-folders) and one unreadable file."""
    from engine.runs import Run

    data = Path(Run.open(run_dir).config["data"]["path"])
    for i, src in enumerate(sorted(data.rglob("*.png"))[::7][:n]):
        target = dest / ("slide_a" if i % 2 else "slide_b") / f"tile_{i:03d}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(src, target)
    (dest / "slide_a" / "corrupt_scan.png").write_bytes(b"truncated")
    return dest


def _window(args):
    """(app, main window on a trained run, output folder, temp folder) for ``args``."""
    app, out, tmp = start(args.out, "histodesk-deploy-shots-")
    run_dir = args.run or _train_demo(args.epochs, tmp / "runs")
    from gui.main_window import MainWindow

    window = MainWindow(autoload=False, runs_dir=str(Path(run_dir).parent))
    window.resize(1400, 820)
    window.show()
    window.runs_tab.select_run(run_dir)
    return app, window, out, tmp


def main(argv: list[str] | None = None) -> int:
    """Produce the screenshots; returns 0."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", help="reuse this finished run instead of training one")
    parser.add_argument("--epochs", type=int, default=3, help="epochs of the demo run trained (default 3)")
    parser.add_argument("--out", default=str(REPO / "docs" / "screenshots"), help="folder for the PNGs")
    app, window, out, tmp = _window(parser.parse_args(argv))
    run_dir = window.runs_tab.selected_runs()[0].path
    from gui.deploy.actions import DeployActions

    deploy = window.extension(DeployActions)
    export = deploy.open_export_dialog()
    export.int8_check.setChecked(True)
    export.out_field.set_path(str(tmp / "packages"))
    export.export_button.click()
    wait_until(app, lambda: export.result is not None or "failed" in export.report_label.text(), 600)
    settle(app)
    save(export, out, "deploy-export-dialog")
    export.accept()

    folder = _incoming(run_dir, tmp / "incoming")
    dialog = deploy.open_classify_dialog(model=export.result["package"], folder=str(folder))
    dialog.tta_combo.setCurrentIndex(1)
    settle(app)
    save(dialog, out, "deploy-classify-dialog")
    dialog.accept()
    wait_until(app, lambda: bool(deploy.results), 600)
    results = deploy.results[-1]
    results.select_row(next(i for i, r in enumerate(results.rows) if r["status"] == "ok"))
    settle(app, 0.6)
    save(window, out, "deploy-classifications")
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
