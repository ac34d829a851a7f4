"""Save PNG screenshots of the self-supervised views into docs/screenshots/ (offscreen).

Usage: ``QT_QPA_PLATFORM=offscreen python scripts/screenshots_ssl.py [--out DIR] [--epochs N]``.
Runs in a throw-away HistoDesk home: copies the real BreaKHis sample images of
``../shared/data/breakhis-224-flat`` into one flat, unlabelled folder,
pretrains SimCLR on it from the wizard (grabbing each page, the augmented view
pairs included), then fine-tunes on the labelled sample, runs a
label-efficiency study and grabs the downstream dialog, the study dialog and
its plot.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from screenshots import save, settle, start, wait_until

LABELLED = REPO.parent / "shared" / "data" / "breakhis-224-flat"


def flat_copy(src: Path, dest: Path) -> Path:
    """Copy every image under ``src`` into ``dest`` as ``00000.png``...: no class folders, no names."""
    dest.mkdir(parents=True, exist_ok=True)
    for i, path in enumerate(sorted(p for p in src.rglob("*") if p.suffix.lower() in (".png", ".jpg", ".tif"))):
        shutil.copy(path, dest / f"{i:05d}{path.suffix.lower()}")
    return dest


def wait_job(app, job) -> None:
    """Process events until ``job`` has ended; RuntimeError when it did not finish."""
    wait_until(app, lambda: job.state in ("done", "failed", "cancelled"), timeout_s=1800)
    if job.state != "done":
        raise RuntimeError(f"{job.title}: {job.state} {job.error}")


def main(argv: list[str] | None = None) -> int:
    """Produce the screenshots; returns 0."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(REPO / "docs" / "screenshots"))
    parser.add_argument("--epochs", type=int, default=8, help="SSL epochs")
    parser.add_argument("--backbone", default="resnet18")
    parser.add_argument("--size", type=int, default=64, help="image size (px)")
    args = parser.parse_args(argv)
    app, out, tmp = start(args.out, "histodesk-ssl-shots-")

    from gui.main_window import MainWindow
    from gui.ssl.actions import SSLActions, open_pretrain_wizard

    unlabelled = flat_copy(LABELLED, tmp / "unlabelled-tiles")
    window = MainWindow(autoload=False, runs_dir=str(tmp / "runs"))
    window.confirm_close = lambda: True
    window.resize(1280, 820)
    window.show()
    actions = window.extension(SSLActions)

    wizard = open_pretrain_wizard(window, str(unlabelled))
    wizard.resize(900, 760)
    wizard.data_page.inspect()
    settle(app, 0.3)
    save(wizard, out, "ssl-wizard-1-images")
    wizard.next()
    page = wizard.method_page
    page.method_combo.setCurrentText("simclr")
    page.epochs_spin.setValue(args.epochs)
    page.batch_spin.setValue(16)
    page.size_spin.setValue(args.size)
    settle(app, 0.3)
    save(wizard, out, "ssl-wizard-2-method")
    wizard.next()
    wizard.backbone_page.model_combo.setCurrentText(args.backbone)
    settle(app, 0.3)
    save(wizard, out, "ssl-wizard-3-backbone")
    wizard.next()
    settle(app, 0.5)
    save(wizard, out, "ssl-wizard-4-views")
    wizard.next()
    settle(app, 0.3)
    save(wizard, out, "ssl-wizard-5-review")
    wizard.accept()
    job = window.queue.jobs[-1]
    wait_until(app, lambda: len(job.history) >= 3 or job.state in ("done", "failed", "cancelled"), 1800)
    settle(app, 0.5)
    save(window, out, "ssl-jobs-pretrain")
    wait_job(app, job)
    ssl_run = str(job.result.path)

    from gui.ssl.view_pairs import ViewPairsDialog

    views = ViewPairsDialog(window, ssl_run=ssl_run, method="dino")
    views.method_combo.setCurrentText("dino")
    views.show()
    settle(app, 0.5)
    save(views, out, "ssl-views-dino")
    views.close()

    window.dataset_path = str(LABELLED)
    actions._on_downstream()
    dialog = actions.dialog
    dialog.run_combo.set_path(ssl_run)
    dialog.epochs_spin.setValue(6)
    dialog.frozen_spin.setValue(2)
    dialog.batch_spin.setValue(16)
    settle(app, 0.3)
    save(dialog, out, "ssl-downstream")
    dialog.accept()
    wait_job(app, window.queue.jobs[-1])

    actions._on_label_efficiency()
    le = actions.dialog
    le.run_combo.set_path(ssl_run)
    le.epochs_spin.setValue(6)
    settle(app, 0.3)
    save(le, out, "ssl-label-efficiency-dialog")
    le.accept()
    wait_job(app, window.queue.jobs[-1])
    settle(app, 1.0)
    save(window, out, "ssl-label-efficiency-plot")
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
