"""predict_folder with a run and with a package: bad files, recursion, JSON, TTA, backends, cancel, CLI."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from engine.cli import main as cli
from engine.errors import CancelledError, HistoDeskError
from engine.evaluation.predict import list_images, predict_folder
from engine.jobs import CancelToken
from engine.runs import Run
from tests.helpers import tree_digest


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


def _csv_rows(path) -> list[dict]:
    with open(path, newline="", encoding="utf-8", errors="surrogateescape") as fh:
        return list(csv.DictReader(fh))


def test_package_and_run_give_the_same_rows_and_bad_files_become_error_rows(setup, tmp_path):
    folder = setup["folder"]
    a = predict_folder(setup["package"], folder, out=tmp_path / "a", batch_size=2)
    b = predict_folder(setup["run"].path, folder, out=tmp_path / "b", batch_size=4)
    assert (a["backend"], b["backend"]) == ("onnx", "torch")
    assert a["classes"] == b["classes"] == ["benign", "malignant"]
    assert (a["n_ok"], a["n_failed"]) == (b["n_ok"], b["n_failed"]) == (4, 2)
    bad = {Path(r["path"]).name: r["reason"] for r in a["rows"] if r["status"] == "error"}
    assert set(bad) == {"corrupt.png", "notes.tif"} and all(bad.values())
    pa = np.array([r["p_malignant"] for r in a["rows"] if r["status"] == "ok"])
    pb = np.array([r["p_malignant"] for r in b["rows"] if r["status"] == "ok"])
    assert np.abs(pa - pb).max() < 1e-5
    assert a["csv"] == str(tmp_path / "a" / "predictions.csv")
    rows = _csv_rows(a["csv"])
    assert list(rows[0]) == ["path", "page", "status", "class", "prob", "p_benign", "p_malignant", "reason",
                             "heatmap"]
    assert len(rows) == 6 and {r["status"] for r in rows} == {"ok", "error"}
    doc = json.loads(Path(a["json"]).read_text())
    assert a["json"] == str(tmp_path / "a" / "predictions.json") and doc["backend"] == "onnx"
    assert len(doc["rows"]) == 6 and doc["rows"] == a["rows"]
    assert doc["classes"] == ["benign", "malignant"] and doc["model"] == str(setup["package"])
    batch = json.loads((tmp_path / "a" / "batch.json").read_text())
    assert batch["status"] == "completed" and batch["counts"]["rows"] == 6 and batch["counts"]["ok"] == 4
    assert batch["options"]["batch_size"] == 2 and batch["finished"] and batch["folder"] == str(folder)


def test_by_default_a_batch_writes_to_its_own_marked_folder_and_never_to_the_source(setup, monkeypatch):
    from engine.data.outputs import OUTPUT_MARKER, is_histodesk_output
    from engine.evaluation.batch_output import list_batches
    from engine.paths import outputs_dir

    before = tree_digest(setup["folder"])
    res = predict_folder(setup["run"].path, setup["folder"], recursive=False)
    again = predict_folder(setup["run"].path, setup["folder"], recursive=False)
    assert tree_digest(setup["folder"]) == before  # byte-identical source folder
    out = Path(res["out"])
    assert out.parent == outputs_dir() and out != Path(again["out"])
    assert out.name.endswith("-fake-images") and out.name[:15].replace("-", "").isdigit()
    assert sorted(p.name for p in out.iterdir()) == sorted([OUTPUT_MARKER, "batch.json", "predictions.csv",
                                                            "predictions.json"])
    assert is_histodesk_output(out) and is_histodesk_output(out / "predictions.csv")
    listed = [b["out"] for b in list_batches()]
    assert res["out"] in listed and again["out"] in listed
    assert listed.index(again["out"]) <= listed.index(res["out"])  # newest first


def test_recursive_flag(setup, tmp_path):
    folder = setup["folder"]
    flat = predict_folder(setup["package"], folder, out=tmp_path / "f", recursive=False)
    assert not any("deep.png" in r["path"] for r in flat["rows"]) and len(flat["rows"]) == 5
    assert len(list_images(folder)) == 6 and len(list_images(folder, recursive=False)) == 5


def test_outputs_inside_the_source_are_never_listed_as_images(setup, tmp_path):
    folder = tmp_path / "src"
    shutil.copytree(setup["folder"], folder)
    res = predict_folder(setup["run"].path, folder, out=folder / "results", heatmaps=True,
                         allow_inside_source=True)
    assert len(res["rows"]) == 6 and len(list(Path(res["heatmap_dir"]).glob("*.png"))) == 4
    assert len(list_images(folder)) == 6  # heatmaps and results skipped
    legacy = folder / "histodesk_heatmaps"  # the old default heatmap folder
    legacy.mkdir()
    shutil.copy(folder / "img0.png", legacy / "x.png")
    assert len(list_images(folder)) == 6


def test_tta_matches_between_backends_and_differs_from_plain(setup):
    kw = {"recursive": False}
    a = predict_folder(setup["package"], setup["folder"], tta=True, **kw)
    b = predict_folder(setup["run"].path, setup["folder"], tta="s3", **kw)
    c = predict_folder(setup["package"], setup["folder"], **kw)
    pa, pb, pc = ([r["p_malignant"] for r in res["rows"] if r["status"] == "ok"] for res in (a, b, c))
    assert np.abs(np.array(pa) - np.array(pb)).max() < 1e-5
    assert np.abs(np.array(pa) - np.array(pc)).max() > 1e-7
    assert json.loads(Path(a["json"]).read_text())["tta"] == "s3"


def _write_manifest(folder: Path, manifest: dict) -> None:
    """Rewrite package.json (and its seal, where packages are sealed) as an edited package would."""
    try:
        from engine.deploy.model_file import seal_package
    except ImportError:  # packages without a package.sha256 seal
        (folder / "package.json").write_text(json.dumps(manifest))
    else:  # re-seal as export does: model stamps, hashes, package.sha256
        seal_package(folder, manifest)


def test_backend_choice_and_errors(setup, tmp_path):
    out = {"recursive": False}
    assert predict_folder(setup["package"], setup["folder"], backend="torch", **out)["backend"] == "torch"
    with pytest.raises(HistoDeskError, match="export it first"):
        predict_folder(setup["run"].path, setup["folder"], backend="onnx", **out)
    with pytest.raises(HistoDeskError, match="neither"):
        predict_folder(tmp_path, setup["folder"], **out)
    orphan = tmp_path / "orphan.hdpkg"  # a package whose source run is gone
    shutil.copytree(setup["package"], orphan)
    manifest = json.loads((orphan / "package.json").read_text())
    manifest["source_run"] = str(tmp_path / "gone")
    _write_manifest(orphan, manifest)
    assert predict_folder(orphan, setup["folder"], **out)["n_ok"] == 3
    with pytest.raises(HistoDeskError, match="not on this computer"):
        predict_folder(orphan, setup["folder"], backend="torch", **out)
    with pytest.raises(HistoDeskError, match="Heatmaps need the PyTorch model"):
        predict_folder(orphan, setup["folder"], heatmaps=True, **out)
    with pytest.raises(HistoDeskError, match="Heatmaps need the PyTorch model"):  # refused before any work
        predict_folder(setup["package"], setup["folder"], heatmaps=True, backend="onnx", **out)


def test_options_schema_gives_the_cli_and_gui_choices_and_refuses_bad_values(setup, tmp_path):
    from engine.deploy.predictors import BACKENDS
    from engine.errors import ConfigError
    from engine.evaluation.predict_options import PredictOptions, predict_options
    from engine.registry import names
    from engine.schema import choices

    assert choices(PredictOptions, "cam_method") == names("cam")  # the Literal follows the CAM registry
    assert tuple(choices(PredictOptions, "backend")) == BACKENDS
    assert predict_options(device="cuda:1", tta=True, batch_size="8").batch_size == 8
    for bad, field in (({"batch_size": 0}, "batch_size"), ({"tta": "x"}, "tta"), ({"device": "gpu"}, "device"),
                       ({"variant": "fp16"}, "variant"), ({"cam_method": "nope"}, "cam_method"),
                       ({"overwrite": True, "resume": True}, "resume")):
        with pytest.raises(ConfigError, match=field):
            predict_folder(setup["package"], setup["folder"], out=tmp_path / "o", **bad)
    assert not (tmp_path / "o").exists()
    with pytest.raises(ConfigError, match="looks like a file name"):  # --out names a folder now
        predict_folder(setup["package"], setup["folder"], out=tmp_path / "p.csv")
    assert not (tmp_path / "p.csv").exists()


def test_cuda_request_without_the_cuda_provider_says_so(setup, monkeypatch):
    import onnxruntime

    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: ["CPUExecutionProvider"])
    events = []
    res = predict_folder(setup["package"], setup["folder"], recursive=False, device="cuda", progress=events.append)
    assert res["device"] == "cpu" and res["n_ok"] == 3
    assert any(e.stage == "log" and "onnxruntime-gpu" in e.message for e in events)
    assert json.loads(Path(res["json"]).read_text())["device"] == "cpu"


def test_heatmaps_with_a_run(setup, tmp_path):
    from engine.data.outputs import is_histodesk_output

    res = predict_folder(setup["run"].path, setup["folder"], out=tmp_path / "p", heatmaps=True, recursive=False)
    maps = [r["heatmap"] for r in res["rows"] if r["status"] == "ok"]
    assert len(maps) == 3 and all(Path(m).is_file() and Path(m).parent == tmp_path / "p" / "heatmaps" for m in maps)
    import cv2

    assert all(cv2.imread(m).shape == (48, 64, 3) for m in maps)  # at each image's own size, not the model's square
    assert is_histodesk_output(tmp_path / "p" / "heatmaps")


def test_heatmap_names_never_collide():
    from engine.evaluation.predict import heatmap_name

    names = [heatmap_name(Path(p)) for p in ("x.png", "x.jpg", "a/b.png", "a__b.png", "s/a__b.png")]
    names += [heatmap_name(Path("x.tif"), 1), heatmap_name(Path("x.tif"), 2)]
    assert len(set(names)) == len(names) and names[0] == "x.png.png" and names[2] == "a__b.png.png"
    assert names[-1] == "x.tif-page2.png"


def test_cancel_mid_batch_keeps_the_rows_and_resume_finishes(setup, tmp_path):
    token, seen = CancelToken(), []

    def on_progress(event):
        seen.append(event.step)
        if event.step >= 2:
            token.cancel()

    with pytest.raises(CancelledError, match="--resume"):
        predict_folder(setup["package"], setup["folder"], out=tmp_path / "p", batch_size=2,
                       progress=on_progress, cancel=token)
    assert max(seen) == 2
    kept = _csv_rows(tmp_path / "p" / "predictions.csv")
    assert len(kept) == 2 and not (tmp_path / "p" / "predictions.json").exists()
    assert json.loads((tmp_path / "p" / "batch.json").read_text())["status"] == "cancelled"
    with pytest.raises(HistoDeskError, match="already holds results"):
        predict_folder(setup["package"], setup["folder"], out=tmp_path / "p", batch_size=2)
    with pytest.raises(HistoDeskError, match="tta"):  # a batch continues with the same settings
        predict_folder(setup["package"], setup["folder"], out=tmp_path / "p", resume=True, tta="d4")
    res = predict_folder(setup["package"], setup["folder"], out=tmp_path / "p", batch_size=2, resume=True)
    assert res["n_resumed"] == 2 and len(res["rows"]) == 6
    rows = _csv_rows(res["csv"])
    assert rows[:2] == kept and len({r["path"] for r in rows}) == 6
    assert json.loads(Path(res["batch"]).read_text())["status"] == "completed"


def test_cli_predict_with_a_package_and_a_run(setup, tmp_path, capsys):
    out = tmp_path / "p"
    assert cli(["--quiet", "predict", str(setup["package"]), str(setup["folder"]), "--out", str(out),
                "--tta", "--no-recursive"]) == 0
    captured = capsys.readouterr()
    assert "3 classified, 2 unreadable (onnx backend on cpu)" in captured.out and "corrupt.png" in captured.err
    assert str(out) in captured.out
    assert json.loads((out / "predictions.json").read_text())["tta"] == "s3"
    assert cli(["--quiet", "predict", str(setup["run"].path), str(setup["folder"]), "--out", str(out)]) == 2
    assert "already holds results" in capsys.readouterr().err
    assert cli(["--quiet", "predict", str(setup["run"].path), str(setup["folder"]), "--out", str(out),
                "--overwrite"]) == 0
    assert "4 classified, 2 unreadable (torch backend on cpu)" in capsys.readouterr().out
    assert len(_csv_rows(out / "predictions.csv")) == 6
