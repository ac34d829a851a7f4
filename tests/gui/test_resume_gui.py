"""Resume from the app (issue 13.6): the Runs tab's Resume, Train > Resume run..., messages without commands to
type, and resumed curves that continue the earlier epochs - on real tiny runs."""

from __future__ import annotations

import os

import pytest

from tests.gui.main_window_fixture import shown_main_window

pytest.importorskip("PySide6")
from gui.resume import RESUME_HINT, ResumeActions

GRAB_DIR = os.environ.get("HISTODESK_GRAB_DIR", "/tmp")
TIMEOUT_MS = 120_000
COMMAND_WORDS = ("main.py", "--resume", "histodesk train", "histodesk pretrain")


@pytest.fixture
def window(qtbot, tmp_path):
    with shown_main_window(qtbot, tmp_path / "runs") as win:
        yield win


def _cancel_after_epoch(job, epoch: int) -> None:
    """Cancel ``job`` from its worker thread as soon as epoch ``epoch`` is reported (deterministic)."""
    from PySide6.QtCore import Qt

    def on_progress(event):
        if event.stage == "epoch" and event.metrics.get("epoch") == epoch:
            job.token.cancel()

    job.worker.progress.connect(on_progress, Qt.ConnectionType.DirectConnection)


def _wait(qtbot, job) -> None:
    qtbot.waitUntil(lambda: job.state in ("done", "failed", "cancelled"), timeout=TIMEOUT_MS)


def _visible_texts(window, *jobs) -> list[str]:
    """What a GUI user reads about these jobs: log lines, Jobs tab labels, status bar, the Resume tooltip."""
    panel = window.jobs_panel
    texts = [line for job in jobs for line in job.log] + [job.error for job in jobs]
    texts += [panel.title_label.text(), panel.error_label.text(), panel.curves.note.text(),
              window.statusBar().currentMessage(), window.extension(ResumeActions).button.toolTip()]
    return texts


def _assert_no_command(texts: list[str]) -> None:
    offending = [t for t in texts if any(word in t for word in COMMAND_WORDS)]
    assert not offending, offending


def _epochs_plotted(window, key: str = "train_loss") -> list[float]:
    return window.jobs_panel.curves.curves.epochs(key)


def test_cancelled_training_resumes_from_the_runs_tab_with_continuous_curves(qtbot, window, tiny_config):
    tiny_config.epochs = 3
    job = window.start_training(tiny_config)
    _cancel_after_epoch(job, 2)
    _wait(qtbot, job)
    assert job.state == "cancelled", job.error
    run = job.result
    assert run.summary["status"] == "cancelled" and len(run.metrics()) == 2

    # the messages: the epoch reached and where to resume, never a command to type
    assert "Cancelled after epoch 2 of 3" in window.statusBar().currentMessage()
    assert RESUME_HINT in window.statusBar().currentMessage()
    assert RESUME_HINT in window.jobs_panel.curves.note.text()
    assert any("can be resumed" in line for line in job.log)
    _assert_no_command(_visible_texts(window, job))

    # the Runs tab: the cancelled run is selected and Resume is enabled (button and context menu)
    actions = window.extension(ResumeActions)
    window.tabs.setCurrentWidget(window.runs_tab)
    assert [r.path for r in window.runs_tab.selected_runs()] == [run.path]
    assert actions.button.isEnabled() and actions.action.isEnabled()
    assert "epoch 3" in actions.button.toolTip()
    window.runs_tab.grab().save(os.path.join(GRAB_DIR, "histodesk_resume_runs_tab.png"))

    actions.button.click()
    resumed = window.queue.jobs[-1]
    assert resumed is not job and resumed.title.startswith("Resume ")
    assert _epochs_plotted(window) == [1.0, 2.0]  # seeded from the run's rows before the job reports anything
    assert not actions.button.isEnabled() and "already queued" in actions.button.toolTip()
    _wait(qtbot, resumed)
    assert resumed.state == "done", resumed.error
    assert [row["epoch"] for row in resumed.history] == [1, 2, 3]
    for key in ("train_loss", "val_loss", "val_auc"):  # every curve: epochs 1..3, no gap, no duplicate
        assert _epochs_plotted(window, key) == [1.0, 2.0, 3.0], key
    assert window.jobs_panel.curves.points("train_loss") == pytest.approx([r["train_loss"] for r in run.metrics()])
    window.jobs_panel.grab().save(os.path.join(GRAB_DIR, "histodesk_resume_jobs_view.png"))
    _assert_no_command(_visible_texts(window, job, resumed))

    # completed now: Resume is disabled and says why
    window.runs_tab.select_run(run.path)
    assert not actions.button.isEnabled() and "completed" in actions.button.toolTip()


def test_cancelled_pretraining_resumes_from_the_resume_dialog(qtbot, window, tiny_data):
    from engine.ssl.config import SSLConfig
    from gui.ssl.actions import SSLActions

    config = SSLConfig.from_dict({"method": "simclr", "backbone": "basic_cnn", "epochs": 3, "batch_size": 8,
                                  "val_fraction": 0.0, "runs_dir": window.runs_dir,
                                  "data": {"path": str(tiny_data), "image_size": 32}})
    job = window.extension(SSLActions).start_pretrain(config)
    _cancel_after_epoch(job, 1)
    _wait(qtbot, job)
    assert job.state == "cancelled", job.error
    _assert_no_command(_visible_texts(window, job))

    menu_action = next(a for a in window.menu("&Train").actions() if a.text() == "Resume run...")
    menu_action.trigger()
    dialog = window.extension(ResumeActions).dialog
    assert [row.run.path for row in dialog.rows] == [job.result.path]
    assert dialog.table.item(0, 1).text() == "self-supervised" and dialog.table.item(0, 3).text() == "1 / 3"
    assert dialog.resume_button.isEnabled()
    dialog.grab().save(os.path.join(GRAB_DIR, "histodesk_resume_dialog.png"))
    dialog.resume_button.click()
    resumed = window.queue.jobs[-1]
    assert resumed.title.startswith("Resume pretraining")
    _wait(qtbot, resumed)
    assert resumed.state == "done", resumed.error
    assert _epochs_plotted(window) == [1.0, 2.0, 3.0]
    _assert_no_command(_visible_texts(window, job, resumed))


def test_only_cancelled_and_interrupted_runs_are_offered(qtbot, window, tmp_path):
    from gui.ssl.actions import SSLActions
    from tests.fake_runs import fake_run, fake_study

    runs_dir = tmp_path / "runs"
    done = fake_run(runs_dir, "done", val=(0.8, 0.7))
    failed = fake_run(runs_dir, "failed", status="failed")
    interrupted = fake_run(runs_dir, "interrupted", status="running")  # its process is gone: interrupted
    interrupted.last_checkpoint.write_bytes(b"")
    no_epoch = fake_run(runs_dir, "no-epoch", status="cancelled")  # cancelled before any checkpoint
    fake_study(runs_dir, "grid", [("cnn-s0", (0.7, 0.6), (0.7, 0.6))])
    window.refresh_runs()
    actions = window.extension(ResumeActions)

    dialog = actions.open_dialog()
    assert [row.run.path for row in dialog.rows] == [interrupted.path]
    assert dialog.table.item(0, 2).text() == "interrupted"
    dialog.reject()
    window.runs_list.table.clearSelection()
    window.extension(SSLActions)._on_resume()  # Self-supervised > Resume pretraining...: SSL runs only
    assert window.extension(SSLActions).dialog.rows == [] and window.queue.jobs == []
    window.extension(SSLActions).dialog.reject()

    for run, why in ((done, "completed"), (failed, "failed"), (no_epoch, "no checkpoint"), (interrupted, "")):
        window.runs_tab.select_run(run.path)
        assert actions.button.isEnabled() == (not why), run.id
        assert why in actions.button.toolTip()
    window.runs_tab.select_run(interrupted.path)
    window.runs_tab.grab().save(os.path.join(GRAB_DIR, "histodesk_resume_interrupted.png"))
