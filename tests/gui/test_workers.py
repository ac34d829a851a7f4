"""JobWorker / JobQueue: real engine jobs in a QThread, cancel, failure, order, event-loop stalls."""

from __future__ import annotations

import threading
import time

import pytest
from PySide6.QtCore import QTimer

from engine.errors import DataError
from engine.jobs import Progress
from engine.runs import Run
from engine.training.job import train
from gui.workers import CANCELLED, DONE, FAILED, JobQueue, JobWorker

pytest.importorskip("pytestqt")


def _wait_idle(qtbot, queue, timeout=60000):
    qtbot.waitUntil(queue.is_idle, timeout=timeout)


def test_worker_runs_training_and_reports_progress(qtbot, tiny_config):
    queue = JobQueue()
    events = []
    queue.job_progress.connect(lambda job, ev: events.append((ev.stage, threading.current_thread())))
    with qtbot.waitSignal(queue.job_finished, timeout=60000) as blocker:
        job = queue.submit("train tiny", train, tiny_config, kind="train")
    assert blocker.args[0] is job and job.state == DONE
    assert isinstance(job.result, Run) and job.result.summary["status"] == "completed"
    stages = [s for s, _ in events]
    assert stages.count("epoch") == 2 and "done" in stages and "log" in stages
    assert all(t is threading.main_thread() for _, t in events)  # delivered in the GUI thread
    assert len(job.history) == 2 and job.log
    _wait_idle(qtbot, queue)


def test_progress_is_coalesced_but_keeps_epoch_log_done(qtbot):
    def chatty(*, progress, cancel):
        for i in range(2000):
            progress(Progress("train", i, 2000))
            if i % 500 == 0:
                progress(Progress("epoch", i // 500, 4, metrics={"epoch": i // 500}))
                progress(Progress("log", message=f"line {i}"))
        progress(Progress("done", message="completed"))
        return 42

    worker = JobWorker(chatty)
    got = []
    worker.progress.connect(got.append)
    worker.run()  # synchronous call: the throttle does not depend on threads
    stages = [e.stage for e in got]
    assert stages.count("epoch") == 4 and stages.count("log") == 4 and stages[-1] == "done"
    assert stages.count("train") < 100  # 2000 raw events, coalesced


def test_cancel_running_training_keeps_cancelled_run(qtbot, tiny_config):
    tiny_config.epochs = 50
    queue = JobQueue()
    job = queue.submit("train long", train, tiny_config, kind="train")
    qtbot.waitUntil(lambda: job.progress is not None, timeout=30000)
    with qtbot.waitSignal(queue.job_finished, timeout=30000):
        queue.cancel(job)
    assert job.state == CANCELLED
    assert isinstance(job.result, Run) and job.result.summary["status"] == "cancelled"
    _wait_idle(qtbot, queue)


def test_failing_job_reports_message_and_queue_keeps_working(qtbot):
    def bad_data(*, progress, cancel):
        raise DataError("No images found in /nowhere.")

    def crash(*, progress, cancel):
        raise ZeroDivisionError("boom")

    queue = JobQueue()
    failures = []
    queue.job_failed.connect(lambda job, msg, tb: failures.append((job, msg, tb)))
    a = queue.submit("bad", bad_data)
    b = queue.submit("crash", crash)
    c = queue.submit("ok", lambda *, progress, cancel: "fine")
    _wait_idle(qtbot, queue)
    assert (a.state, b.state, c.state) == (FAILED, FAILED, DONE) and c.result == "fine"
    assert failures[0][1] == "No images found in /nowhere." and failures[0][2] == ""  # user error: no traceback
    assert "ZeroDivisionError: boom" == failures[1][1] and "Traceback" in failures[1][2]


def test_disk_full_is_one_line_with_the_trace_behind_show_details(qtbot, tmp_path):
    import errno
    import os

    from PySide6.QtWidgets import QMessageBox

    from gui.errors import show_error

    target = tmp_path / "predictions.csv"

    def full_disk(*, progress, cancel):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(target))

    queue = JobQueue()
    failures = []
    queue.job_failed.connect(lambda job, msg, tb: failures.append((msg, tb)))
    queue.submit("write", full_disk)
    _wait_idle(qtbot, queue)
    message, trace = failures[0]
    assert message == f"disk full while writing {target}: free some space and try again"
    assert "Traceback" in trace and "OSError" in trace
    box = show_error(None, "write failed", message, trace)
    assert box.text() == message and "Traceback" in box.detailedText()
    assert box.icon() == QMessageBox.Icon.Critical
    box.resize(500, 150)
    box.grab().save("/tmp/histodesk_error_dialog.png")
    box.close()
    two = show_error(None, "failed", "first line\nsecond line")
    assert two.text() == "first line" and "second line" in two.detailedText()
    two.close()


def test_jobs_run_one_at_a_time_in_order(qtbot):
    log, active = [], []

    def step(name, *, progress, cancel):
        active.append(name)
        assert len(active) == 1, "two jobs ran at once"
        log.append(f"start {name}")
        time.sleep(0.05)
        log.append(f"end {name}")
        active.remove(name)
        return name

    queue = JobQueue()
    started = []
    queue.job_started.connect(lambda job: started.append(job.title))
    jobs = [queue.submit(n, step, n) for n in ("first", "second", "third")]
    assert queue.running() is jobs[0] and queue.queued() == jobs[1:]
    queue.cancel(jobs[2])  # a queued job is just removed
    _wait_idle(qtbot, queue)
    assert log == ["start first", "end first", "start second", "end second"]
    assert started == ["first", "second"] and jobs[2].state == CANCELLED


def test_event_loop_never_stalls_during_training(qtbot, tiny_config):
    tiny_config.epochs = 25
    queue = JobQueue()
    gaps, last = [], [time.perf_counter()]

    def tick():
        now = time.perf_counter()
        gaps.append(now - last[0])
        last[0] = now

    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(tick)
    timer.start()
    with qtbot.waitSignal(queue.job_finished, timeout=60000):
        queue.submit("train tiny", train, tiny_config)
    timer.stop()
    worst_ms = max(gaps[1:]) * 1000
    print(f"\nEVENT-LOOP STALL: max gap {worst_ms:.1f} ms over {len(gaps)} ticks of 10 ms")
    assert worst_ms < 100
    _wait_idle(qtbot, queue)
