"""engine.deploy export: ONNX parity across model families, packages, int8, preprocessing, CLI."""

from __future__ import annotations

import json

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
        run = train(tiny_config(data, root / "runs", epochs=1))
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
    assert m["parity"]["n_images"] == result["parity_images"] > 0 and "test images" in m["parity"]["source"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp folder left
    # the package predicts what the run's PyTorch model predicts, columns [1 - p, p]
    from engine.evaluation.run_model import load_run_model

    pkg = ModelPackage.load(pkg_dir, device="cpu")
    model, _, _ = load_run_model(trained, "cpu")
    x = np.random.default_rng(1).random((3, 3, 32, 32), dtype=np.float32)
    with torch.no_grad():
        p = torch.sigmoid(model(torch.from_numpy(x))).numpy().ravel()
    probs = pkg.predict(x)
    np.testing.assert_allclose(probs[:, 1], p, atol=1e-5)
    np.testing.assert_allclose(probs[:, 0], 1 - p, atol=1e-5)
    # TTA on onnxruntime averages logits like the PyTorch path
    from engine.data.transforms import tta_views

    with torch.no_grad():
        logit = torch.stack([model(v) for v in tta_views(torch.from_numpy(x))]).mean(0)
    np.testing.assert_allclose(pkg.predict(x, tta="s3")[:, 1], torch.sigmoid(logit).numpy().ravel(), atol=1e-5)


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
    assert f"package: {tmp_path / (trained.id + '.hdpkg')}" in out
    assert cli(["package-info", str(tmp_path / (trained.id + ".hdpkg"))]) == 0
    assert "match their SHA-256" in capsys.readouterr().out
