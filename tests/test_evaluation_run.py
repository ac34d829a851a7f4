"""A trained tiny run carries intervals, calibration and warnings everywhere: evaluation.json, summary.json,
the CLI (train, evaluate, compare), predictions.csv, prediction from the run and from its package."""

from __future__ import annotations

import contextlib
import csv
import io
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.cli import main as cli
from engine.evaluation.calibration import load_calibration
from engine.runs import Run, list_runs
from tests.helpers import tiny_demo

SPLITS = ("train", "val", "test")
TRAIN = ["--quiet", "train", "--model", "basic_cnn", "--pretrained", "none", "--epochs", "2", "--image-size", "32",
         "--set", "model.head_hidden=16", "--set", "data.normalize=unit", "--set", "evaluation.threshold=youden",
         "--set", "evaluation.n_bootstrap=300"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Two runs (seeds 1 and 2) on the same tiny dataset and split, and the first run's CLI output."""
    root = tmp_path_factory.mktemp("uncertainty")
    data = tiny_demo(root)
    outputs = []
    for seed in (1, 2):
        runs = root / f"runs{seed}"
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            code = cli(TRAIN + ["--data", str(data), "--runs-dir", str(runs), "--seed", str(seed)])
        assert code == 0, buf.getvalue()
        outputs.append((list_runs(runs)[0], buf.getvalue()))
    return outputs


def test_evaluation_json_has_intervals_calibration_and_warnings_for_every_split(trained):
    (run, _), _ = trained
    evaluation = run.read("evaluation.json")
    assert set(SPLITS) <= set(evaluation)
    cal = load_calibration(run.path)
    assert cal is not None and cal.fitted_on == "val" and cal.threshold.method == "youden"
    for name in SPLITS:
        m = evaluation[name]
        assert m["bootstrap"]["n"] == 300 and m["bootstrap"]["unit"] == "patient" and m["bootstrap"]["level"] == 0.95
        assert {"accuracy", "balanced_accuracy", "roc_auc", "f1", "sensitivity", "specificity"} <= set(m["ci"])
        lo, hi = m["ci"]["accuracy"]
        assert lo <= m["accuracy"] <= hi
        assert m["warnings"] and any("Small sample" in w for w in m["warnings"])  # 3 patients per class
        c = m["calibration"]
        assert {"ece", "brier", "nll", "reliability", "temperature", "uncalibrated"} <= set(c)
        assert len(c["reliability"]) == 15 and c["temperature"] == pytest.approx(cal.temperature)
        assert {"ece", "brier"} <= set(c["uncalibrated"])
        assert m["threshold"]["method"] == "youden" and m["threshold"]["source"] == "val"
        assert m["threshold"]["value"] == pytest.approx(cal.threshold.value)
        assert set(m["patient"]["aggregation"]) == {"mean", "median", "max", "vote"}
        assert "accuracy_ci" in m["patient"]["aggregation"]["mean"]
        assert set(m["magnification"]) == {"40X", "100X"} and "roc_auc_ci" in m["magnification"]["40X"]
    summary = run.summary
    assert summary["calibration"]["temperature"] == pytest.approx(cal.temperature)
    head = summary["metrics"]["test"]
    assert head["accuracy_ci"] == evaluation["test"]["ci"]["accuracy"] and head["roc_auc_ci"] is not None
    assert head["warnings"] and head["temperature"] == pytest.approx(cal.temperature)


def test_predictions_csv_uses_the_val_temperature_and_threshold(trained):
    (run, _), _ = trained
    cal = load_calibration(run.path)
    with open(run.file("predictions.csv"), encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    positive = cal.threshold.positive_class
    for row in rows:
        p = float(row[f"p_{positive}"])
        assert (row["predicted_label"] == positive) == (p >= cal.threshold.value)
    test = [r for r in rows if r["split"] == "test"]
    m = run.read("evaluation.json")["test"]
    assert m["accuracy"] == pytest.approx(np.mean([r["correct"] == "1" for r in test]))


def test_train_output_shows_warnings_first_and_intervals(trained):
    (run, out), _ = trained
    lines = out.strip().splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("WARNING ("))
    assert "Small sample" in lines[first]
    # the warnings come before the run line and every table; only the run's data notes may precede them
    assert all(line.startswith(("notes:", "  - ")) for line in lines[:first] if line.strip())
    assert first < lines.index(next(line for line in lines if line.startswith("run:")))
    m = run.read("evaluation.json")["test"]
    lo, hi = m["ci"]["accuracy"]
    assert f"accuracy              {m['accuracy']:.4f} [{lo:.4f}, {hi:.4f}]" in out
    assert "ECE (15 bins)" in out and "temperature" in out and "youden, from val" in out


def test_evaluate_applies_the_stored_calibration(trained, capsys):
    (run, _), _ = trained
    before = run.read("evaluation.json")["test"]
    assert cli(["--quiet", "evaluate", str(run.path)]) == 0
    out = capsys.readouterr().out
    assert out.lstrip().startswith("WARNING (test): Small sample")
    after = run.read("evaluation.json")["test"]
    for key in ("accuracy", "roc_auc", "ci", "threshold"):
        assert after[key] == before[key], key
    assert after["calibration"]["ece"] == pytest.approx(before["calibration"]["ece"])
    # a run made before calibration existed gets it fitted on its val split (never on test) and saved
    run.file("calibration.json").unlink()
    assert cli(["--quiet", "evaluate", str(run.path)]) == 0
    assert load_calibration(run.path).temperature == pytest.approx(before["calibration"]["temperature"])


def test_predictors_apply_the_calibration(trained, tmp_path):
    from engine.deploy.export import export_run
    from engine.deploy.package import ModelPackage
    from engine.deploy.predictors import TorchPredictor

    (run, _), _ = trained
    cal = load_calibration(run.path)
    predictor = TorchPredictor(run.path, device="cpu")
    x = np.random.default_rng(0).random((6, 3, 32, 32), dtype=np.float32)
    with torch.no_grad():
        raw = predictor.model(torch.from_numpy(x)).numpy()
    z = raw[:, 0] / cal.temperature
    expected = np.stack([1 / (1 + np.exp(z)), 1 / (1 + np.exp(-z))], axis=1)
    probs = predictor.predict(x)
    np.testing.assert_allclose(probs, expected, atol=1e-5)
    pos = predictor.classes.index(cal.threshold.positive_class)
    assert (predictor.decide(probs) == pos).tolist() == (probs[:, pos] >= cal.threshold.value).tolist()
    package = ModelPackage.load(export_run(run.path, tmp_path)["package"], device="cpu")
    assert package.manifest["calibration"] == cal.package_block()
    np.testing.assert_allclose(package.predict(x), probs, atol=1e-4)
    np.testing.assert_allclose(package.predict(x, tta="s3"), predictor.predict(x, tta="s3"), atol=1e-4)
    assert package.decide(probs).tolist() == predictor.decide(probs).tolist()


def test_compare_two_runs_and_refuse_different_test_images(trained, tmp_path, capsys):
    (run_a, _), (run_b, _) = trained
    assert cli(["compare", str(run_a.path), str(run_b.path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("WARNING: Small sample") and f"A: {run_a.id}" in out and f"B: {run_b.id}" in out
    assert "paired bootstrap over patients, 300 replicates" in out and "B - A" in out
    assert "DeLong's test" in out and ("p = " in out or "no p-value" in out)
    from engine.evaluation.compare import compare_runs

    result = compare_runs(run_a.path, run_b.path)
    a, b = (run.read("evaluation.json")["test"] for run in (run_a, run_b))
    assert result["runs"][0]["figures"]["accuracy"] == pytest.approx(a["accuracy"])
    assert result["runs"][1]["figures"]["roc_auc"] == pytest.approx(b["roc_auc"])
    assert result["difference"]["accuracy"]["value"] == pytest.approx(b["accuracy"] - a["accuracy"])
    other = Run(tmp_path / "other")
    shutil.copytree(run_b.path, other.path)
    lines = other.file("predictions.csv").read_text(encoding="utf-8").splitlines()
    test_row = next(i for i, line in enumerate(lines) if ",test," in line)
    lines[test_row] = lines[test_row].replace(".png", "_elsewhere.png", 1)
    other.file("predictions.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert cli(["compare", str(run_a.path), str(other.path)]) == 2
    err = capsys.readouterr().err
    assert "different test images" in err and "1 only in the first, 1 only in the second" in err


def test_batch_predict_applies_the_val_threshold(trained, tmp_path):
    """predict's "class" column follows the run's val threshold, not the arg-max, for the run and its package."""
    from engine.deploy.export import export_run
    from engine.evaluation.predict import predict_folder

    (run, _), _ = trained
    cal = load_calibration(run.path)
    folder = tmp_path / "images"
    shutil.copytree(run.read("catalog.json")["root"], folder)
    package = export_run(run.path, tmp_path / "pkg")["package"]
    for model in (run.path, package):
        result = predict_folder(model, folder, out=tmp_path / f"out-{Path(model).name}", progress=lambda e: None)
        rows = [r for r in result["rows"] if r["status"] == "ok"]
        assert rows
        pos = cal.threshold.positive_class
        for row in rows:
            assert (row["class"] == pos) == (row[f"p_{pos}"] >= cal.threshold.value), row
        # the test is only meaningful when the threshold moves some decisions away from the arg-max
        assert any((r[f"p_{pos}"] >= 0.5) != (r[f"p_{pos}"] >= cal.threshold.value) for r in rows)
