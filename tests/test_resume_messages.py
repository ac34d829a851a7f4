"""A cancelled run's messages name no command (the CLI adds its own resume hint); a resume reports the rows kept."""

from __future__ import annotations

from engine.jobs import CancelToken
from engine.training.job import resume, train
from tests.helpers import tiny_config, tiny_demo


def test_cancel_message_is_command_neutral_and_resume_reports_the_rows_kept(tmp_path, capsys):
    from engine.cli.commands import print_resume_hint

    data = tiny_demo(tmp_path, patients_per_class=3, images=2)
    token = CancelToken()

    def cancel_after_first_epoch(event):
        if event.stage == "epoch":
            token.cancel()

    events = []
    run = train(tiny_config(data, tmp_path / "runs", epochs=2), cancel=token,
                progress=lambda e: (events.append(e), cancel_after_first_epoch(e)))
    assert run.summary["status"] == "cancelled"
    log = run.file("train.log").read_text()
    assert "Cancelled after" in log and "(1 of 2 epochs done)" in log and "The run can be resumed." in log
    shown = log + "".join(e.message for e in events)
    assert "main.py" not in shown and "--resume" not in shown

    print_resume_hint(run)
    assert f"train --resume {run.path}" in capsys.readouterr().err

    seen = []
    resume(run.path, progress=seen.append)
    resumed = [e for e in seen if e.stage == "resumed"]
    assert len(resumed) == 1 and [r["epoch"] for r in resumed[0].metrics["history"]] == [1]
    assert [e.metrics["epoch"] for e in seen if e.stage == "epoch"] == [2]
    assert run.summary["status"] == "completed"
    print_resume_hint(run)  # a completed run: nothing to resume
    assert capsys.readouterr().err == ""
