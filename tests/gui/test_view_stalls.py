"""The GUI thread never blocks for more than 100 ms while a main view opens, runs its first query and closes.

One tiny finished run is built once for the module (trained, classified, robustness measured); each test opens
one view of the main window on it with the 10 ms :class:`StallMonitor` running, waits until the view's busy
state ends, hovers or selects what the view loads lazily, closes the view and asserts the longest stall. A
watchdog thread samples the GUI thread's stack during a stall, so a failure names the code that blocked.
"""

from __future__ import annotations

import os

import pytest

from tests.gui.stall_monitor import StallMonitor, warm_engine_imports
from tests.gui.stall_sampler import StallSampler

LIMIT_MS = 100


def wall_limit_ms() -> float:
    """:data:`LIMIT_MS`, scaled by how overloaded the machine is (1-minute load average per core, when over 1).

    On a shared 2-core machine other processes stretch every gap; the GUI thread's own CPU time in a gap
    is held to :data:`LIMIT_MS` regardless.
    """
    return LIMIT_MS * max(1.0, os.getloadavg()[0] / (os.cpu_count() or 1))


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """``(data folder, run)``: a tiny basic-CNN run with its predictions, a classification batch of its data
    in HistoDesk's outputs folder and a robustness.json."""
    from engine.evaluation.predict import predict_folder
    from engine.explain.robustness import robustness_run
    from engine.io_utils import write_json
    from engine.training.job import train
    from gui.preload import import_heavy_modules
    from tests.helpers import tiny_config, tiny_demo

    base = tmp_path_factory.mktemp("stall-run")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HISTODESK_HOME", str(tmp_path_factory.getbasetemp() / "histodesk-home"))  # as _isolated_home
        data = tiny_demo(base, patients_per_class=3, images=2)
        run = train(tiny_config(data, base / "runs", epochs=1, evaluation={"n_bootstrap": 100}))
        predict_folder(str(run.path), str(data), heatmaps=True)
        write_json(run.path / "robustness.json", robustness_run(str(run.path), noise=(0.0, 0.1), blur=(0.0, 2.0)))
    assert run.summary["status"] == "completed"
    warm_engine_imports()  # the engine's first imports are start-up's cost (see stall_monitor.warm_engine_imports)
    import_heavy_modules()  # as gui.preload does in the app after the first paint
    return data, run


@pytest.fixture
def window(qtbot, finished_run):
    """A shown main window on the run's folder (no dataset opened)."""
    from gui.main_window import MainWindow

    win = MainWindow(autoload=False, runs_dir=str(finished_run[1].path.parent))
    qtbot.addWidget(win)
    win.confirm_close = lambda: True
    win.show()
    qtbot.waitExposed(win)
    qtbot.wait(200)  # first paint of the window is start-up's cost
    yield win
    win.close()


def measure(qtbot, what: str, open_view, wait_done, close_view=None, timeout_ms: int = 60000):
    """Run ``open_view()`` under the monitor, wait for ``wait_done()`` and ``close_view()``; assert the stall.

    A view that can be closed is opened a second time when the first opening stalled: a shared 2-core CI
    machine has one-off hiccups (another process, a page-in); a view that is really slow stalls both times."""
    ok, report, view = _measure_once(qtbot, what, open_view, wait_done, close_view, timeout_ms)
    if not ok and close_view is not None:
        ok, again, view = _measure_once(qtbot, what, open_view, wait_done, close_view, timeout_ms)
        report = f"{report}\nopened again: {again}"
    assert ok, report
    return view


def _measure_once(qtbot, what, open_view, wait_done, close_view, timeout_ms):
    """One monitored opening (and closing) of a view: (within the limits, report, view)."""
    monitor = StallMonitor(where=lambda: what)  # slow ticks record the GUI thread's CPU ms: work, or GIL waits
    sampler = StallSampler(monitor)
    monitor.start()
    sampler.start()
    try:
        qtbot.wait(50)  # ticking: the monitor ignores its first gap, so open_view's own time must not fall in it
        view = open_view()
        qtbot.waitUntil(lambda: wait_done(view), timeout=timeout_ms)
        qtbot.wait(100)
        if close_view is not None:
            close_view(view)
            qtbot.wait(150)
    finally:
        worst = monitor.stop()
        sampler.stop()
    slow = sorted(((gap, cpu) for gap, cpu, _what in monitor.slow), reverse=True)[:8]  # (gap, GUI CPU) ms
    worst_cpu, wall_limit = max((cpu for _gap, cpu in slow), default=0), wall_limit_ms()
    report = (f"{what}: longest stall {worst:.0f} ms (limit {wall_limit:.0f} ms at load {os.getloadavg()[0]:.1f}), "
              f"GUI thread CPU in a stall at most {worst_cpu} ms (limit {LIMIT_MS}); gaps over 50 ms as "
              f"(wall, CPU): {slow}; sampled during stalls: {sampler.report()}")
    print("\nSTALL " + report)
    return worst <= wall_limit and worst_cpu <= LIMIT_MS, report, view


def test_dataset_browser(qtbot, window, finished_run):
    from gui.workers import DONE

    data, _run = finished_run

    def opened(_job):
        if window.dataset_path is None or window.queue.jobs[-1].state != DONE:
            return False
        window.browser.select_record(0)  # its preview decodes in the preview's pool thread
        return not window.browser.grid.model()._runner.is_busy()

    measure(qtbot, "dataset browser", lambda: window.open_dataset(str(data)), opened)


def test_runs_view(qtbot, window, finished_run):
    _data, run = finished_run

    def show():
        window.tabs.setCurrentWidget(window.runs_tab)
        window.runs_tab.select_run(run.path)
        return iter(range(window.run_view.tabs.count()))

    def each_tab(tabs):  # each of the run's tabs is drawn when first shown: one per wait step
        index = next(tabs, None)
        if index is not None:
            window.run_view.tabs.setCurrentIndex(index)
        return index is None and window.run_view.run is not None and window.run_view.run.path == run.path

    measure(qtbot, "runs (every tab of the run)", show, each_tab)


def test_prediction_browser(qtbot, window, finished_run):
    from gui.explain.actions import ExplainActions

    _data, run = finished_run
    actions = window.extension(ExplainActions)
    measure(qtbot, "prediction browser", lambda: actions.open_browser(str(run.path)),
            lambda view: view is not None and view.panel.cam is not None and not view.panel.is_busy(),
            close_view=actions.close_tab)


def test_prediction_browser_of_8000_images(qtbot, window, finished_run, tmp_path):
    """A BreaKHis-sized predictions.csv is read in a pool thread ("Loading predictions..." meanwhile)."""
    import shutil

    from gui.explain.actions import ExplainActions
    from gui.explain.prediction_browser import INLINE_BYTES

    run = tmp_path / "big-run"
    shutil.copytree(finished_run[1].path, run)
    header, *lines = (run / "predictions.csv").read_text().splitlines()
    (run / "predictions.csv").write_text("\n".join([header, *(lines * (8000 // len(lines) + 1))[:8000]]) + "\n")
    assert (run / "predictions.csv").stat().st_size > INLINE_BYTES
    actions = window.extension(ExplainActions)
    view = measure(qtbot, "prediction browser, 8000 images", lambda: actions.open_browser(str(run)),
                   lambda v: v.total_count() == 8000 and v.panel.cam is not None and not v.panel.is_busy())
    assert view.count_label.text().startswith("8000 of 8000 images") and view.current_row() == 0
    actions.close_tab(view)


def test_explain_an_image(qtbot, window, finished_run):
    from gui.explain.actions import ExplainActions

    data, run = finished_run
    image = next(p for p in sorted(data.rglob("*.png")))
    actions = window.extension(ExplainActions)

    def open_dialog():
        dialog = actions.open_image_dialog(str(run.path))
        dialog.set_image_path(str(image))
        return dialog

    measure(qtbot, "explain an image", open_dialog,
            lambda d: d.panel.cam is not None and not d.panel.is_busy(), close_view=lambda d: d.reject())


def test_embeddings(qtbot, window, finished_run):
    from gui.embedding.actions import EmbeddingActions

    _data, run = finished_run
    actions = window.extension(EmbeddingActions)

    from gui.embedding.embedding_view import PREVIEW
    from gui.embedding.retrieval_view import TILE

    hovered: list[int] = []

    def tsne_hover_and_thumbnails(view):
        if view.method != "t-SNE":
            return False
        if not hovered:  # hover four points, pin the first: its preview and similar images decode in a pool
            hovered.extend(range(min(4, len(view.emb))))
            for i in hovered:
                view._on_point_hovered(i)
            view._on_point_clicked(0)
        return (view.thumbs.cached(view.emb.paths[0], PREVIEW) is not None  # the hovers before were dropped
                and all(view.thumbs.cached(view.emb.paths[i], TILE) for i, _sim in view.retrieval.results))

    view = measure(qtbot, "embeddings (hover, pin, similar images)", lambda: actions.open_view(str(run.path)),
                   tsne_hover_and_thumbnails, close_view=lambda v: window.close_tab(v))
    assert len(view.retrieval.results) > 1


def test_robustness(qtbot, window, finished_run):
    from gui.explain.actions import ExplainActions

    _data, run = finished_run
    actions = window.extension(ExplainActions)
    measure(qtbot, "robustness", lambda: actions.open_robustness(str(run.path)),
            lambda v: v is not None and v.results is not None, close_view=actions.close_tab)


def test_classifications(qtbot, window, finished_run):
    from gui.deploy.actions import deploy_actions

    actions = deploy_actions(window)

    def opened(view):
        if not view.batches:
            return False
        view.table.selectRow(0)
        return view.results is not None

    measure(qtbot, "classifications", actions.open_classifications, opened,
            close_view=lambda _v: actions.close_classifications())
