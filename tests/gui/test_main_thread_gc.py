"""Cyclic garbage is collected on the GUI thread only, never in a job's worker thread."""

from __future__ import annotations

import gc
import threading


def test_worker_threads_never_collect_and_the_gui_thread_does(qtbot, main_thread_gc):
    assert not gc.isenabled()
    threads: list[str] = []

    def on_gc(phase, info):
        if phase == "start":
            threads.append(threading.current_thread().name)

    gc.callbacks.append(on_gc)
    try:
        def churn():  # enough cyclic garbage to cross every threshold many times over
            for _ in range(200_000):
                a, b = [], []
                a.append(b)
                b.append(a)

        worker = threading.Thread(target=churn, name="job-worker")
        worker.start()
        while worker.is_alive():
            qtbot.wait(20)
        qtbot.waitUntil(lambda: bool(threads), timeout=5000)  # collected (by this or the app's collector)
    finally:
        gc.callbacks.remove(on_gc)
    assert threads and set(threads) == {threading.main_thread().name}


def test_a_job_starts_with_the_heap_frozen(qtbot, main_thread_gc):
    """A job's collections walk only what it creates (so the GUI thread's never walk the whole heap)."""
    from gui.workers import JobQueue

    alive = [object()]  # a container: tracked by the collector
    seen = {}

    def probe(*, progress, cancel):
        seen["alive is frozen"] = not any(obj is alive for obj in gc.get_objects())  # the permanent generation
        return gc.get_freeze_count()

    queue = JobQueue()
    with qtbot.waitSignal(queue.job_finished, timeout=10000):
        job = queue.submit("probe", probe)
    assert job.result > 0 and seen["alive is frozen"]
