"""Hostile inputs for batch classification (``python main.py predict``): nothing crashes, hangs or loses rows.

Every case runs under a 60 s timeout and checks four things: no crash (a clean exit code or result), no hang,
a clear one-line message naming the problem, and no result written before is lost.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from engine.cli import main as cli
from engine.evaluation.batch_csv import csv_fields, read_rows
from engine.evaluation.predict import list_images, predict_folder
from tests.helpers import tree_digest

REPO = Path(__file__).resolve().parents[2]
CLASSES = ["benign", "malignant"]
NON_UTF8 = b"caf\xe9-\xff.png"  # Latin-1 bytes: not valid UTF-8


def _png(path: str | os.PathLike, h: int = 40, w: int = 40, seed: int = 0) -> None:
    import cv2

    ok, data = cv2.imencode(".png", np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8))
    assert ok
    Path(path).write_bytes(data.tobytes())


def _rows(out: Path) -> list[dict]:
    return read_rows(out / "predictions.csv", csv_fields(CLASSES))[0]


def _by_name(rows: list[dict]) -> dict[str, dict]:
    return {os.path.basename(r["path"]) + (f"#{r['page']}" if r["page"] else ""): r for r in rows}


class _Models(dict):
    """{"run": a tiny run (random basic_cnn, 32 px), "package": its ONNX package (exported on first use)}."""

    def __missing__(self, key: str) -> str:
        from engine.deploy.export import export_run

        if key != "package":
            raise KeyError(key)
        self[key] = str(export_run(self["run"], Path(self["run"]).parent.parent / "packages",
                                   parity_images=2)["package"])
        return self[key]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """The tiny run, and its package once a test asks for it."""
    from tests.test_deploy_predict import fake_run

    return _Models(run=str(fake_run(tmp_path_factory.mktemp("hostile-predict") / "runs").path))


@pytest.fixture
def folder(tmp_path):
    """Three good images in a fresh folder."""
    src = tmp_path / "src"
    src.mkdir()
    for i in range(3):
        _png(src / f"ok{i}.png", seed=i)
    return src


# --- entries that are not regular files ----------------------------------------------------------------------
@pytest.mark.timeout(60)
@pytest.mark.parametrize("model", ["run", "package"])
def test_a_fifo_named_like_an_image_is_an_error_row_and_never_opened(models, folder, tmp_path, model):
    os.mkfifo(folder / "evil.png")
    res = predict_folder(models[model], folder, out=tmp_path / "out")
    rows = _by_name(res["rows"])
    assert rows["evil.png"]["status"] == "error" and "FIFO" in rows["evil.png"]["reason"]
    assert [rows[f"ok{i}.png"]["status"] for i in range(3)] == ["ok"] * 3
    assert len(_rows(tmp_path / "out")) == 4


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", ["broken-symlink", "symlink-to-fifo", "socket"])
def test_other_non_regular_entries_are_error_rows(models, folder, tmp_path, kind):
    import socket

    if kind == "broken-symlink":
        os.symlink(tmp_path / "gone.png", folder / "x.png")
    elif kind == "symlink-to-fifo":
        os.mkfifo(tmp_path / "pipe")
        os.symlink(tmp_path / "pipe", folder / "x.png")
    else:
        sock = socket.socket(socket.AF_UNIX)
        sock.bind(str(folder / "x.png"))
    res = predict_folder(models["run"], folder, out=tmp_path / "out")
    row = _by_name(res["rows"])["x.png"]
    assert row["status"] == "error" and row["reason"] and res["n_ok"] == 3


# --- file names ----------------------------------------------------------------------------------------------
@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", [NON_UTF8, b"new\nline.png", b'quo"te, comma.png', b"cr\rname.png",
                                  b"=1+2 ;tab\t.png"])
def test_odd_file_names_are_classified_and_round_trip(models, folder, tmp_path, name):
    target = os.fsdecode(os.fsencode(folder) + b"/" + name)
    _png(target, seed=9)
    res = predict_folder(models["package"], folder, out=tmp_path / "out")
    assert res["n_ok"] == 4 and res["n_failed"] == 0
    assert target in {r["path"] for r in _rows(tmp_path / "out")}  # the CSV gives back the exact bytes
    doc = json.loads((tmp_path / "out" / "predictions.json").read_text(encoding="ascii"))  # escaped: pure ASCII
    assert target in {r["path"] for r in doc["rows"]}
    again = predict_folder(models["package"], folder, out=tmp_path / "out", resume=True)  # the CSV reads back
    assert again["n_resumed"] == 4 and len(_rows(tmp_path / "out")) == 4


# --- option validation -----------------------------------------------------------------------------------------
@pytest.mark.timeout(60)
@pytest.mark.parametrize("value", ["0", "-1", "-3", "abc", "2.5", "99999"])
def test_a_bad_batch_size_is_refused_before_anything_runs(models, folder, tmp_path, capsys, value):
    from engine.paths import outputs_dir

    before = sorted(outputs_dir().iterdir())
    code = cli(["--quiet", "predict", models["run"], str(folder), "--batch-size", value, "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "batch_size" in err and len(err.splitlines()) == 1
    assert ("greater than or equal to 1" in err) or ("valid integer" in err) or ("less than or equal" in err)
    assert not (tmp_path / "o").exists() and sorted(outputs_dir().iterdir()) == before


@pytest.mark.timeout(60)
@pytest.mark.parametrize("args", [["--tta", "x8"], ["--backend", "tensorrt"], ["--device", "gpu"],
                                  ["--cam-method", "magic"], ["--variant", "fp16"]])
def test_other_bad_options_are_refused_with_exit_2(models, folder, tmp_path, capsys, args):
    with pytest.raises(SystemExit) as stop:  # argparse's choices (from the schema) or the schema itself
        code = cli(["--quiet", "predict", models["run"], str(folder), "--out", str(tmp_path / "o"), *args])
        raise SystemExit(code)
    assert stop.value.code == 2 and not (tmp_path / "o").exists()
    assert args[0].lstrip("-").split("-")[0] in capsys.readouterr().err.replace("_", "-")


# --- destinations ------------------------------------------------------------------------------------------------
@pytest.mark.timeout(60)
@pytest.mark.parametrize("flag", ["none", "--overwrite", "--resume"])
def test_existing_results_are_never_overwritten_without_asking(models, folder, tmp_path, capsys, flag):
    out = tmp_path / "out"
    assert cli(["--quiet", "predict", models["package"], str(folder), "--out", str(out)]) == 0
    first = (out / "predictions.csv").read_bytes()
    _png(folder / "ok9.png", seed=7)
    code = cli(["--quiet", "predict", models["package"], str(folder), "--out", str(out)] +
               ([] if flag == "none" else [flag]))
    err = capsys.readouterr().err
    now = (out / "predictions.csv").read_bytes()
    if flag == "none":
        assert code == 2 and "already holds results" in err and "--overwrite" in err and now == first
    elif flag == "--resume":
        assert code == 0 and now.startswith(first) and len(_rows(out)) == 4  # only ok9.png was added
    else:
        assert code == 0 and len(_rows(out)) == 4


@pytest.mark.timeout(60)
@pytest.mark.parametrize("allow", [False, True])
def test_a_destination_inside_the_source_needs_confirmation(models, folder, capsys, allow):
    before = tree_digest(folder)
    args = ["--quiet", "predict", models["run"], str(folder), "--out", str(folder / "results")]
    code = cli(args + (["--allow-inside-source"] if allow else []))
    if not allow:
        assert code == 2 and "inside the folder being classified" in capsys.readouterr().err
        assert tree_digest(folder) == before
    else:
        assert code == 0 and len(_rows(folder / "results")) == 3
        assert len(list_images(folder)) == 3  # the marked results folder is never read as images


@pytest.mark.timeout(60)
@pytest.mark.parametrize("flag", ["none", "--resume", "--overwrite"])
def test_a_fifo_named_predictions_csv_in_the_destination_never_blocks(models, folder, tmp_path, capsys, flag):
    out = tmp_path / "out"
    out.mkdir()
    os.mkfifo(out / "predictions.csv")
    code = cli(["--quiet", "predict", models["run"], str(folder), "--out", str(out)] + ([flag] * (flag != "none")))
    err = capsys.readouterr().err
    if flag == "--overwrite":  # replaced atomically (never opened), as asked
        assert code == 0 and len(_rows(out)) == 3
    else:
        assert code == 2 and ("not a regular file" in err if flag == "--resume" else "already holds results" in err)


# --- degenerate and multi-page images ------------------------------------------------------------------------
@pytest.mark.timeout(60)
@pytest.mark.parametrize("shape", [(1, 1), (3, 10000), (10000, 3), (8, 200)])
def test_degenerate_images_are_error_rows_with_a_reason(models, folder, tmp_path, shape):
    _png(folder / "odd.png", *shape)
    res = predict_folder(models["run"], folder, out=tmp_path / "out")
    row = _by_name(res["rows"])["odd.png"]
    assert row["status"] == "error" and row["reason"] and row["class"] is None and res["n_ok"] == 3


@pytest.mark.timeout(60)
@pytest.mark.parametrize("model", ["run", "package"])
def test_a_three_page_tiff_gives_three_rows(models, folder, tmp_path, model):
    import tifffile

    pages = np.random.default_rng(3).integers(0, 256, (3, 40, 40, 3), dtype=np.uint8)
    tifffile.imwrite(folder / "stack.tif", pages, photometric="rgb")
    res = predict_folder(models[model], folder, out=tmp_path / "out", batch_size=2)
    tiff = [r for r in res["rows"] if r["path"].endswith("stack.tif")]
    assert [(r["page"], r["status"]) for r in tiff] == [(0, "ok"), (1, "ok"), (2, "ok")]
    assert len({round(r["p_malignant"], 7) for r in tiff}) == 3  # each page classified on its own pixels
    assert [r["page"] for r in _rows(tmp_path / "out") if r["path"].endswith("stack.tif")] == [0, 1, 2]
    csv_path = tmp_path / "out" / "predictions.csv"  # cut after page 1: a resume adds page 2 only
    lines = csv_path.read_bytes().splitlines(keepends=True)
    cut = max(i for i, line in enumerate(lines) if b"stack.tif,1," in line)
    csv_path.write_bytes(b"".join(lines[:cut + 1]))
    again = predict_folder(models[model], folder, out=tmp_path / "out", batch_size=2, resume=True)
    assert [(r["page"], r["status"]) for r in again["rows"] if r["path"].endswith("stack.tif")] == \
        [(0, "ok"), (1, "ok"), (2, "ok")]
    assert len(_rows(tmp_path / "out")) == 6 and again["n_resumed"] == cut


# --- crashes: kill -9, a full disk, a torn line ------------------------------------------------------------------
@pytest.mark.timeout(60)
@pytest.mark.parametrize("model", ["run"])
def test_kill_9_then_resume_gives_one_row_per_file_and_loses_none(models, tmp_path, model):
    src = tmp_path / "many"
    src.mkdir()
    for i in range(240):
        _png(src / f"img{i:03d}.png", 32, 32, seed=i)
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, str(REPO / "main.py"), "--quiet", "predict", models[model], str(src), "--out", str(out),
           "--batch-size", "4"]
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    csv_path, deadline = out / "predictions.csv", time.monotonic() + 45
    while time.monotonic() < deadline and proc.poll() is None:
        if csv_path.exists() and csv_path.stat().st_size > 1000:  # the header and a batch or two
            break
        time.sleep(0.002)
    assert proc.poll() is None, "the batch ended before it could be killed: " + proc.stderr.read().decode()[-300:]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    before, _torn = read_rows(csv_path, csv_fields(CLASSES))
    assert 0 < len(before) < 240
    assert json.loads((out / "batch.json").read_text())["status"] == "running"  # it never got to say otherwise
    assert cli(cmd[2:] + ["--resume"]) == 0  # the same command, continued (in-process: one start-up less)
    after = _rows(out)
    assert after[:len(before)] == before  # every row finished before the kill kept as it was
    assert sorted(r["path"] for r in after) == sorted(os.fsdecode(p) for p in src.iterdir())  # one row per file
    doc = json.loads((out / "predictions.json").read_text())
    assert len(doc["rows"]) == 240 and json.loads((out / "batch.json").read_text())["status"] == "completed"


@pytest.mark.timeout(60)
@pytest.mark.parametrize("fail_at", [1, 3])
def test_a_full_disk_while_appending_rows_gives_one_line_and_keeps_earlier_rows(models, folder, tmp_path, capsys,
                                                                                monkeypatch, fail_at):
    import engine.evaluation.batch_output as batch_output

    for i in range(3, 10):
        _png(folder / f"ok{i}.png", seed=i)
    real, calls = batch_output.append_text, []

    def append_then_fill_the_disk(path, text):
        calls.append(path)
        if len(calls) == fail_at:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        real(path, text)

    monkeypatch.setattr(batch_output, "append_text", append_then_fill_the_disk)
    out = tmp_path / "out"
    code = cli(["--quiet", "predict", models["package"], str(folder), "--out", str(out), "--batch-size", "2"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "No space left on device" in err and "--resume" in err
    kept = _rows(out)
    assert len(kept) == 2 * (fail_at - 1) and f"{len(kept)} rows written before are kept" in err
    assert json.loads((out / "batch.json").read_text())["status"] == "failed"
    monkeypatch.setattr(batch_output, "append_text", real)
    assert cli(["--quiet", "predict", models["package"], str(folder), "--out", str(out), "--batch-size", "2",
                "--resume"]) == 0
    rows = _rows(out)
    assert rows[:len(kept)] == kept and len(rows) == len({r["path"] for r in rows}) == 10


@pytest.mark.timeout(60)
@pytest.mark.parametrize("cut", ["mid-field", "mid-quoted-newline", "after-comma"])
def test_a_torn_last_csv_line_is_dropped_on_resume(models, folder, tmp_path, cut):
    _png(os.fsdecode(os.fsencode(folder) + b"/z\nlast.png"), seed=5)  # quoted: the last row spans two lines
    out = tmp_path / "out"
    predict_folder(models["package"], folder, out=out)
    data = (out / "predictions.csv").read_bytes()
    last = data.rindex(b'"') if cut == "mid-field" else data.rindex(b"z\n") + 2 if cut == "mid-quoted-newline" \
        else data.rindex(b",")  + 1
    (out / "predictions.csv").write_bytes(data[:last])
    res = predict_folder(models["package"], folder, out=out, resume=True)
    rows = _rows(out)
    assert res["n_resumed"] == 3 and len(rows) == len({r["path"] for r in rows}) == 4
    assert rows[-1]["path"].endswith("z\nlast.png") and rows[-1]["status"] == "ok"
