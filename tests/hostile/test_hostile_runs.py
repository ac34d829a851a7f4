"""Hostile run lifecycles: two writers, kill -9, a deleted run folder, a full disk, malicious or broken files.

Every case checks four things: no crash (a CLI command exits 2 with one line
``error: ...`` on stderr and no traceback), no hang (each case has a timeout),
a clear message naming the file or the owner, and nothing written before lost
(a later ``resume`` / export completes from what was kept).
"""

from __future__ import annotations

import errno
import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from engine.cli.main import main as cli
from engine.deploy.package import ModelPackage
from engine.deploy.swap import clean_leftovers
from engine.errors import RunLockedError, RunVanishedError
from engine.jobs import CancelToken
from engine.run_lock import LOCK_NAME, RunLock, lock_held, lock_is_stale, read_lock
from engine.runs import Run, effective_status, list_runs
from engine.training.job import resume, train
from tests.helpers import tiny_config, tiny_demo

REPO = Path(__file__).resolve().parents[2]
SUBPROCESS_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1"}


# --- helpers ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return tiny_demo(tmp_path_factory.mktemp("hostile-runs-data"))


@pytest.fixture(scope="module")
def trained(data, tmp_path_factory):
    """A completed 1-epoch basic_cnn run; tests work on copies of it."""
    return train(tiny_config(data, tmp_path_factory.mktemp("hostile-runs"), epochs=1))


def copy_run(run: Run, tmp_path: Path) -> Run:
    return Run(shutil.copytree(run.path, tmp_path / "runs" / run.id))


def config_file(data: Path, tmp_path: Path, **overrides) -> Path:
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps(tiny_config(data, tmp_path / "runs", **overrides).to_dict()))
    return path


def one_error_line(capsys_or_text) -> str:
    """The single ``error: ...`` line on stderr (and nothing else: no traceback)."""
    text = capsys_or_text if isinstance(capsys_or_text, str) else capsys_or_text.readouterr().err
    lines = [line for line in text.splitlines() if line.strip()]
    assert "Traceback" not in text, text[-3000:]
    assert len(lines) == 1 and lines[0].startswith("error: "), text[-3000:]
    return lines[0]


def fail_writes(mp: pytest.MonkeyPatch, name: str, after: int = 0, code: int = errno.ENOSPC) -> None:
    """Every atomic write of a file called ``name`` after the first ``after`` ones fails with OSError(code)
    (while ``mp``, a MonkeyPatch context, is active)."""
    real, seen = os.replace, {"n": 0}

    def replace(src, dst, *args, **kwargs):
        if Path(dst).name == name:
            seen["n"] += 1
            if seen["n"] > after:
                raise OSError(code, os.strerror(code), str(dst))
        return real(src, dst, *args, **kwargs)

    mp.setattr(os, "replace", replace)


def main_py(*args: str, home: Path) -> subprocess.Popen:
    """``python main.py --quiet ARGS`` in the repository, with HISTODESK_HOME at ``home``."""
    env = {**os.environ, **SUBPROCESS_ENV, "HISTODESK_HOME": str(home)}
    return subprocess.Popen([sys.executable, "main.py", "--quiet", *args], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(predicate, timeout: float = 60.0, what: str = "condition"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def first_run_with_epochs(runs: Path, n: int = 1) -> Run | None:
    found = [Run(p) for p in runs.glob("*") if (p / "metrics.jsonl").exists()]
    return next((r for r in found if len(r.metrics()) >= n), None)


# --- one writer per run ------------------------------------------------------------------
SLOW_RESUME = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {repo!r})
    from engine.training.job import resume
    def progress(e):
        if e.stage == "epoch":
            time.sleep(0.5)
    resume({run!r}, progress=progress)
""")


@pytest.mark.timeout(120)
def test_two_processes_resuming_one_run_the_second_is_refused(data, tmp_path, capsys):
    token = CancelToken()
    run = train(tiny_config(data, tmp_path / "runs", epochs=4), cancel=token,
                progress=lambda e: token.cancel() if e.stage == "epoch" else None)
    assert run.summary["status"] == "cancelled" and len(run.metrics()) == 1
    env = {**os.environ, **SUBPROCESS_ENV}
    first = subprocess.Popen([sys.executable, "-c", SLOW_RESUME.format(repo=str(REPO), run=str(run.path))],
                             env=env, stderr=subprocess.PIPE, text=True)
    wait_for(lambda: (read_lock(run.path) or {}).get("pid") == first.pid, what="the first process's lock")
    assert cli(["--quiet", "train", "--resume", str(run.path)]) == 2
    line = one_error_line(capsys)
    assert f"pid {first.pid}" in line and "being written by another HistoDesk process" in line
    with pytest.raises(RunLockedError, match=f"pid {first.pid}"):
        resume(run.path)
    assert first.wait(timeout=100) == 0, first.stderr.read()[-2000:]
    assert run.summary["status"] == "completed" and effective_status(run) == "completed"
    assert [row["epoch"] for row in run.metrics()] == [1, 2, 3, 4]  # one row per epoch, one writer
    assert not (run.path / LOCK_NAME).exists()


@pytest.mark.timeout(120)
def test_kill9_during_training_shows_interrupted_then_resume_takes_over(data, tmp_path, capsys):
    runs = tmp_path / "runs"
    proc = main_py("train", "--config", str(config_file(data, tmp_path, epochs=6)), home=tmp_path / "home")
    run = wait_for(lambda: first_run_with_epochs(runs), what="a first epoch")
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert run.summary["status"] == "running" and read_lock(run.path)["pid"] == proc.pid
    assert effective_status(run) == "interrupted" and not lock_held(run.path)
    assert cli(["runs", "--runs-dir", str(runs)]) == 0
    assert "interrupted" in next(line for line in capsys.readouterr().out.splitlines() if run.id in line)
    done = len(run.metrics())
    resumed = resume(run.path)
    assert resumed.summary["status"] == "completed" and effective_status(resumed) == "completed"
    assert [row["epoch"] for row in resumed.metrics()] == list(range(1, 7)) and done >= 1
    assert f"Took over the stale lock of pid {proc.pid}" in run.file("train.log").read_text()
    assert not (run.path / LOCK_NAME).exists()


HOLD_LOCK = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {repo!r})
    from engine.run_lock import RunLock
    RunLock({run!r}, "test holder").acquire()
    print("held", flush=True)
    time.sleep(120)
""")


@pytest.mark.timeout(120)
@pytest.mark.parametrize("kind", ["train", "ssl"])
def test_a_live_lock_refuses_every_job_kind_and_a_dead_one_is_taken_over(kind, data, tmp_path):
    if kind == "train":
        run = train(tiny_config(data, tmp_path / "runs", epochs=1))
        again = resume
    else:
        from engine.ssl.job import pretrain, resume_pretrain

        run = pretrain({"method": "simclr", "backbone": "basic_cnn", "epochs": 1, "batch_size": 8, "seed": 1,
                        "runs_dir": str(tmp_path / "runs"),
                        "hparams": {"proj_hidden": 32, "proj_dim": 16,
                                    "augment": {"rotation": 0, "shift": 0, "zoom": 0, "blur_p": 0}},
                        "data": {"path": str(data), "image_size": 32, "normalize": "unit"}})
        again = resume_pretrain
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK.format(repo=str(REPO), run=str(run.path))],
                              stdout=subprocess.PIPE, text=True, env={**os.environ, **SUBPROCESS_ENV})
    try:
        assert holder.stdout.readline().strip() == "held"
        before = run.file("summary.json").read_bytes()
        with pytest.raises(RunLockedError, match=f"pid {holder.pid} .*'test holder'"):
            again(run.path)
        assert run.file("summary.json").read_bytes() == before  # the refused job wrote nothing
    finally:
        holder.kill()
        holder.wait(timeout=30)
    assert lock_is_stale(read_lock(run.path))
    assert again(run.path).summary["status"] == "completed"
    assert "Took over the stale lock" in run.file("train.log").read_text()


RACE_FOR_LOCK = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {repo!r})
    from engine.errors import RunLockedError
    from engine.run_lock import RunLock
    while time.time() < {start}:
        time.sleep(0.001)
    try:
        RunLock({folder!r}, "racer").acquire()
        print("won", flush=True)
        time.sleep(3)
    except RunLockedError:
        print("refused", flush=True)
""")


@pytest.mark.timeout(60)
def test_processes_racing_for_a_stale_lock_only_one_takes_it(tmp_path):
    import socket

    (tmp_path / LOCK_NAME).write_text(json.dumps({"pid": 2 ** 22 + 11, "host": socket.gethostname(),
                                                  "started_ts": time.time(), "command": "dead"}))
    script = RACE_FOR_LOCK.format(repo=str(REPO), start=time.time() + 1.5, folder=str(tmp_path))
    racers = [subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True) for _ in range(6)]
    results = sorted(p.communicate(timeout=50)[0].strip() for p in racers)
    assert results == ["refused"] * 5 + ["won"]


def test_lock_of_another_host_is_stale_only_when_its_heartbeat_is_old(tmp_path):
    lock = tmp_path / LOCK_NAME
    lock.write_text(json.dumps({"pid": 1, "host": "elsewhere.example", "started_ts": 0, "command": "train"}))
    assert lock_held(tmp_path)  # fresh heartbeat: another machine may be writing the run
    old = time.time() - 7 * 3600
    os.utime(lock, (old, old))
    assert not lock_held(tmp_path)
    lock.write_text("")  # being written by its owner right now
    assert lock_held(tmp_path)
    with pytest.raises(RunLockedError, match="still being written"):
        RunLock(tmp_path).acquire()


# --- a run folder deleted while training -----------------------------------------------------
@pytest.mark.timeout(120)
def test_run_folder_deleted_during_training_stops_the_job_and_stays_deleted(data, tmp_path):
    runs = tmp_path / "runs"
    proc = main_py("train", "--config", str(config_file(data, tmp_path, epochs=60)), home=tmp_path / "home")
    run = wait_for(lambda: first_run_with_epochs(runs), what="a first epoch")

    def deleted():
        shutil.rmtree(run.path, ignore_errors=True)
        return not run.path.exists()

    wait_for(deleted, timeout=30, what="the run folder to be deleted")
    _out, err = proc.communicate(timeout=90)
    assert proc.returncode == 2
    line = one_error_line(err)
    assert "was deleted or moved" in line and str(run.path) in line
    time.sleep(0.5)
    assert not run.path.exists() and runs.is_dir()  # not half recreated


def test_run_folder_deleted_in_process_raises_run_vanished(data, tmp_path):
    folder = tmp_path / "runs" / "doomed"

    def progress(event):
        if event.stage == "epoch" and event.step == 1:
            shutil.rmtree(folder)

    with pytest.raises(RunVanishedError, match="did not recreate it"):
        train(tiny_config(data, tmp_path / "runs", epochs=3), progress=progress, run_dir=folder)
    assert not folder.exists() and (tmp_path / "runs").is_dir()


# --- a full disk after training: nothing trained or evaluated is lost -----------------------
@pytest.mark.timeout(120)
@pytest.mark.parametrize("target,after", [("last.pt", 1), ("evaluation.json", 1), ("predictions.csv", 0)])
def test_disk_full_keeps_what_was_written_and_resume_finishes(target, after, data, tmp_path, capsys):
    with pytest.MonkeyPatch.context() as mp:
        fail_writes(mp, target, after)
        assert cli(["--quiet", "train", "--config", str(config_file(data, tmp_path, epochs=2))]) == 2
    line = one_error_line(capsys)
    assert line.startswith("error: disk full while writing ") and target in line
    run = list_runs(tmp_path / "runs")[0]
    s = run.summary
    assert s["status"] == "failed" and s["error"].startswith("disk full while writing") and "\n" not in s["error"]
    log = run.file("train.log").read_text()
    assert "FAILED: disk full" in log and "Traceback" in log
    kept = {}
    if target != "last.pt":  # training had ended: the model and the evaluation so far are kept
        kept = {name: run.file(name).read_bytes() for name in ("model.safetensors", "evaluation.json")}
        assert set(json.loads(kept["evaluation.json"])) == ({"train"} if target == "evaluation.json"
                                                              else {"train", "val", "test"})
    events = []
    resume(run.path, progress=events.append)
    s = run.summary
    assert s["status"] == "completed" and "error" not in s and "traceback" not in s
    assert [row["epoch"] for row in run.metrics()] == [1, 2]
    assert set(run.read("evaluation.json")) == {"train", "val", "test"} and run.file("predictions.csv").exists()
    stages = {e.stage for e in events}
    if target == "last.pt":
        assert "train" in stages  # epoch 2 was not checkpointed: trained again
    else:
        assert "train" not in stages  # training had ended: only the missing finishing steps ran
        assert run.model_weights.read_bytes() == kept["model.safetensors"]
    if target == "evaluation.json":
        assert {"evaluate val", "evaluate test"} <= stages
    if target == "predictions.csv":
        assert run.file("evaluation.json").read_bytes() == kept["evaluation.json"]
        assert not {"evaluate val", "evaluate test"} - stages  # rows for the csv only


# --- untrusted or broken files ---------------------------------------------------------------
class Payload:
    """Pickles to a call that would create ``marker`` when unpickled."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('ran')",))


@pytest.mark.timeout(60)
def test_malicious_last_pt_is_refused_and_never_runs(trained, tmp_path, capsys):
    run = copy_run(trained, tmp_path)
    marker = tmp_path / "payload-ran"
    torch.save({"epoch": 1, "model": Payload(marker)}, run.last_checkpoint)
    model = run.model_weights.read_bytes()
    assert cli(["--quiet", "train", "--resume", str(run.path)]) == 2
    line = one_error_line(capsys)
    assert "Refused" in line and str(run.last_checkpoint) in line and "could run code" in line
    assert not marker.exists()
    assert run.summary["status"] == "failed" and run.model_weights.read_bytes() == model


@pytest.mark.timeout(60)
@pytest.mark.parametrize("damage", ["pickle", "truncated", "empty"])
def test_broken_model_safetensors_is_refused(damage, trained, tmp_path, capsys):
    run = copy_run(trained, tmp_path)
    marker = tmp_path / "payload-ran"
    data = run.model_weights.read_bytes()
    run.model_weights.write_bytes({"pickle": pickle.dumps({"w": Payload(marker)}),
                                   "truncated": data[: len(data) // 2], "empty": b""}[damage])
    assert cli(["--quiet", "evaluate", str(run.path)]) == 2
    line = one_error_line(capsys)
    assert f"{run.model_weights} is not a valid safetensors file" in line
    assert not marker.exists()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("command", [["evaluate"], ["train", "--resume"], ["export"]])
def test_corrupt_run_config_is_a_clear_error(command, trained, tmp_path, capsys):
    run = copy_run(trained, tmp_path)
    run.file("config.json").write_bytes(b'{"name": "tiny", \xff\xfe')
    assert cli(["--quiet", *command, str(run.path)]) == 2
    line = one_error_line(capsys)
    assert f"{run.file('config.json')} is damaged: it is not valid JSON" in line
    assert run.model_weights.exists() and run.file("evaluation.json").exists()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("command", [["evaluate"], ["train", "--resume"], ["export"]])
@pytest.mark.parametrize("folder", ["plain", "missing"])
def test_a_folder_that_is_not_a_run(command, folder, tmp_path, capsys):
    path = tmp_path / "not-a-run"
    if folder == "plain":
        path.mkdir()
        (path / "notes.txt").write_text("hello")
    assert cli(["--quiet", *command, str(path)]) == 2
    assert f"{path} is not a HistoDesk run" in one_error_line(capsys)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("content,expected", [
    ("epochs: 2\nx: !!python/object/apply:os.system ['touch {marker}']\n", "line 2: invalid YAML: could not "
                                                                             "determine a constructor"),
    ("epochs: 2\n  model: [basic_cnn\n", "line 2: invalid YAML"),
])
def test_config_file_yaml_attacks_and_syntax_errors(content, expected, tmp_path, capsys):
    marker = tmp_path / "payload-ran"
    path = tmp_path / "recipe.yaml"
    path.write_text(content.format(marker=marker))
    assert cli(["--quiet", "train", "--config", str(path), "--dry-run"]) == 2
    line = one_error_line(capsys)
    assert f"{path}, {expected}" in line
    assert not marker.exists() and not (tmp_path / "runs").exists()


# --- unexpected errors: one line, the trace in a log -----------------------------------------
@pytest.mark.timeout(60)
def test_unexpected_error_in_training_goes_to_the_runs_log(data, tmp_path, monkeypatch, capsys):
    from engine.training.loop import Trainer

    def broken(self):
        raise RuntimeError("CUDA error: device-side assert triggered\nmore detail")

    monkeypatch.setattr(Trainer, "validate", broken)
    assert cli(["--quiet", "train", "--config", str(config_file(data, tmp_path, epochs=1))]) == 2
    run = list_runs(tmp_path / "runs")[0]
    line = one_error_line(capsys)
    assert line == (f"error: RuntimeError: CUDA error: device-side assert triggered "
                    f"(details in {run.file('train.log')})")
    assert run.summary["error"] == "RuntimeError: CUDA error: device-side assert triggered"
    assert "Traceback" in run.file("train.log").read_text() and effective_status(run) == "failed"


@pytest.mark.timeout(60)
def test_unexpected_error_without_a_run_goes_to_errors_log(trained, monkeypatch, capsys):
    from engine.failures import errors_log

    def broken(*_args, **_kwargs):
        raise ValueError("matrix is singular")

    monkeypatch.setattr("engine.evaluation.evaluate.evaluate_run", broken)
    assert cli(["--quiet", "evaluate", str(trained.path)]) == 2
    assert one_error_line(capsys) == f"error: ValueError: matrix is singular (details in {errors_log()})"
    assert "ValueError: matrix is singular" in errors_log().read_text().split("Traceback")[-1]


# --- export: the old package survives every failure ------------------------------------------
KILLED_EXPORT = textwrap.dedent("""
    import os, signal, sys
    sys.path.insert(0, {repo!r})
    import engine.deploy.export as export
    from engine.cli.main import main
    if {point!r} == "build":
        export.parity = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)
    else:
        real = os.replace
        def replace(src, dst, *a, **k):
            if ".tmp-" in os.path.basename(src):
                os.kill(os.getpid(), signal.SIGKILL)
            return real(src, dst, *a, **k)
        os.replace = replace
    main(["--quiet", "export", {run!r}, "--out", {out!r}])
""")


@pytest.fixture
def exported(trained, tmp_path):
    """A copy of the trained run with a package already exported to ``tmp_path/pkgs``."""
    run = copy_run(trained, tmp_path)
    out = tmp_path / "pkgs"
    assert cli(["--quiet", "export", str(run.path), "--out", str(out)]) == 0
    package = out / f"{run.id}.hdpkg"
    return run, out, package, {p.name: p.read_bytes() for p in package.iterdir()}


def _package_files(package: Path) -> dict:
    return {p.name: p.read_bytes() for p in package.iterdir()}


@pytest.mark.timeout(120)
@pytest.mark.parametrize("point", ["build", "swap"])
def test_kill9_during_export_keeps_the_old_package(point, exported, capsys):
    run, out, package, before = exported
    proc = subprocess.Popen([sys.executable, "-c", KILLED_EXPORT.format(repo=str(REPO), point=point,
                                                                        run=str(run.path), out=str(out))],
                            env={**os.environ, **SUBPROCESS_ENV}, stderr=subprocess.PIPE, text=True)
    _out, err = proc.communicate(timeout=100)
    assert proc.returncode == -signal.SIGKILL, err[-2000:]
    leftovers = sorted(p.name for p in out.iterdir() if p.name.startswith("."))
    assert leftovers and all(f"-{proc.pid}" in name for name in leftovers)
    if point == "build":
        assert _package_files(package) == before
    else:  # killed between moving the old package aside and moving the new one in
        assert not package.exists()
        assert clean_leftovers(package) and _package_files(package) == before  # put back
    assert cli(["--quiet", "export", str(run.path), "--out", str(out)]) == 0
    capsys.readouterr()
    assert sorted(p.name for p in out.iterdir()) == [package.name]  # leftovers of the dead process removed
    assert ModelPackage.load(package, device="cpu").manifest["classes"] == ["benign", "malignant"]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("failure", ["parity", "swap", "disk full"])
def test_failed_reexport_keeps_the_old_package(failure, exported, capsys):
    run, out, package, before = exported
    capsys.readouterr()
    real = os.replace

    def failing_swap(src, dst, *args, **kwargs):
        if ".tmp-" in Path(src).name:
            raise OSError(errno.EIO, os.strerror(errno.EIO), str(dst))
        return real(src, dst, *args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        if failure == "parity":
            mp.setattr("engine.deploy.export.parity", lambda *a, **k: 3e-3)
        elif failure == "disk full":
            fail_writes(mp, "package.json")
        else:
            mp.setattr(os, "replace", failing_swap)
        assert cli(["--quiet", "export", str(run.path), "--out", str(out)]) == 2
    line = one_error_line(capsys)
    assert {"parity": "failed its parity check", "swap": "input/output error",
            "disk full": "disk full while writing"}[failure] in line
    assert sorted(p.name for p in out.iterdir()) == [package.name]  # no temp or old folder left
    assert _package_files(package) == before
