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
