"""The app never tells its user to type a command (issue 13.6): an engine error whose message names a CLI command
also carries what happened and the next step's key (engine.errors.with_step), which the app words itself."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytest.importorskip("PySide6")
from engine.errors import HistoDeskError
from gui.errors import NEXT_STEPS, user_message

COMMAND_WORDS = ("main.py", "histodesk ", "--resume", "--overwrite", "`")
ENGINE = Path(__file__).resolve().parents[2] / "engine"


def _raised(call) -> HistoDeskError:
    with pytest.raises(HistoDeskError) as info:
        call()
    return info.value


def _real_errors(tmp_path: Path) -> list[HistoDeskError]:
    """Errors the engine raises on real (broken) folders: no predictions, a damaged calibration.json, a run
    classified with the ONNX backend, a package without a manifest."""
    from engine.deploy.manifest import read_manifest
    from engine.deploy.predictors import open_predictor
    from engine.evaluation.calibration import load_calibration
    from engine.explain.errors_gallery import misclassified_rows

    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text("{}")
    (run / "calibration.json").write_text("{not json")
    package = tmp_path / "package.hdpkg"
    package.mkdir()
    return [_raised(lambda: misclassified_rows(run)), _raised(lambda: load_calibration(run)),
            _raised(lambda: open_predictor(run, backend="onnx")), _raised(lambda: read_manifest(package))]


def test_the_app_words_the_next_step_where_the_cli_names_a_command(tmp_path):
    for exc in _real_errors(tmp_path):
        assert exc.step in NEXT_STEPS, str(exc)
        assert "main.py" in str(exc)  # the CLI's message keeps its command
        shown = user_message(exc)
        assert exc.what in shown and NEXT_STEPS[exc.step] in shown
        assert not any(word in shown for word in COMMAND_WORDS), shown


def test_every_step_the_engine_names_has_the_apps_wording():
    keys = set()
    for path in ENGINE.rglob("*.py"):
        keys |= set(re.findall(r'with_step\(.*?,\s*"([a-z_]+)"\)', path.read_text(encoding="utf-8"), re.S))
    assert {"continue_batch", "overwrite_batch", "export_run", "reexport_package", "evaluate_run"} <= keys
    assert keys <= set(NEXT_STEPS), keys - set(NEXT_STEPS)


def test_a_failed_job_shows_the_apps_wording(qtbot, tmp_path):
    from engine.explain.errors_gallery import misclassified_rows
    from gui.workers import JobQueue

    queue = JobQueue()
    job = queue.submit("Misclassified", lambda run, progress, cancel: misclassified_rows(run), str(tmp_path))
    qtbot.waitUntil(lambda: job.state == "failed", timeout=10_000)
    assert "no per-image predictions" in job.error
    assert not any(word in job.error for word in COMMAND_WORDS), job.error
