"""engine.deploy export: ONNX parity across model families, packages, int8, preprocessing, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.cli import main as cli
from engine.deploy.export import export_run, ort_probs, torch_probs
from engine.deploy.graph import export_onnx
from engine.deploy.manifest import sha256_file
from engine.deploy.package import ModelPackage, is_package
from engine.deploy.runtime import open_session
from engine.deploy.spec import InputSpec, tta_views_np
from engine.errors import HistoDeskError
from engine.models import create_model
from engine.training.job import train
from tests.helpers import tiny_config, tiny_demo


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A basic_cnn run trained one epoch on the tiny demo set (has catalog + split)."""
    root = tmp_path_factory.mktemp("deploy-export")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HISTODESK_HOME", str(root / "home"))
        data = tiny_demo(root)
        run = train(tiny_config(data, root / "runs", epochs=1, evaluation={"n_bootstrap": 0}))
    return run


@pytest.mark.parametrize("name,size,classes,single", [
    ("resnet18", 32, 2, True), ("mobilenetv2", 32, 3, False), ("vit_b16", 32, 2, False), ("basic_cnn", 32, 4, False),
])
def test_export_parity_across_model_families(tmp_path, name, size, classes, single):
    torch.manual_seed(0)
    model = create_model(name, classes, pretrained="none", binary_single_logit=single, image_size=size).eval()
    if name == "vit_b16":  # keep the ViT tiny: one encoder block is enough to exercise its graph
        model.backbone.blocks = model.backbone.blocks[:1]
    path = export_onnx(model, tmp_path / "m.onnx", image_size=size, binary_single_logit=single)
    x = np.random.default_rng(0).standard_normal((5, 3, size, size)).astype(np.float32)
    a, b = torch_probs(model, x, single), ort_probs(open_session(path, device="cpu"), x)
    assert a.shape == b.shape == (5, classes)
    assert np.abs(a - b).max() < 1e-4
    np.testing.assert_allclose(b.sum(1), 1.0, atol=1e-5)


def test_export_run_writes_a_verified_package(trained, tmp_path):
    result = export_run(trained.path, tmp_path)
    pkg_dir = tmp_path / f"{trained.id}.hdpkg"
    assert result["package"] == str(pkg_dir) and is_package(pkg_dir) and not is_package(trained.path)
    assert result["parity_ok"] and result["max_prob_diff"] < 1e-4 and result["int8"] is None
    m = json.loads((pkg_dir / "package.json").read_text())
    assert (m["format"], m["format_version"], m["classes"]) == ("histodesk-package", 1, ["benign", "malignant"])
    assert m["input"] == {"size": 32, "channels": 3, "dtype": "float32", "layout": "NCHW", "normalize": "unit",
                          "mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0]}
    assert m["binary_single_logit"] is True and m["stain"] is None and "tta" in m
    assert m["magnification"] == ["100X", "40X"] and m["source_run"] == str(trained.path.resolve())
    assert m["files"] == {"model.onnx": sha256_file(pkg_dir / "model.onnx")}
    assert (pkg_dir / "package.sha256").read_text() == f"{sha256_file(pkg_dir / 'package.json')}  package.json\n"
    assert sorted(p.name for p in pkg_dir.iterdir()) == ["model.onnx", "package.json", "package.sha256"]
    assert m["tta_choice"]["split"] == "val" and m["tta"] == result["tta"]
    assert m["parity"]["n_images"] == result["parity_images"] > 0 and "test images" in m["parity"]["source"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp folder left
    # the package predicts what the run's PyTorch model predicts, columns [1 - p, p]
    from engine.evaluation.run_model import load_run_model

    pkg = ModelPackage.load(pkg_dir, device="cpu")
    model, _, _ = load_run_model(trained, "cpu")
    x = np.random.default_rng(1).random((3, 3, 32, 32), dtype=np.float32)
    with torch.no_grad():
        # the run's val temperature (package.json "calibration"; 1 without one) scales the logits
        p = torch.sigmoid(model(torch.from_numpy(x)) / _temperature(m)).numpy().ravel()
    probs = pkg.predict(x)
    np.testing.assert_allclose(probs[:, 1], p, atol=1e-5)
    np.testing.assert_allclose(probs[:, 0], 1 - p, atol=1e-5)


def test_failed_parity_raises_and_leaves_no_package(trained, tmp_path, monkeypatch):
    monkeypatch.setattr("engine.deploy.export.parity", lambda *a, **k: 3e-3)
    with pytest.raises(HistoDeskError, match="parity"):
        export_run(trained.path, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_int8_package_records_accuracy_and_predicts(trained, tmp_path):
    result = export_run(trained.path, tmp_path, int8=True)
    q = result["int8"]
    assert q["method"].startswith("static") and "train images" in q["calibration"]
    assert q["n_images"] > 0 and 0.0 <= q["agreement"] <= 1.0 and q["agreement"] >= 0.75
    assert q["accuracy_change"] == pytest.approx(q["int8_accuracy"] - q["fp32_accuracy"])
    assert q["int8_mb"] < q["fp32_mb"]
    fp32 = ModelPackage.load(result["package"], device="cpu")
    int8 = ModelPackage.load(result["package"], variant="int8", device="cpu")
    assert fp32.manifest["int8"] == q and set(fp32.manifest["files"]) == {"model.onnx", "model.int8.onnx"}
    x = np.random.default_rng(2).random((4, 3, 32, 32), dtype=np.float32)
    assert np.abs(int8.predict(x) - fp32.predict(x)).max() < 0.1


@pytest.mark.parametrize("normalize,resize,keep_aspect", [("imagenet", 32, False), ("unit", 32, True),
                                                          ("imagenet", 40, True)])
def test_preprocess_equals_the_runs_eval_transform(shared_data, normalize, resize, keep_aspect):
    from engine.data.cache import resize_image
    from engine.data.imageio import read_image
    from engine.data.transforms import build_transform

    path = next((shared_data / "breakhis-sample").rglob("*.png"))
    spec = InputSpec(size=32, normalize=normalize, resize=resize, keep_aspect=keep_aspect)
    loaded = resize_image(read_image(path), resize, keep_aspect)
    expected = build_transform(None, train=False, image_size=32, normalize=normalize)(loaded).numpy()
    got = spec.preprocess(loaded)
    assert got.dtype == np.float32 and got.shape == (3, 32, 32)
    np.testing.assert_allclose(got, expected, atol=1e-6)
    np.testing.assert_array_equal(spec.load(str(path)), loaded)


def test_numpy_tta_views_match_torch():
    from engine.data.transforms import tta_views

    x = np.random.default_rng(3).random((2, 3, 8, 8), dtype=np.float32)
    for mode in ("s3", "d4"):
        for a, b in zip(tta_views_np(x, mode), tta_views(torch.from_numpy(x), mode)):
            np.testing.assert_array_equal(a, b.numpy())


def test_cli_export_prints_parity_and_package(trained, tmp_path, capsys):
    assert cli(["--quiet", "export", str(trained.path), "--out", str(tmp_path), "--parity-images", "4",
                "--int8"]) == 0
    out = capsys.readouterr().out
    assert "parity: max |p_torch - p_onnx| = " in out and "on 4 test images" in out
    assert "int8 (static QDQ" in out and "accuracy" in out and "agreement" in out
    assert f"package: {tmp_path / (trained.id + '.hdpkg')}" in out and "TTA: " in out and "val roc_auc" in out
    assert cli(["package-info", str(tmp_path / (trained.id + ".hdpkg"))]) == 0
    assert "match their SHA-256" in capsys.readouterr().out


# --- TTA: probabilities averaged over the views, chosen on val --------------------------------------------------
def _temperature(manifest: dict) -> float:
    """The temperature a package applies to its logits (1 when it has no calibration block)."""
    return float((manifest.get("calibration") or {}).get("temperature") or 1.0)


def _mean_view_probs(model, x: np.ndarray, mode: str, temperature: float = 1.0) -> np.ndarray:
    """Reference: each view's softmax/sigmoid probabilities (of logits / temperature), then their plain mean."""
    from engine.data.transforms import tta_views
    from engine.evaluation.predictions import probs_from_logits

    with torch.no_grad():
        per_view = [probs_from_logits(model(v) / temperature, model(v).shape[1] == 1)
                    for v in tta_views(torch.from_numpy(x), mode)]
    return np.mean(per_view, axis=0)


def _evaluate_path(model, x: np.ndarray, mode: str) -> np.ndarray:
    """Probabilities through the evaluate --tta path (predict_logits + probs_from_logits)."""
    from functools import partial

    from engine.data.transforms import tta_views
    from engine.evaluation.predictions import probs_from_logits
    from engine.training.inference import predict_logits

    batches = [(torch.from_numpy(x[:2]), torch.zeros(2), None),
               (torch.from_numpy(x[2:]), torch.zeros(len(x) - 2), None)]
    z, _ = predict_logits(model, batches, torch.device("cpu"), tta=partial(tta_views, mode=mode))
    return probs_from_logits(z, z.shape[1] == 1)


@pytest.mark.parametrize("mode", ["s3", "d4"])
def test_tta_averages_probabilities_in_every_path(trained, tmp_path, mode):
    from engine.data.transforms import tta_views
    from engine.deploy.predictors import TorchPredictor
    from engine.deploy.runtime import run_probs
    from engine.evaluation.predictions import probs_from_logits
    from engine.evaluation.run_model import load_run_model

    pkg = ModelPackage.load(export_run(trained.path, tmp_path, parity_images=2)["package"], device="cpu")
    model, _, _ = load_run_model(trained, "cpu")
    x = np.random.default_rng(4).standard_normal((5, 3, 32, 32)).astype(np.float32)
    ref = _mean_view_probs(model, x, mode)  # raw logits (temperature 1)
    with torch.no_grad():  # what averaging the logits (the old behaviour) gives: measurably different
        logit_mean = probs_from_logits(torch.stack([model(v) for v in tta_views(torch.from_numpy(x), mode)]).mean(0),
                                       True)
    assert np.abs(logit_mean - ref).max() > 2e-5
    np.testing.assert_allclose(run_probs(pkg.session, x, mode), ref, atol=1e-5)  # the package's onnxruntime path
    np.testing.assert_allclose(_evaluate_path(model, x, mode), ref, atol=1e-7)  # evaluate --tta
    # the package and the run's predictor also apply the run's val temperature to each view's logits
    ref_t = _mean_view_probs(model, x, mode, _temperature(pkg.manifest))
    onnx_p, torch_p = pkg.predict(x, tta=mode), TorchPredictor(trained.path, "cpu").predict(x, mode)
    np.testing.assert_allclose(torch_p, ref_t, atol=1e-7)
    np.testing.assert_allclose(onnx_p, ref_t, atol=1e-5)
    np.testing.assert_allclose(run_probs(pkg.session, x, mode, _temperature(pkg.manifest)), ref_t, atol=1e-5)
    assert np.abs(onnx_p - torch_p).max() < 1e-4


def test_tta_averages_probabilities_of_a_multiclass_model(tmp_path):
    from engine.deploy.runtime import run_probs

    torch.manual_seed(3)
    model = create_model("basic_cnn", 3, pretrained="none", image_size=32).eval()
    x = np.random.default_rng(5).standard_normal((4, 3, 32, 32)).astype(np.float32) * 3
    ref = _mean_view_probs(model, x, "s3")
    session = open_session(export_onnx(model, tmp_path / "m.onnx", image_size=32, binary_single_logit=False),
                           device="cpu")
    np.testing.assert_allclose(_evaluate_path(model, x, "s3"), ref, atol=1e-7)
    np.testing.assert_allclose(run_probs(session, x, "s3"), ref, atol=1e-5)
    np.testing.assert_allclose(ref.sum(1), 1.0, atol=1e-9)


def _copy_run(run, dest, *, flip_all: bool):
    """A copy of ``run`` whose val split is its train + val images with every other label swapped (so val
    AUC is neither 0 nor 1 and TTA changes it); with ``flip_all`` every val label is swapped once more,
    which maps each val AUC a to 1 - a and so reverses whether TTA helps on val."""
    import shutil

    from engine.runs import Run

    path = shutil.copytree(run.path, dest / run.path.name)
    split = json.loads((path / "split.json").read_text())
    catalog = json.loads((path / "catalog.json").read_text())
    swap = {"benign": "malignant", "malignant": "benign"}
    val = sorted((r for r in catalog["records"] if split["assignments"][r["path"]] != "test"), key=lambda r: r["path"])
    for i, rec in enumerate(val):
        split["assignments"][rec["path"]] = "val"
        rec["label"] = swap[rec["label"]] if (i % 2 == 1) != flip_all else rec["label"]
    (path / "split.json").write_text(json.dumps(split))
    (path / "catalog.json").write_text(json.dumps(catalog))
    # test metrics that would make the old (test-based) choice recommend TTA whatever val says
    (path / "evaluation.json").write_text(json.dumps({"test": {"roc_auc": 0.50, "accuracy": 0.50}}))
    (path / "evaluation_tta.json").write_text(json.dumps({"test": {"roc_auc": 0.99, "accuracy": 0.99}}))
    return Run.open(path)


def _val_aucs(run) -> tuple[float, float, int]:
    """Reference val ROC AUC without and with S3 TTA (PyTorch model with the run's val temperature, sklearn)."""
    from sklearn.metrics import roc_auc_score

    from engine.deploy.samples import split_samples
    from engine.evaluation.run_model import load_run_model

    model, classes, config = load_run_model(run, "cpu")
    t = json.loads(run.file("calibration.json").read_text())["temperature"] if run.file("calibration.json").exists() \
        else 1.0
    val = split_samples(run, InputSpec.from_train_config(config), classes, "val", None)
    with torch.no_grad():
        plain = torch.sigmoid(model(torch.from_numpy(val.x)) / t).numpy().ravel()
    tta = _mean_view_probs(model, val.x, "s3", t)[:, 1]
    return roc_auc_score(val.y, plain), roc_auc_score(val.y, tta), len(val.y)


def test_export_chooses_tta_on_val_never_on_test(trained, tmp_path):
    runs = [_copy_run(trained, tmp_path / "a", flip_all=False), _copy_run(trained, tmp_path / "b", flip_all=True)]
    chosen = []
    for run in runs:
        plain, tta, n = _val_aucs(run)
        assert abs(plain - tta) > 0.01  # so the two runs disagree on val
        result = export_run(run.path, tmp_path / "pk" / run.path.parent.name, parity_images=2)
        m = json.loads((Path(result["package"]) / "package.json").read_text())
        assert m["tta"] == result["tta"] == ("s3" if tta > plain else None)
        assert m["tta_choice"]["split"] == "val" and m["tta_choice"]["metric"] == "roc_auc"
        assert m["tta_choice"]["n_images"] == n
        assert m["tta_choice"]["plain"] == pytest.approx(plain, abs=1e-6)
        assert m["tta_choice"]["tta"] == pytest.approx(tta, abs=1e-6)
        chosen.append(m["tta"])
    assert sorted(chosen, key=str) == [None, "s3"]  # same test metrics, opposite val results, opposite choices


def test_no_val_images_means_no_tta(tmp_path):
    from tests.test_deploy_predict import fake_run

    run = fake_run(tmp_path / "runs")  # no catalog or split: no validation images
    run.write("evaluation.json", {"test": {"roc_auc": 0.5}})
    run.write("evaluation_tta.json", {"test": {"roc_auc": 0.99}})
    result = export_run(run.path, tmp_path / "pk", parity_images=2)
    m = json.loads((Path(result["package"]) / "package.json").read_text())
    assert m["tta"] is None and m["tta_choice"]["n_images"] == 0 and "no readable" in m["tta_choice"]["note"]
