"""Logging configured once (engine/logs.py): engine records of a job land in its run's train.log, two jobs in two
threads keep their own records, the CLI prints each warning once on stderr."""

from __future__ import annotations

import io
import json
import logging
import re
import sys
import threading
from itertools import product

from engine.cli.main import main as cli
from engine.data.cache import map_with_progress
from engine.lifecycle import RunLifecycle
from engine.logs import ConsoleHandler, configure_console, job_scope
from engine.runs import Run
from tests.helpers import tiny_config, tiny_demo

CACHE_WARNING = "WARNING: Cannot write the image cache"
LINE = re.compile(r"^\[\d\d:\d\d:\d\d\] ")


def _block_image_cache(home) -> None:
    """Files where the cache's two-character sub-folders go: every cache write fails (a warning, no error)."""
    cache = home / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    for a, b in product("0123456789abcdefp", repeat=2):
        (cache / f"{a}{b}").write_text("not a folder")


def _weights_file(path):
    """A basic_cnn weights file matching tiny_config's model, so loading it logs an INFO report."""
    from engine.models import create_model
    from engine.training.checkpoint import save_weights

    save_weights(create_model("basic_cnn", 2, head_hidden=16, image_size=32), path)
    return path


def test_cli_training_logs_cache_warnings_and_weights_report_in_train_log(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HISTODESK_HOME", str(tmp_path / "home"))
    _block_image_cache(tmp_path / "home")
    weights = _weights_file(tmp_path / "init.safetensors")
    config = tiny_config(tiny_demo(tmp_path), tmp_path / "runs", epochs=1, evaluation={"n_bootstrap": 0},
                         model={"pretrained": str(weights)})
    (tmp_path / "config.json").write_text(json.dumps(config.to_dict()))

    assert cli(["--quiet", "train", "--config", str(tmp_path / "config.json")]) == 0

    err = capsys.readouterr().err
    (run_dir,) = (tmp_path / "runs").iterdir()
    log = (run_dir / "train.log").read_text()
    lines = log.splitlines()
    report = [i for i, line in enumerate(lines) if "loaded " in line and str(weights) in line]
    assert report, log  # the INFO report of weights loaded before the run folder existed
    assert report[0] < next(i for i, line in enumerate(lines) if "Run completed" in line)
    cache_lines = [line for line in lines if CACHE_WARNING in line]
    assert cache_lines and all(LINE.match(line) for line in cache_lines)  # Run.log's line format
    # --quiet: warnings only, each once on stderr; the INFO report and Run.log lines are not printed
    assert err.count(CACHE_WARNING) == len(cache_lines)
    assert "loaded " not in err and "Run completed" not in err


def test_two_jobs_in_two_threads_keep_their_records(tmp_path):
    runs = [Run.create(name, tmp_path) for name in ("a", "b")]
    both_inside = threading.Barrier(2, timeout=30)
    errors = []

    def job(run: Run, name: str) -> None:
        try:
            with RunLifecycle(run, command="test") as life:
                both_inside.wait()
                logging.getLogger("engine.data.cache").warning("record of job %s", name)
                map_with_progress(lambda i: logging.getLogger("engine.data.cache").warning(
                    "helper %d of job %s", i, name), [1, 2, 3], stage="cache", workers=2)
                both_inside.wait()
                life.finish("completed")
        except Exception as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=job, args=(run, name)) for run, name in zip(runs, "ab")]
    for t in threads:
        t.start()
    logging.getLogger("engine.data.cache").warning("record of no job")
    for t in threads:
        t.join(60)
    assert not errors
    for run, mine, other in ((runs[0], "a", "b"), (runs[1], "b", "a")):
        log = run.file("train.log").read_text()
        assert f"WARNING: record of job {mine}" in log and log.count(f"of job {mine}") == 4
        assert f"of job {other}" not in log and "no job" not in log
        assert f"Run completed: {run.path}" in log


def test_records_before_the_run_exists_wait_for_its_log(tmp_path):
    run = Run.create("early", tmp_path)
    with job_scope():
        logging.getLogger("engine.models.weights_io").info("weights report before the run")
        with RunLifecycle(run, command="test") as life:
            life.finish("completed")
        logging.getLogger("engine.models.weights_io").warning("after the run")
    log = run.file("train.log").read_text().splitlines()
    assert log[0].endswith("] weights report before the run") and LINE.match(log[0])
    assert "after the run" not in "\n".join(log)


def test_console_configured_twice_has_one_handler_and_prints_once(tmp_path):
    first, second = io.StringIO(), io.StringIO()
    configure_console(logging.INFO, first)
    handler = configure_console(logging.WARNING, second)
    engine = logging.getLogger("engine")
    assert [h for h in engine.handlers if isinstance(h, ConsoleHandler)] == [handler]
    logging.getLogger("engine.data.cache").info("an info line")
    logging.getLogger("engine.data.cache").warning("a warning\nwith a second line")
    Run.create("console", tmp_path).log("a run log line")  # reaches the terminal through progress, not here
    assert first.getvalue() == "" and second.getvalue() == "WARNING: a warning\n"
    configure_console(logging.INFO)  # back to the CLI's default (sys.stderr) for later tests
    assert handler.stream is sys.stderr
