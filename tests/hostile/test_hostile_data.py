"""Hostile data inputs: odd file types, odd names, degenerate images, bad lists, HistoDesk's own outputs.

Every case runs under a 60 s timeout (a FIFO that blocks an open() would hang
for ever) and checks the same four things: no crash (a skip row with a reason,
or a HistoDeskError turned by the CLI into exit code 2 and one line on
stderr), no hang, a clear reason or message, and no earlier result lost.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import socket
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.cli.main import main as cli
from engine.data.catalog import Catalog
from engine.data.outputs import OUTPUT_MARKER, mark_output_folder
from engine.data.splits import Split
from engine.embed.embeddings import Embeddings
from engine.evaluation.predictions import make_prediction_rows, read_predictions_csv, write_predictions_csv
from engine.io_utils import read_csv_rows, safe_name
from engine.runs import list_runs
from tests.helpers import tiny_config, tiny_demo

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo") or not os.path.exists("/dev/zero"),
                                reason="needs POSIX FIFOs, sockets and /dev/zero")


# --- builders --------------------------------------------------------------------------
def png(path: Path, shape: tuple[int, int] = (48, 64), seed: int = 0) -> Path:
    """A noisy RGB PNG of ``shape`` (height, width)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, shape + (3,), dtype=np.uint8)).save(path)
    return path


def two_classes(root: Path, per_class: int = 4) -> Path:
    """``root/a`` and ``root/b`` with ``per_class`` distinct images each."""
    for k, label in enumerate("ab"):
        for i in range(per_class):
            png(root / label / f"{label}{i}.png", seed=10 * k + i)
    return root


def make_socket(path: Path) -> None:
    """A UNIX socket file at ``path`` (bound through a short relative name: paths are limited to ~100 bytes)."""
    cwd = os.getcwd()
    os.chdir(path.parent)
    try:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.bind(path.name)
    finally:
        os.chdir(cwd)


def folder_named_like_image(path: Path) -> None:
    png(path / "inner.png")  # never entered: it would be a class "x.png" holding one image


def truncated(path: Path) -> None:
    png(path, (200, 300))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


BAD_ENTRIES = {  # file name -> (maker, the reason a scan gives)
    "fifo.png": (os.mkfifo, "not a regular file: a FIFO (named pipe)"),
    "socket.png": (make_socket, "not a regular file: a socket"),
    "zero.png": (lambda p: os.symlink("/dev/zero", p), "not a regular file: a character device"),
    "folder.png": (folder_named_like_image, "not a regular file: a folder"),
    "empty.png": (lambda p: p.write_bytes(b""), "empty file (0 bytes)"),
    "truncated.png": (truncated, "truncated or corrupt"),
    "one-pixel.png": (lambda p: png(p, (1, 1)), "image too small: it is 1 x 1 pixels"),
    "strip.png": (lambda p: png(p, (3, 10000)), "extreme aspect ratio: it is 10000 x 3 pixels"),
}


def run_cli(args: list[str], capsys) -> tuple[int, str, str]:
    """Exit code, stdout and stderr of ``python main.py <args>``."""
    code = cli(args)
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code: int, err: str, *needles: str) -> None:
    """The CLI refused with exit code 2 and one line naming what is wrong."""
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert code == 2 and len(lines) == 1, err
    for needle in needles:
        assert needle in lines[0], lines[0]


def train_cli(data: Path, runs: Path, tmp: Path, capsys, **overrides) -> Path:
    """Train the tiny CNN on ``data`` through the CLI; returns the run folder."""
    cfg = tiny_config(data, runs, **overrides)
    (tmp / "config.json").write_text(json.dumps(cfg.to_dict()))
    code, _out, err = run_cli(["--quiet", "train", "--config", str(tmp / "config.json")], capsys)
    assert code == 0, err
    return list_runs(runs)[0].path


# --- 1-8: odd entries become skip rows with a reason, never an open() that blocks ---------
@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", sorted(BAD_ENTRIES))
def test_scan_skips_bad_entry_with_reason(tmp_path, capsys, name):
    root = two_classes(tmp_path / "data")
    make, reason = BAD_ENTRIES[name]
    make(root / "a" / name)
    out = tmp_path / "catalog.json"
    code, _out, err = run_cli(["--quiet", "scan", str(root), "--importer", "folder", "--out", str(out),
                               "--show-skipped"], capsys)
    assert code == 0
    catalog = Catalog.load(out)
    reasons = {Path(s.path).name: s.reason for s in catalog.skipped}
    assert reasons[name].startswith(reason), reasons
    assert len(catalog.records) == 8 and catalog.classes == ["a", "b"]  # nothing inside "folder.png/" counted
    assert reason in err


# --- 9-11: train, embed and explain never block on FIFOs, sockets or devices ------------------
@pytest.mark.timeout(60)
def test_train_and_embed_skip_special_files(tmp_path, capsys):
    data = tiny_demo(tmp_path)
    folder = next(p for p in sorted(data.rglob("*.png")) if p.is_file()).parent
    os.mkfifo(folder / "SOB_B_A-14-22549AB-40-901.png")
    make_socket(folder / "SOB_B_A-14-22549AB-40-902.png")
    os.symlink("/dev/zero", folder / "SOB_B_A-14-22549AB-40-903.png")
    run = train_cli(data, tmp_path / "runs", tmp_path, capsys)
    catalog = Catalog.load(run / "catalog.json")
    reasons = sorted(s.reason for s in catalog.skipped)
    assert [r.split(": ")[1] for r in reasons] == ["a FIFO (named pipe)", "a character device", "a socket"]
    assert len(read_predictions_csv(run / "predictions.csv")) == len(catalog.records) == 36
    code, _out, err = run_cli(["--quiet", "embed", str(run), "--dataset", str(data), "--out",
                               str(tmp_path / "e.npz")], capsys)
    assert code == 0, err
    assert len(Embeddings.load(tmp_path / "e.npz")) == 36


@pytest.mark.timeout(60)
def test_explain_refuses_special_files_at_once(tmp_path, capsys, trained_weird):
    run = trained_weird["run"]
    os.mkfifo(tmp_path / "evil.png")
    os.symlink("/dev/zero", tmp_path / "zero.png")
    for name, kind in (("evil.png", "a FIFO (named pipe)"), ("zero.png", "a character device")):
        code, _out, err = run_cli(["explain", str(run), str(tmp_path / name), "--out", str(tmp_path / "o.png"),
                                   "--device", "cpu"], capsys)
        assert_one_line_error(code, err, name, f"not a regular file: {kind}")
    assert not (tmp_path / "o.png").exists()


@pytest.mark.timeout(60)
def test_file_swapped_for_a_fifo_after_the_scan(tmp_path):
    """The stat/open race: a catalog record that became a FIFO fails at once instead of blocking."""
    from engine.data.cache import DirectLoader, ImageCache
    from engine.data.importers import scan
    from engine.errors import ImageReadError

    catalog = scan(two_classes(tmp_path / "data"), "folder")
    victim = catalog.records[0]
    os.unlink(victim.path)
    os.mkfifo(victim.path)
    for loader in (DirectLoader(32), ImageCache(tmp_path / "cache", resize=32)):
        with pytest.raises(ImageReadError, match="a FIFO"):
            loader.load(victim)
    report = ImageCache(tmp_path / "cache", resize=32).warm(catalog.records)
    assert [f["path"] for f in report["failed"]] == [victim.path] and report["decoded"] == 7


# --- 12-16: any file name the OS allows, through every step -------------------------------------
WEIRD_NAMES = ["raw-\udcff\udcfe.png", "new\nline.png", 'quote"d.png', "comma,name.png", " leading space.png",
               "carriage\rreturn.png", "tab\tname.png", "ünïcode.png"]


@pytest.fixture(scope="module")
def trained_weird(tmp_path_factory):
    """A run trained (through the CLI) on images whose file and patient names are hostile."""
    import _pytest.capture

    base = tmp_path_factory.mktemp("weird")
    demo = tiny_demo(base / "src")
    from engine.data.importers import scan

    root = base / "data"
    paths = []
    for i, record in enumerate(scan(demo).records):
        patient = f"P{record.patient}-\udcff" if i % 2 else f"P{record.patient}, \"q\""
        name = f"{i:02d}{WEIRD_NAMES[i % len(WEIRD_NAMES)]}"
        target = root / patient / record.label / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(record.path, target)
        paths.append(str(target))
    cfg = tiny_config(root, base / "runs", data={"importer": "folder"})
    (base / "config.json").write_text(json.dumps(cfg.to_dict()))
    capture = _pytest.capture.CaptureIO()  # strict UTF-8, like a terminal: a raw surrogate would crash it
    import contextlib

    with contextlib.redirect_stdout(capture), contextlib.redirect_stderr(capture):
        code = cli(["--quiet", "train", "--config", str(base / "config.json")])
    assert code == 0, capture.getvalue()
    return {"root": root, "run": list_runs(base / "runs")[0].path, "paths": sorted(paths), "base": base}


@pytest.mark.timeout(60)
def test_weird_names_through_scan_catalog_and_split(trained_weird):
    run, paths = trained_weird["run"], trained_weird["paths"]
    assert any(b"\xff\xfe" in os.fsencode(p) for p in paths)  # the raw bytes are really on disk
    catalog = Catalog.load(run / "catalog.json")
    assert sorted(r.path for r in catalog.records) == paths and not catalog.skipped
    assert "\\udcff" in (run / "catalog.json").read_text(encoding="ascii")  # JSON escapes, read back identically
    assert sorted(Split.load(run / "split.json").assignments) == paths
    patients = {r.patient for r in catalog.records}
    assert any("\udcff" in p for p in patients) and any('"q"' in p for p in patients)


@pytest.mark.timeout(60)
def test_weird_names_through_train_and_evaluate(trained_weird, capsys):
    run, paths, root = trained_weird["run"], trained_weird["paths"], trained_weird["root"]
    rows = read_predictions_csv(run / "predictions.csv")
    assert sorted(r["path"] for r in rows) == paths and all(os.path.isfile(r["path"]) for r in rows)
    assert b"raw-\xff\xfe.png" in (run / "predictions.csv").read_bytes()  # the original bytes, not an escape
    code, _out, err = run_cli(["--quiet", "evaluate", str(run), "--data", str(root), "--device", "cpu"], capsys)
    assert code == 0, err
    external = [p for p in run.rglob("predictions*.csv") if p != run / "predictions.csv"]  # wherever evaluate puts it
    assert len(external) == 1
    assert sorted(r["path"] for r in read_predictions_csv(external[0])) == paths


@pytest.mark.timeout(60)
def test_weird_names_through_embed_and_tsne(trained_weird, tmp_path, capsys):
    run, paths = trained_weird["run"], trained_weird["paths"]
    code, _out, err = run_cli(["--quiet", "embed", str(run), "--out", str(tmp_path / "e.npz"), "--device", "cpu"],
                              capsys)
    assert code == 0, err
    emb = Embeddings.load(tmp_path / "e.npz")
    assert sorted(emb.paths) == paths
    code, _out, err = run_cli(["--quiet", "tsne", str(tmp_path / "e.npz"), "--out", str(tmp_path / "map.csv"),
                               "--iterations", "50", "--early-iterations", "25", "--jobs", "1"], capsys)
    assert code == 0, err
    assert [r["path"] for r in read_csv_rows(tmp_path / "map.csv")] == emb.paths


@pytest.mark.timeout(60)
def test_weird_names_through_explain(trained_weird, tmp_path, capsys):
    run, paths = trained_weird["run"], trained_weird["paths"]
    for path in (p for p in paths if "\n" in p or "\udcff" in p):
        code, out, err = run_cli(["explain", str(run), path, "--out", str(tmp_path / "cam.png"), "--device", "cpu"],
                                 capsys)
        assert code == 0 and (tmp_path / "cam.png").is_file(), err
        assert "\udcff" not in out and "predicted:" in out
    copy = tmp_path / "run"  # a copy whose every train prediction is wrong, so the gallery shows every name
    shutil.copytree(run, copy, ignore=shutil.ignore_patterns("*.lock"))
    rows = [r for r in read_predictions_csv(copy / "predictions.csv") if r["split"] == "train"]
    classes = sorted({r["true_label"] for r in rows})
    write_predictions_csv(copy / "predictions.csv", [
        {**r, "predicted_label": classes[1 - classes.index(r["true_label"])], "correct": False} for r in rows])
    code, _out, err = run_cli(["--quiet", "explain", str(copy), "--misclassified", "--split", "train", "--out",
                               str(tmp_path / "gallery"), "--methods", "gradcam", "--device", "cpu"], capsys)
    assert code == 0, err
    index = read_csv_rows(tmp_path / "gallery" / "index.csv")
    assert sorted(r["path"] for r in index) == sorted(r["path"] for r in rows)
    assert all((tmp_path / "gallery" / r["png"]).is_file() and r["png"] == safe_name(r["png"]) for r in index)


# --- 17-21: CSV/TSV lists ----------------------------------------------------------------------
@pytest.mark.timeout(60)
def test_fifo_given_as_the_list_is_refused_at_once(tmp_path, capsys):
    os.mkfifo(tmp_path / "labels.csv")
    code, _out, err = run_cli(["--quiet", "scan", str(tmp_path / "labels.csv")], capsys)
    assert_one_line_error(code, err, "labels.csv", "not a regular file: a FIFO (named pipe)")


@pytest.mark.timeout(60)
@pytest.mark.parametrize("text,where,problem", [
    ('filename,label\na/a0.png,a\na/a1.png,"a\nb/b0.png,b\nb/b1.png,b\n', "labels.csv, line 3", "unbalanced quote"),
    ('filename,label\na/a0.png,"a\na/a1.png,a\nb/b0.png,b"\nb/b1.png,b\n', "labels.csv, line 2", "runs on to line 4"),
], ids=["unbalanced-quote", "quotes-pairing-up-across-rows"])
def test_csv_bad_quoting_is_refused_with_its_line(tmp_path, capsys, text, where, problem):
    two_classes(tmp_path)
    listing = tmp_path / "labels.csv"
    listing.write_text(text)
    code, _out, err = run_cli(["--quiet", "scan", str(listing)], capsys)
    assert_one_line_error(code, err, where, problem)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", ["relative ../", "absolute"])
def test_csv_rows_outside_the_list_folder_are_skipped(tmp_path, capsys, kind):
    data = two_classes(tmp_path / "list")
    secret = png(tmp_path / "elsewhere" / "secret.png")
    name = "../elsewhere/secret.png" if kind == "relative ../" else str(secret)
    (data / "labels.csv").write_text(f"filename,label\na/a0.png,a\nb/b0.png,b\n{name},b\n")
    out = tmp_path / "catalog.json"
    code, _out, err = run_cli(["--quiet", "scan", str(data / "labels.csv"), "--out", str(out)], capsys)
    assert code == 0, err
    catalog = Catalog.load(out)
    assert len(catalog.records) == 2
    assert [(Path(s.path).name, s.reason.split(" (")[0]) for s in catalog.skipped] == [
        ("secret.png", "outside the list's folder")]
    code, _out, err = run_cli(["--quiet", "scan", str(data / "labels.csv"), "--out", str(out),
                               "--allow-outside-paths"], capsys)
    assert code == 0 and len(Catalog.load(out).records) == 3
    # training reads the same option from its config (data.allow_outside_paths)
    from engine.training.config import DataConfig
    from engine.training.data_setup import load_catalog

    for allow, n in ((False, 2), (True, 3)):
        cfg = DataConfig(path=str(data / "labels.csv"), allow_outside_paths=allow)
        assert len(load_catalog(cfg).records) == n


@pytest.mark.timeout(60)
def test_csv_list_with_hostile_names(tmp_path):
    from engine.data.importers import scan
    from engine.io_utils import csv_text

    names = ["new\nline.png", "raw-\udcff.png", 'q"uote,comma.png', " lead.png"]
    for i, name in enumerate(names):
        png(tmp_path / name, seed=i)
    text = csv_text(["filename", "label"], [[n, "ab"[i % 2]] for i, n in enumerate(names)])
    (tmp_path / "labels.csv").write_bytes(text.encode("utf-8", "surrogateescape"))
    catalog = scan(tmp_path / "labels.csv")
    assert sorted(Path(r.path).name for r in catalog.records) == sorted(names) and not catalog.skipped


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", ["batch", "run"])
def test_predictions_file_passed_as_a_list_is_refused(tmp_path, capsys, kind):
    data = two_classes(tmp_path)
    paths = [str(p) for p in sorted(data.rglob("*.png"))]
    if kind == "batch":
        listing = tmp_path / "results.csv"
        listing.write_text("path,status,class,prob,p_a,p_b,reason,heatmap\n"
                           + "".join(f"{p},ok,a,0.9,0.9,0.1,,\n" for p in paths))
    else:
        listing = tmp_path / "predictions.csv"
        rows = make_prediction_rows(paths, np.full((len(paths), 2), 0.5), ["a", "b"], y_true=[0] * len(paths))
        write_predictions_csv(listing, rows)
    code, _out, err = run_cli(["--quiet", "scan", str(listing)], capsys)
    assert_one_line_error(code, err, listing.name, "is a HistoDesk predictions file, not a list of labelled images")


# --- 22: a folder HistoDesk already classified scans to its true labels ------------------------------
@pytest.mark.timeout(60)
def test_previously_classified_folder_scans_to_true_labels(tmp_path, shared_data):
    from engine.data.importers import scan

    root = tmp_path / "idc"
    for patient in sorted(p for p in (shared_data / "idc-sample").iterdir() if p.is_dir())[:3]:
        shutil.copytree(patient, root / patient.name)
    before = scan(root).summary()
    images = sorted(root.rglob("*.png"))
    (root / "histodesk_predictions.csv").write_text(
        "path,status,class,prob,p_0,p_1,reason,heatmap\n" + "".join(f"{p},ok,1,0.8,0.2,0.8,,\n" for p in images))
    (root / "histodesk_predictions.json").write_text("{}")
    (root / "histodesk_heatmaps").mkdir()
    for i, image in enumerate(images[:4]):  # flat in the root's child: would be read as a class "histodesk_heatmaps"
        shutil.copyfile(image, root / "histodesk_heatmaps" / f"{i}.png")
    out = mark_output_folder(root / "batch-2026")
    assert (out / OUTPUT_MARKER).is_file()
    (out / "predictions.csv").write_text((root / "histodesk_predictions.csv").read_text())
    (out / "heatmaps" / "1").mkdir(parents=True)
    shutil.copyfile(images[0], out / "heatmaps" / "1" / "x.png")
    (root / "model.hdpkg" / "0").mkdir(parents=True)
    shutil.copyfile(images[0], root / "model.hdpkg" / "0" / "sample.png")
    after = scan(root)
    assert after.importer == "folder" and after.summary() == before and not after.skipped
    assert after.classes == ["0", "1"] and after.has_patients


# --- 23-24: a full disk never tears a previous result ---------------------------------------------
def fill_disk(monkeypatch) -> None:
    """From now on every fsync fails with ENOSPC, as on a full disk."""
    def no_space(_fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", no_space)


@pytest.mark.timeout(60)
def test_full_disk_keeps_previous_tsne_csv_and_embeddings(tmp_path, capsys, monkeypatch):
    names = [str(tmp_path / f"{i}\udcff.png") for i in range(6)]
    emb = Embeddings(np.random.default_rng(0).normal(size=(6, 4)), names, ["a", "b"] * 3, [""] * 6, [""] * 6,
                     ["test"] * 6)
    emb.save(tmp_path / "e.npz")
    assert cli(["--quiet", "tsne", str(tmp_path / "e.npz"), "--pca", "--out", str(tmp_path / "map.csv")]) == 0
    before = {p: (tmp_path / p).read_bytes() for p in ("e.npz", "map.csv")}
    capsys.readouterr()
    fill_disk(monkeypatch)
    code, _out, err = run_cli(["--quiet", "tsne", str(tmp_path / "e.npz"), "--pca", "--out",
                               str(tmp_path / "map.csv")], capsys)
    assert_one_line_error(code, err, "map.csv", "space")  # "No space left on device" or "disk full ... free some space"
    with pytest.raises(OSError):
        emb.subset([0, 1]).save(tmp_path / "e.npz")
    monkeypatch.undo()
    assert {p: (tmp_path / p).read_bytes() for p in before} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e.npz", "map.csv"]  # no temp file left behind


@pytest.mark.timeout(60)
def test_full_disk_keeps_previous_predictions_csv(tmp_path, monkeypatch):
    path = tmp_path / "predictions.csv"
    path.write_bytes(b"previous result\n")
    fill_disk(monkeypatch)
    rows = make_prediction_rows([str(tmp_path / "\udcff.png")], np.array([[0.3, 0.7]]), ["a", "b"], y_true=[1])
    with pytest.raises(OSError, match="No space left"):
        write_predictions_csv(path, rows)
    assert path.read_bytes() == b"previous result\n" and [p.name for p in tmp_path.iterdir()] == ["predictions.csv"]
