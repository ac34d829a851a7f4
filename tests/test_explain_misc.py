"""RunExplainer, overlays, robustness, error gallery and the explain/occlusion/robustness/evaluate CLI."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from engine.cli import main as cli
from engine.errors import ConfigError
from engine.evaluation.predictions import read_predictions_csv, write_predictions_csv
from engine.explain.overlay import COLORMAPS, colormap_lut, overlay_heatmap, save_png
from tests.helpers import tiny_config, tiny_demo


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from engine.training.job import train

    root = tmp_path_factory.mktemp("explain")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HISTODESK_HOME", str(root / "home"))
        data = tiny_demo(root, patients_per_class=2, images=2)
        return train(tiny_config(data, root / "runs", epochs=1, data={"cache": False}))


@pytest.fixture(scope="module")
def image(run):
    return read_predictions_csv(run.file("predictions.csv"))[0]["path"]


def test_overlay_blends_resizes_and_saves(tmp_path):
    img = np.full((20, 30, 3), 100, np.uint8)
    cam = np.zeros((5, 5), np.float32)
    cam[0, 0] = np.nan
    assert np.array_equal(overlay_heatmap(img, cam, alpha=0.0), img)
    full = overlay_heatmap(img, np.ones((4, 4)), alpha=1.0, colormap="hot")
    assert full.shape == (20, 30, 3) and np.array_equal(full[0, 0], colormap_lut("hot")[255])
    assert {"jet", "viridis", "inferno", "turbo", "hot"} <= set(COLORMAPS)
    assert np.array_equal(colormap_lut("jet")[255], [128, 0, 0])  # RGB, dark red at the top of jet
    out = save_png(tmp_path / "a" / "o.png", full)
    assert np.array_equal(cv2.imread(str(out))[:, :, ::-1], full)
    with pytest.raises(ConfigError):
        overlay_heatmap(img, cam, colormap="rainbowish")


def test_run_explainer_predicts_and_explains(run, image):
    from engine.explain.explainer import RunExplainer, explain_image

    ex = RunExplainer(run.path, device="cpu")
    assert ex.classes == ["benign", "malignant"]
    seen = ex.input_image(image)
    assert seen.shape == (32, 32, 3) and seen.dtype == np.uint8
    assert ex.prepare(image) is ex.prepare(image)  # LRU cache
    rows = {r["path"]: r for r in read_predictions_csv(run.file("predictions.csv"))}
    probs = ex.predict(image)
    assert probs.sum() == pytest.approx(1.0)
    assert probs[1] == pytest.approx(rows[image]["p_malignant"], abs=1e-4)  # same preprocessing as evaluation
    for mode in ("s3", "d4", True):
        assert ex.predict(image, tta=mode).sum() == pytest.approx(1.0)
    assert ex.predict(cv2.imread(image)[:, :, ::-1].copy())[1] == pytest.approx(probs[1], abs=1e-5)
    img, cam = ex.heatmap(image, method="gradcam++", target="malignant")
    assert img.shape == (32, 32, 3) and cam.shape == (32, 32) and 0 <= cam.min() <= cam.max() <= 1
    occ = ex.occlusion(image, target=1, patch=8)
    assert occ.shape == (32, 32) and np.isfinite(occ).all()
    with pytest.raises(ConfigError):
        ex.heatmap(image, target="unknown")
    with pytest.raises(ConfigError):
        ex.predict(image, tta="d8")
    result = explain_image(run.path, image, device="cpu")
    assert set(result) == {"classes", "probs", "predicted", "cam", "image", "overlay"}
    assert result["predicted"] == ex.classes[int(np.argmax(probs))]
    assert result["overlay"].shape == result["image"].shape == cv2.imread(image).shape  # the image's own size


def test_robustness_clean_level_matches_evaluation(run):
    from engine.explain.robustness import robustness_run

    result = robustness_run(run.path, noise=(0, 0.3), blur=(0, 2), device="cpu")
    clean = run.read("evaluation.json")["test"]
    assert [r["level"] for r in result["noise"]] == [0.0, 0.3] and len(result["blur"]) == 2
    assert result["noise"][0]["accuracy"] == pytest.approx(clean["accuracy"])
    assert result["noise"][0]["roc_auc"] == pytest.approx(clean["roc_auc"])
    assert result["blur"][0] == result["noise"][0]
    assert json.loads(run.file("robustness.json").read_text())["n"] == clean["n"]


def test_cli_explain_occlusion_robustness(run, image, tmp_path, capsys):
    out = tmp_path / "o.png"
    assert cli(["--quiet", "explain", str(run.path), image, "--method", "layercam", "--tta", "d4",
                "--colormap", "viridis", "--out", str(out), "--device", "cpu"]) == 0
    text = capsys.readouterr().out
    own = cv2.imread(image).shape  # the PNGs have the image's own size, not the model's 32 x 32 square
    assert "predicted:" in text and "p(malignant)" in text and cv2.imread(str(out)).shape == own
    assert cli(["--quiet", "occlusion", str(run.path), image, "--out", str(tmp_path / "occ.png")]) == 0
    assert cv2.imread(str(tmp_path / "occ.png")).shape == own
    assert cli(["--quiet", "robustness", str(run.path), "--noise", "0,0.1", "--blur", "0,1"]) == 0
    assert "noise sigma" in capsys.readouterr().out


def test_cli_explain_misclassified_writes_a_strip_per_error(run, tmp_path, capsys):
    rows = read_predictions_csv(run.file("predictions.csv"))
    test_rows = [r for r in rows if r["split"] == "test"]
    for r in test_rows[:2]:  # make two test predictions wrong
        r["correct"] = False
    write_predictions_csv(run.file("predictions.csv"), rows)
    expected = sum(1 for r in test_rows if r["correct"] is False)
    out = tmp_path / "errors"
    assert cli(["--quiet", "explain", str(run.path), "--misclassified", "--methods", "gradcam,eigencam",
                "--out", str(out)]) == 0
    pngs = sorted(out.glob("*.png"))
    assert len(pngs) == expected >= 2
    assert cv2.imread(str(pngs[0])).shape == (48, 3 * 64 + 2 * 4, 3)  # image + 2 overlays, at the image's 64 x 48
    assert len((out / "index.csv").read_text().splitlines()) == expected + 1


def test_cli_evaluate_tta_prints_plain_and_tta_side_by_side(run, capsys):
    assert cli(["--quiet", "evaluate", str(run.path), "--tta", "d4"]) == 0
    text = capsys.readouterr().out
    assert "without vs with TTA (d4)" in text and "accuracy" in text and "plain" in text
    assert run.file("evaluation_tta_d4.json").exists() and "without_tta" not in run.read("evaluation_tta_d4.json")
