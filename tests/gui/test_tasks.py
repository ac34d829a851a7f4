"""TaskRunner: short calls off the GUI thread, outcomes in the GUI thread, stale ones dropped, no blocking."""

from __future__ import annotations

import threading
import time

import pytest

pytest.importorskip("pytestqt")

from engine.errors import DataError
from gui.tasks import TaskRunner, wait_for_retired


def test_result_is_delivered_in_the_gui_thread_from_a_worker_thread(qtbot):
    runner = TaskRunner(threads=2)
    ran_in, got = [], []

    def work(a, b):
        ran_in.append(threading.current_thread())
        return a + b

    runner.submit(work, 2, 3, on_done=lambda r: got.append((r, threading.current_thread())))
    qtbot.waitUntil(lambda: bool(got), timeout=5000)
    assert got == [(5, threading.main_thread())]
    assert ran_in and ran_in[0] is not threading.main_thread()
    assert runner.pending() == 0
    assert runner.shutdown()


def test_errors_arrive_as_one_line(qtbot):
    runner = TaskRunner()
    errors: list[str] = []

    def missing():
        raise DataError("no such image")

    def broken():
        raise ValueError("bad value\nsecond line")

    runner.submit(missing, on_error=errors.append)
    runner.submit(broken, on_error=errors.append)
    qtbot.waitUntil(lambda: len(errors) == 2, timeout=5000)
    assert errors[0] == "no such image"
    assert all("\n" not in e and "Traceback" not in e for e in errors), errors
    assert runner.pending() == 0


def test_a_cancelled_task_is_skipped_or_its_result_dropped(qtbot):
    runner = TaskRunner(threads=1)
    release, started, got = threading.Event(), threading.Event(), []

    def blocking():
        started.set()
        release.wait(5)
        return "late"

    first = runner.submit(blocking, on_done=got.append)
    assert started.wait(5)
    queued = runner.submit(lambda: got.append("ran") or "never", on_done=got.append)
    queued.cancel()
    first.cancel()  # running: it finishes, but its result is dropped
    latest = runner.submit(lambda: "latest", on_done=got.append)
    release.set()
    qtbot.waitUntil(lambda: runner.pending() == 0, timeout=5000)
    assert got == ["latest"] and not latest.cancelled


def test_shutdown_returns_at_once_while_a_task_runs(qtbot):
    runner = TaskRunner()
    release, started, got = threading.Event(), threading.Event(), []
    runner.submit(lambda: started.set() or release.wait(10), on_done=got.append)
    assert started.wait(5)
    t0 = time.perf_counter()
    assert runner.shutdown() is False
    assert time.perf_counter() - t0 < 0.1
    assert not runner.is_busy()
    release.set()
    assert wait_for_retired(5000)
    qtbot.wait(50)
    assert got == []  # dropped: the runner was shut down
