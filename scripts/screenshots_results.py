"""Save PNG screenshots of the trustworthy-results views into docs/screenshots/ (offscreen).

Usage: ``QT_QPA_PLATFORM=offscreen python scripts/screenshots_results.py [--out DIR] [--epochs N]``.
Runs in a throw-away HistoDesk home: copies the real BreaKHis sample
(``../shared/data/breakhis-sample``, 24 patients) and the IDC sample, trains
two models on the same split, evaluates one on the IDC patches with a label
map, runs a tiny S1 study and a label-efficiency study from the Study menu,
and grabs the runs list (val-ranked, test apart), the run view's tabs
(intervals and warnings, calibration, patients, external evaluation), the
comparison, the external-evaluation, study and report dialogs and the study
views.
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
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # recipes needing ImageNet weights are skipped, as offline users see

from screenshots import save, settle, start, wait_until

DATA = REPO.parent / "shared" / "data"


def wait_job(app, job) -> None:
    """Process events until ``job`` has ended; RuntimeError when it did not finish."""
    wait_until(app, lambda: job.state in ("done", "failed", "cancelled"), timeout_s=3600)
    if job.state != "done":
        raise RuntimeError(f"{job.title}: {job.state} {job.error}")


def train_two(app, window, data: Path, runs: Path, epochs: int) -> list:
    """basic_cnn and simple_cnn on the same patient-level split (same test images)."""
    from engine.training.config import build_config

    out = []
    for name, seed in (("basic_cnn", 0), ("simple_cnn", 1)):
        cfg = build_config(None, {"name": name, "seed": seed, "epochs": epochs, "batch_size": 16,
                                  "runs_dir": str(runs), "model": {"name": name, "head_hidden": 64},
                                  "data": {"path": str(data), "image_size": 64}})
        job = window.start_training(cfg)
        wait_job(app, job)
        out.append(job.result)
    return out


def run_view_shots(app, window, out: Path, run) -> None:
    """The run view's tabs: metrics with intervals and the banner, calibration, patients, external."""
    window.tabs.setCurrentWidget(window.runs_tab)
    window.runs_tab.select_run(run.path)
    view = window.run_view
    view.select_split("test")
    for tab, name in ((0, "trust-02-run-metrics"), (1, "trust-03-run-calibration"), (6, "trust-04-run-patients")):
        view.tabs.setCurrentIndex(tab)
        settle(app, 0.6)
        save(window, out, name)
    view.tabs.setCurrentIndex(0)
    settle(app, 0.4)
    save(window, out, "05-run-results")
    view.select_split("idc")
    settle(app, 0.4)
    save(window, out, "trust-05-run-external")
    view.tabs.setCurrentWidget(view.data_notes)
    settle(app, 0.4)
    save(window, out, "trust-06-run-external-data")
    view.tabs.setCurrentIndex(0)


def study_shots(app, window, out: Path, data: Path, epochs: int) -> None:
    """New study dialog, an S1 study and a label-efficiency study, their views and the report dialog."""
    from PySide6.QtCore import Qt

    from gui.studies.actions import StudyActions

    actions = window.extension(StudyActions)
    dialog = actions._on_new()
    dialog.set_preset("s1")
    dialog.dataset_edit.set_path(str(data))
    dialog.seeds_edit.setText("0,1")
    dialog.epochs_spin.setValue(epochs)
    dialog.size_spin.setValue(64)
    dialog.name_edit.setText("s1-quick")
    settle(app, 0.5)
    save(dialog, out, "trust-09-study-dialog")
    config = dialog.config()
    dialog.reject()
    wait_job(app, actions.start_study(config))
    settle(app, 0.8)
    save(window, out, "trust-10-study-view")
    report = actions.export_report(actions.views[-1].study["path"])
    report.explain_check.setChecked(False)
    job = report.start()
    wait_job(app, job)
    settle(app, 0.5)
    save(report, out, "trust-12-report-dialog")
    report.close()
    actions.show_runs(actions.views[-1])
    settle(app, 0.6)
    save(window, out, "trust-01-runs-list-study")

    dialog = actions._on_new()
    dialog.set_preset("s1-labels")
    dialog.dataset_edit.set_path(str(data))
    dialog.recipe_list.item(1).setCheckState(Qt.CheckState.Unchecked)  # the CNN alone: a quick study
    dialog.fractions_edit.setText("0.25,0.5,1")
    dialog.steps_spin.setValue(60)
    dialog.size_spin.setValue(64)
    dialog.name_edit.setText("labels-quick")
    config = dialog.config()
    dialog.reject()
    wait_job(app, actions.start_study(config))
    settle(app, 1.0)
    save(window, out, "trust-11-study-label-efficiency")


def main(argv: list[str] | None = None) -> int:
    """Produce the screenshots; returns 0."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(REPO / "docs" / "screenshots"))
    parser.add_argument("--epochs", type=int, default=6)
    args = parser.parse_args(argv)
    app, out, tmp = start(args.out, "histodesk-results-shots-")

    from gui.main_window import MainWindow
    from gui.results.actions import ResultsActions
    from gui.results import CompareRunsWidget

    data = tmp / "breakhis-sample"
    shutil.copytree(DATA / "breakhis-sample", data)
    idc = tmp / "idc-sample"
    shutil.copytree(DATA / "idc-sample", idc)
    window = MainWindow(autoload=False, runs_dir=str(tmp / "runs"))
    window.confirm_close = lambda: True
    window.resize(1280, 800)
    window.show()
    settle(app, 0.5)
    runs = train_two(app, window, data, tmp / "runs", args.epochs)

    window.tabs.setCurrentWidget(window.runs_tab)
    window.runs_tab.select_run(runs[0].path)
    dialog = window.extension(ResultsActions).open_external_dialog()
    dialog.dataset_edit.set_path(str(idc))
    dialog.set_labels({"benign": "0", "malignant": "1"})
    dialog.name_edit.setText("idc")
    settle(app, 0.4)
    save(dialog, out, "trust-08-external-dialog")
    request = dialog.request()
    dialog.reject()
    wait_job(app, window.extension(ResultsActions).evaluate_external(**request))
    run_view_shots(app, window, out, runs[0])

    compare = CompareRunsWidget(runs)
    compare.resize(1280, 760)
    compare.show()
    wait_until(app, lambda: bool(compare.pairs), timeout_s=120)
    settle(app, 0.8)
    save(compare, out, "trust-07-compare")
    save(compare, out, "06-compare-runs")
    compare.close()

    study_shots(app, window, out, data, max(1, args.epochs // 2))
    window.close()
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
