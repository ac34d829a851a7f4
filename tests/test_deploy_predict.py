"""predict_folder with a run and with a package: bad files, recursion, JSON, TTA, backends, cancel, CLI."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from engine.cli import main as cli
from engine.deploy.model_file import seal_package
from engine.errors import CancelledError, HistoDeskError
from engine.evaluation.predict import list_images, predict_folder
from engine.jobs import CancelToken
from engine.runs import Run


def fake_run(runs: Path, *, name: str = "basic_cnn", size: int = 32, seed: int = 0) -> Run:
    """A finished-looking run with random weights (no catalog: export checks parity on random images)."""
    import torch

    from engine.evaluation.run_model import build_model
    from engine.training.checkpoint import save_weights
    from tests.helpers import tiny_config

    config = tiny_config(runs, runs, model={"name": name, "head_hidden": 16}, data={"image_size": size})
    run = Run.create("fake", runs)
    run.write("config.json", config.to_dict())
    run.update_summary(status="completed", classes=["benign", "malignant"], model=name)
    torch.manual_seed(seed)
    save_weights(build_model(config, 2, pretrained="none"), run.model_weights)
    return run


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A fake run, its exported package, and a folder of images with bad files and a sub-folder."""
    from engine.deploy.export import export_run

    root = tmp_path_factory.mktemp("deploy-predict")
    run = fake_run(root / "runs")
    package = Path(export_run(run.path, root / "packages", parity_images=4)["package"])
    folder = root / "images"
    (folder / "sub").mkdir(parents=True)
    rng = np.random.default_rng(0)
    import cv2

    for i in range(3):
        cv2.imwrite(str(folder / f"img{i}.png"), rng.integers(0, 256, (48, 64, 3), dtype=np.uint8))
    cv2.imwrite(str(folder / "sub" / "deep.png"), rng.integers(0, 256, (40, 40, 3), dtype=np.uint8))
    (folder / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 20)
    (folder / "notes.tif").write_text("this is not an image")
    (folder / "readme.txt").write_text("ignored: not an image extension")
    return {"run": run, "package": package, "folder": folder, "root": root}


def test_package_and_run_give_the_same_rows_and_bad_files_become_error_rows(setup, tmp_path):
    folder = setup["folder"]
    a = predict_folder(setup["package"], folder, out=tmp_path / "a.csv", batch_size=2)
    b = predict_folder(setup["run"].path, folder, out=tmp_path / "b.csv", batch_size=4)
    assert (a["backend"], b["backend"]) == ("onnx", "torch")
    assert a["classes"] == b["classes"] == ["benign", "malignant"]
    assert (a["n_ok"], a["n_failed"]) == (b["n_ok"], b["n_failed"]) == (4, 2)
    bad = {Path(r["path"]).name: r["reason"] for r in a["rows"] if r["status"] == "error"}
    assert set(bad) == {"corrupt.png", "notes.tif"} and all(bad.values())
    pa = np.array([r["p_malignant"] for r in a["rows"] if r["status"] == "ok"])
    pb = np.array([r["p_malignant"] for r in b["rows"] if r["status"] == "ok"])
    assert np.abs(pa - pb).max() < 1e-5
    with open(a["csv"], newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["path", "status", "class", "prob", "p_benign", "p_malignant", "reason", "heatmap"]
    assert len(rows) == 6 and {r["status"] for r in rows} == {"ok", "error"}
    doc = json.loads(Path(a["json"]).read_text())
    assert a["json"] == str(tmp_path / "a.json") and doc["backend"] == "onnx" and len(doc["rows"]) == 6
    assert doc["classes"] == ["benign", "malignant"] and doc["model"] == str(setup["package"])


def test_recursive_flag_and_json_path(setup, tmp_path):
    folder = setup["folder"]
    flat = predict_folder(setup["package"], folder, out=tmp_path / "f.csv", out_json=tmp_path / "x" / "f.json",
                          recursive=False)
    assert not any("deep.png" in r["path"] for r in flat["rows"]) and len(flat["rows"]) == 5
    assert (tmp_path / "x" / "f.json").exists()
    assert len(list_images(folder)) == 6 and len(list_images(folder, recursive=False)) == 5


def test_tta_matches_between_backends_and_differs_from_plain(setup, tmp_path):
    kw = {"recursive": False}
    a = predict_folder(setup["package"], setup["folder"], out=tmp_path / "a.csv", tta=True, **kw)
    b = predict_folder(setup["run"].path, setup["folder"], out=tmp_path / "b.csv", tta=True, **kw)
    c = predict_folder(setup["package"], setup["folder"], out=tmp_path / "c.csv", **kw)
    pa, pb, pc = ([r["p_malignant"] for r in res["rows"] if r["status"] == "ok"] for res in (a, b, c))
    assert np.abs(np.array(pa) - np.array(pb)).max() < 1e-5
    assert np.abs(np.array(pa) - np.array(pc)).max() > 1e-7


def test_backend_choice_and_errors(setup, tmp_path):
    out = {"out": tmp_path / "p.csv", "recursive": False}
    assert predict_folder(setup["package"], setup["folder"], backend="torch", **out)["backend"] == "torch"
    with pytest.raises(HistoDeskError, match="export it first"):
        predict_folder(setup["run"].path, setup["folder"], backend="onnx", **out)
    with pytest.raises(HistoDeskError, match="neither"):
        predict_folder(tmp_path, setup["folder"], **out)
    orphan = tmp_path / "orphan.hdpkg"  # a package whose source run is gone
    shutil.copytree(setup["package"], orphan)
    manifest = json.loads((orphan / "package.json").read_text())
    manifest["source_run"] = str(tmp_path / "gone")
    seal_package(orphan, manifest)  # package.json edited and re-sealed as export does
    assert predict_folder(orphan, setup["folder"], **out)["n_ok"] == 3
    with pytest.raises(HistoDeskError, match="not on this computer"):
        predict_folder(orphan, setup["folder"], backend="torch", **out)
    with pytest.raises(HistoDeskError, match="Heatmaps need the PyTorch model"):
        predict_folder(orphan, setup["folder"], heatmaps=True, **out)
    with pytest.raises(HistoDeskError, match="Heatmaps need the PyTorch model"):  # refused before any work
        predict_folder(setup["package"], setup["folder"], heatmaps=True, backend="onnx", **out)


def test_cuda_request_without_the_cuda_provider_says_so(setup, tmp_path, monkeypatch):
    import onnxruntime

    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: ["CPUExecutionProvider"])
    events = []
    res = predict_folder(setup["package"], setup["folder"], out=tmp_path / "p.csv", recursive=False, device="cuda",
                         progress=events.append)
    assert res["device"] == "cpu" and res["n_ok"] == 3
    assert any(e.stage == "log" and "onnxruntime-gpu" in e.message for e in events)
    assert json.loads((tmp_path / "p.json").read_text())["device"] == "cpu"


def test_heatmaps_with_a_run(setup, tmp_path):
    res = predict_folder(setup["run"].path, setup["folder"], out=tmp_path / "p.csv", heatmaps=True,
                         heatmap_dir=tmp_path / "maps", recursive=False)
    maps = [r["heatmap"] for r in res["rows"] if r["status"] == "ok"]
    assert len(maps) == 3 and all(Path(m).is_file() and Path(m).parent == tmp_path / "maps" for m in maps)


def test_heatmap_names_never_collide():
    from engine.evaluation.predict import heatmap_name

    names = [heatmap_name(Path(p)) for p in ("x.png", "x.jpg", "a/b.png", "a__b.png", "s/a__b.png")]
    assert len(set(names)) == len(names) and names[0] == "x.png.png" and names[2] == "a__b.png.png"


def test_cancel_mid_batch(setup, tmp_path):
    token, seen = CancelToken(), []

    def on_progress(event):
        seen.append(event.step)
        if event.step >= 2:
            token.cancel()

    with pytest.raises(CancelledError):
        predict_folder(setup["package"], setup["folder"], out=tmp_path / "p.csv", batch_size=2,
                       progress=on_progress, cancel=token)
    assert max(seen) == 2 and not (tmp_path / "p.csv").exists()


def test_cli_predict_with_a_package_and_a_run(setup, tmp_path, capsys):
    csv_path, json_path = tmp_path / "p.csv", tmp_path / "p.json"
    assert cli(["--quiet", "predict", str(setup["package"]), str(setup["folder"]), "--out", str(csv_path),
                "--json", str(json_path), "--tta", "--no-recursive"]) == 0
    captured = capsys.readouterr()
    assert "3 classified, 2 unreadable (onnx backend on cpu)" in captured.out and "corrupt.png" in captured.err
    assert json.loads(json_path.read_text())["tta"] == "s3"
    assert cli(["--quiet", "predict", str(setup["run"].path), str(setup["folder"]), "--out", str(csv_path)]) == 0
    assert "4 classified, 2 unreadable (torch backend on cpu)" in capsys.readouterr().out
