"""The newcomer walk-through (issue 13): drive the app's flows offscreen and time each step.

    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/walkthrough.py --out benchmarks/results/walkthrough_cpu.txt

One process, a fresh temporary HistoDesk home and settings folder (a first launch), the real MainWindow built as
``gui.app.run_app`` builds it, and every step done through the window's own objects: open BreaKHis, train a preset
through the wizard (its measured estimate recorded), cancel after epoch 1 from the Jobs tab (the ETA then
recorded), resume from the Runs tab, browse predictions with the CAM canvas zoomed in, export to ONNX, classify a
folder with the package. Per step: wall seconds, the GUI thread's longest stall (the tests' 10 ms StallMonitor),
the GUI thread's CPU seconds. The table and the machine go to ``--out``.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import platform
import shutil
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
PRESET = "s1-basic-cnn"
STEP_TIMEOUT_S = 900


def parse_args() -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "breakhis-sample"))
    parser.add_argument("--classify", default=str(REPO.parent / "shared" / "data" / "idc-sample"),
                        help="images to copy into a temporary folder and classify")
    parser.add_argument("--classify-n", type=int, default=200, help="how many of them (sorted by path)")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--size", type=int, default=128, help="training image size (px)")
    parser.add_argument("--out", default=None, help="write the table here (else only printed)")
    return parser.parse_args()


def isolate() -> Path:
    """A fresh HistoDesk home and settings folder (a first launch); start-up tracing on."""
    tmp = Path(tempfile.mkdtemp(prefix="histodesk-walk-"))
    os.environ["HISTODESK_HOME"] = str(tmp / "home")
    os.environ["XDG_CONFIG_HOME"] = str(tmp / "config")
    os.environ["HISTODESK_STARTUP_TRACE"] = "1"
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    return tmp


def wait_until(cond, what: str, timeout_s: float = STEP_TIMEOUT_S) -> None:
    """Run the event loop until ``cond()`` is true (checked every 20 ms); TimeoutError after ``timeout_s``."""
    from PySide6.QtCore import QEventLoop, QTimer

    deadline = time.monotonic() + timeout_s
    loop, timer = QEventLoop(), QTimer()
    timer.setInterval(20)
    timer.timeout.connect(lambda: loop.quit() if cond() or time.monotonic() > deadline else None)
    if not cond():
        timer.start()
        loop.exec()
        timer.stop()
    if not cond():
        raise TimeoutError(f"timed out after {timeout_s:.0f} s waiting for {what}")


def ended(job) -> bool:
    """The job ended; a failure stops the walk-through with the job's one-line message."""
    if job.state == "failed":
        raise RuntimeError(f"{job.title} failed: {job.error}")
    return job.state in ("done", "cancelled")


class Recorder:
    """The steps' rows: wall time, longest GUI stall, the GUI thread's CPU, notes."""

    def __init__(self):
        self.rows: list[dict] = []

    @contextmanager
    def step(self, name: str):
        """Time the block as step ``name`` with a StallMonitor running; yields the row (add ``notes``)."""
        from tests.gui.stall_monitor import StallMonitor
        from tests.gui.stall_sampler import StallSampler

        row = {"step": name, "notes": []}
        monitor = StallMonitor(where=lambda: name).start()
        sampler = StallSampler(monitor).start()  # the stacks seen while the GUI thread does not tick
        t0, cpu0 = time.perf_counter(), time.thread_time()
        try:
            yield row
        finally:
            row["wall_s"] = time.perf_counter() - t0
            row["gui_cpu_s"] = time.thread_time() - cpu0
            row["stall_ms"] = monitor.stop()
            sampler.stop()
            row["culprits"] = sampler.report(2)
            row["over_100"] = sum(gap > 0.1 for gap in monitor.gaps[1:])
            row["stall_cpu_ms"] = max((cpu for gap, cpu, _w in monitor.slow if gap >= row["stall_ms"] - 1),
                                      default=0)
            self.rows.append(row)
            print(f"{name}: {row['wall_s']:.1f} s, worst stall {row['stall_ms']:.0f} ms", flush=True)


def menu_action(window, text: str):
    """The menu-bar action called ``text``."""
    for top in window.menuBar().actions():
        for action in top.menu().actions() if top.menu() else []:
            if action.text() == text:
                return action
    raise LookupError(text)


def start_app(rec: Recorder, marks: dict):
    """Step 1: the app's start-up (gui.app.run_app without exec); painted/usable in seconds since process start."""
    import logging

    from PySide6.QtCore import QTimer

    from engine.logs import configure_logging
    from gui.app import create_application
    from gui.startup import after_first_paint, process_age, trace, trace_startup

    configure_logging(logging.WARNING)
    app = create_application(["histodesk-walkthrough"])
    from gui.main_window import MainWindow

    window = MainWindow()
    trace_startup(window)
    after_first_paint(window, lambda: (marks.update(painted=process_age()), QTimer.singleShot(
        0, lambda: marks.update(usable=process_age()))), first=True)  # usable: the event loop answers again
    window.runtime.ready.connect(lambda _info: (trace("runtime"), marks.update(runtime=process_age())))
    window.confirm_close = lambda: True
    with rec.step("1 start (first launch: demo made and opened)") as row:
        window.show()
        wait_until(lambda: "usable" in marks, "the first paint")
        wait_until(lambda: window.catalog is not None and window.split is not None and window.queue.is_idle(),
                   "the demo dataset")
        wait_until(lambda: "runtime" in marks, "the runtime probe")
        row["notes"].append(f"painted {marks['painted']:.2f} s, usable {marks['usable']:.2f} s, device probed "
                            f"{marks['runtime']:.2f} s after process start")
    return app, window


def open_breakhis(rec: Recorder, window, data: str) -> None:
    """Step 2: File > open a dataset folder (MainWindow.open_dataset, what the dialog calls)."""
    with rec.step("2 open BreaKHis sample") as row:
        window.open_dataset(data)
        wait_until(lambda: window.dataset_path == data and window.split is not None and window.queue.is_idle(),
                   "the BreaKHis scan and split")
        row["notes"].append(f"{len(window.catalog.records)} images")


def train_and_cancel(rec: Recorder, window, args, found: dict):
    """Step 3: New training with the preset, a small override, the review page's estimate, Finish; cancel from
    the Jobs tab once epoch 1 is reported (recording the ETA then)."""
    from PySide6.QtWidgets import QWizard

    import gui.wizard.review_page as review

    measured = review.estimate_run

    def recording(*a, **k):  # the review page's own call, its TimeEstimate kept for the table
        found["estimate"] = measured(*a, **k)
        return found["estimate"]

    review.estimate_run = recording
    with rec.step(f"3 train {PRESET} ({args.epochs} ep, {args.size} px), cancel after epoch 1") as row:
        wizard = window.new_training(preset=PRESET)
        wizard.dataset_page.size_spin.setValue(args.size)
        wizard.recipe_page.epochs_spin.setValue(args.epochs)
        while wizard.currentPage() is not wizard.review_page:
            wizard.next()
        label, shown = wizard.review_page.estimate_label, time.monotonic()
        wait_until(lambda: label.text().startswith(("about", "unknown")), "the wizard's estimate")
        found["measuring_s"] = time.monotonic() - shown
        found["estimate_text"] = label.text()
        wizard.button(QWizard.WizardButton.FinishButton).click()
        job = window.queue.jobs[-1]

        def on_progress(j, event) -> None:
            if j is job and event.stage == "epoch" and event.metrics.get("epoch") == 1 and "eta_total" not in found:
                found["epoch1_at"] = time.monotonic() - job.started_at
                found["eta_total"] = found["epoch1_at"] + (event.eta_s or 0.0)
                found["eta_text"] = window.jobs_panel.curves.stage.left.text()
                window.jobs_panel.select_job(job)
                window.jobs_panel.cancel_button.click()

        window.queue.job_progress.connect(on_progress)
        wait_until(lambda: ended(job), "the cancelled training")
        window.queue.job_progress.disconnect(on_progress)
        review.estimate_run = measured
        found["job1_s"] = job.ended_at - job.started_at
        row["notes"].append(f"{job.state}: {window.statusBar().currentMessage()}")
    return job


def resume_from_runs_tab(rec: Recorder, window, run_path, found: dict) -> None:
    """Step 4: the Runs tab's Resume on the cancelled run, to the end."""
    from gui.resume import ResumeActions

    with rec.step("4 resume from the Runs tab to the end") as row:
        window.tabs.setCurrentWidget(window.runs_tab)
        actions = window.extension(ResumeActions)
        window.runs_tab.select_run(run_path)
        if not actions.button.isEnabled():
            raise RuntimeError(f"Resume is disabled: {actions.button.toolTip()}")
        actions.button.click()
        job = window.queue.jobs[-1]
        wait_until(lambda: ended(job), "the resumed training")
        found["job2_s"] = job.ended_at - job.started_at
        row["notes"].append(f"{job.state}, run {job.result.summary.get('status')}")


def browse_predictions(rec: Recorder, window, rows: int = 4) -> None:
    """Step 5: Explain > Prediction browser on the selected run; a few rows' heatmaps; the canvas zoomed in."""
    with rec.step(f"5 prediction browser: {rows} rows' CAMs, zoom in, 1:1") as row:
        menu_action(window, "Prediction browser").trigger()
        browser = window.tabs.currentWidget()
        panel = browser.panel
        for i in range(rows):
            browser.select_row(i)
            wait_until(lambda: panel.last_result is not None and panel.last_result["request"] == panel._request,
                       f"the heatmap of row {i}")
        canvas = panel.image_view
        canvas.zoom_in()
        canvas.zoom_in()
        zoomed = canvas.zoom()
        canvas.actual_size()
        settle = time.monotonic() + 0.5
        wait_until(lambda: time.monotonic() > settle, "the canvas's repaints")
        row["notes"].append(f"{browser.total_count()} predictions; zoom {zoomed:.2f}x then 1:1 ({canvas.zoom():.2f}x)")


def export_run(rec: Recorder, window) -> str:
    """Step 6: File > Export model to ONNX... on the selected run; returns the package folder."""
    from gui.deploy.actions import DeployActions

    with rec.step("6 export to ONNX (parity checked)") as row:
        menu_action(window, "Export model to ONNX...").trigger()
        dialog = window.extension(DeployActions).dialogs[-1]
        dialog.export_button.click()
        wait_until(lambda: dialog.result is not None or "failed" in dialog.report_label.text(), "the export")
        if dialog.result is None:
            raise RuntimeError(dialog.report_label.text())
        row["notes"].append(f"parity max diff {dialog.result['max_prob_diff']:.1e}")
        dialog.accept()
    return dialog.result["package"]


def classify(rec: Recorder, window, package: str, folder: Path) -> None:
    """Step 7: File > Classify folder... with the package; results in the outputs folder."""
    from PySide6.QtWidgets import QDialogButtonBox

    from gui.deploy.actions import DeployActions

    deploy = window.extension(DeployActions)
    with rec.step("7 classify a folder with the package") as row:
        menu_action(window, "Classify folder...").trigger()
        dialog = deploy.dialogs[-1]
        dialog.set_model(package)
        dialog.folder_field.set_path(str(folder))
        dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
        wait_until(lambda: bool(deploy.results), "the classification")
        result = deploy.results[-1].result
        row["notes"].append(f"{result['n_ok']} ok, {result['n_failed']} failed, backend {result['backend']}")


def copy_images(src: Path, dest: Path, n: int) -> Path:
    """The first ``n`` PNGs under ``src`` (sorted) copied flat into ``dest`` (the source stays untouched)."""
    dest.mkdir(parents=True)
    for i, path in enumerate(sorted(src.rglob("*.png"))[:n]):
        shutil.copy(path, dest / f"{i:04d}_{path.name}")
    return dest


def machine(load_start: float) -> list[str]:
    """The machine's description lines."""
    import torch

    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor() or "?") \
        if Path("/proc/cpuinfo").exists() else platform.processor()
    return [f"Machine: {model}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, Python "
            f"{platform.python_version()}, torch {torch.__version__} ({torch.get_num_threads()} threads), Qt platform "
            f"{os.environ.get('QT_QPA_PLATFORM')}",
            f"1-minute load average: {load_start:.2f} at the start, {os.getloadavg()[0]:.2f} at the end"]


def report(rec: Recorder, found: dict, load_start: float, args) -> str:
    """The result text: machine, steps table, estimates against measured times."""
    lines = [f"## {_dt.datetime.now():%Y-%m-%d %H:%M} walk-through (scripts/walkthrough.py, offscreen)",
             *machine(load_start), "",
             "| step | wall s | worst GUI stall ms | GUI CPU in it ms | gaps > 100 ms | GUI-thread CPU s | notes |",
             "|---|---|---|---|---|---|---|"]
    for r in rec.rows:
        lines.append(f"| {r['step']} | {r['wall_s']:.1f} | {r['stall_ms']:.0f} | {r['stall_cpu_ms']} | "
                     f"{r['over_100']} | {r['gui_cpu_s']:.2f} | {'; '.join(r['notes'])} |")
    took = found.get("job1_s", 0.0) + found.get("job2_s", 0.0)
    est = found.get("estimate")
    job1, job2 = found.get("job1_s", 0.0), found.get("job2_s", 0.0)
    lines += ["", f"Training ({PRESET}, {args.epochs} epochs at {args.size} px): first job {job1:.1f} s "
              f"(cancelled after epoch 1 at {found.get('epoch1_at', 0):.1f} s), resume {job2:.1f} s, "
              f"measured total {took:.1f} s (the resume's restart included)."]
    if est is not None and took:
        lines.append(f"- wizard estimate (measured in {found['measuring_s']:.1f} s): {est.seconds:.1f} s "
                     f"({est.low:.0f}-{est.high:.0f} s) -> estimate/measured {est.seconds / took:.2f}; shown as: "
                     f"{found['estimate_text']}")
    if "eta_total" in found and took:
        lines.append(f"- Jobs ETA after epoch 1 ({found['eta_text'] or 'no ETA shown'}): predicted total "
                     f"{found['eta_total']:.1f} s -> predicted/measured {found['eta_total'] / took:.2f}")
    stalls = [f"- {r['step']}: {r['stall_ms']:.0f} ms; stacks sampled in stalls: {r['culprits']}"
              for r in rec.rows if r["stall_ms"] > 100]
    if stalls:
        lines += ["", "Stalls over 100 ms (GUI CPU near 0 in a stall: another thread held the GIL):", *stalls]
    return "\n".join(lines) + "\n"


def main() -> int:
    """Run the walk-through; print the table and write it to ``--out``."""
    args = parse_args()
    tmp = isolate()
    load_start = os.getloadavg()[0]
    rec, found, marks = Recorder(), {}, {}
    try:
        _app, window = start_app(rec, marks)
        data = str(Path(args.data).resolve())
        open_breakhis(rec, window, data)
        job = train_and_cancel(rec, window, args, found)
        resume_from_runs_tab(rec, window, job.result.path, found)
        browse_predictions(rec, window)
        package = export_run(rec, window)
        classify(rec, window, package, copy_images(Path(args.classify), tmp / "incoming", args.classify_n))
        text = report(rec, found, load_start, args)
        window.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(text)
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("a", encoding="utf-8") as fh:
            fh.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
