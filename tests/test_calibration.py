"""Calibration: ECE and Brier by hand, temperature scaling on synthetic logits, val thresholds by hand."""

from __future__ import annotations

import json

import numpy as np
import pytest

from engine.errors import ConfigError
from engine.evaluation import compute_metrics
from engine.evaluation.calibration import (
    Calibration,
    brier_score,
    calibration_summary,
    fit_calibration,
    fit_temperature,
    from_package_block,
    load_calibration,
    logits_nll,
    reliability,
)
from engine.evaluation.thresholds import ThresholdRule, fit_threshold, predict_labels
from engine.training.config import EvaluationConfig


def test_ece_and_reliability_by_hand():
    # confidences 0.95 (right), 0.75 (wrong), 0.72 (right), 0.70 (wrong); 15 bins of width 1/15:
    # 0.95 -> bin 14, 0.75 -> bin 11, 0.72 and 0.70 -> bin 10 (accuracy 1/2, mean confidence 0.71)
    probs = np.array([[0.95, 0.05], [0.25, 0.75], [0.28, 0.72], [0.70, 0.30]])
    y = np.array([0, 0, 1, 1])
    rel = reliability(y, probs)
    assert rel["ece"] == pytest.approx((0.05 + 0.75 + 2 * abs(0.5 - 0.71)) / 4)
    bins = {k: b for k, b in enumerate(rel["bins"]) if b["count"]}
    assert set(bins) == {10, 11, 14}
    assert bins[10] == {"lower": pytest.approx(10 / 15), "upper": pytest.approx(11 / 15),
                        "confidence": pytest.approx(0.71), "accuracy": 0.5, "count": 2}
    assert rel["bins"][0]["confidence"] is None and len(rel["bins"]) == 15
    perfect = reliability(np.array([0, 1]), np.array([[1.0, 0.0], [0.0, 1.0]]))
    assert perfect["ece"] == 0.0 and perfect["bins"][14]["count"] == 2


def test_brier_score_by_hand():
    y = np.array([1, 0, 1])
    probs = np.array([[0.2, 0.8], [0.6, 0.4], [0.5, 0.5]])
    # binary: mean((p_pos - y)^2) = (0.04 + 0.16 + 0.25) / 3
    assert brier_score(y, probs) == pytest.approx((0.04 + 0.16 + 0.25) / 3)
    # three classes: mean over images and classes of (p - onehot)^2
    p3 = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]])
    hand = ((0.3**2 + 0.2**2 + 0.1**2) + (0.1**2 + 0.9**2 + 0.8**2)) / 6
    assert brier_score(np.array([0, 1]), p3) == pytest.approx(hand)
    summary = calibration_summary(np.array([0, 1]), p3)
    assert summary["brier"] == pytest.approx(hand) and summary["n_bins"] == 15
    assert summary["nll"] == pytest.approx(-(np.log(0.7) + np.log(0.1)) / 2)


@pytest.mark.parametrize("n_classes,true_t", [(1, 2.5), (3, 3.0), (4, 0.5)])
def test_temperature_recovers_the_true_temperature(n_classes, true_t):
    rng = np.random.default_rng(n_classes)
    n = 6000
    if n_classes == 1:  # a single-logit binary model: sigmoid(z / T)
        z = rng.normal(0, 2, n)
        y = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(int)
        logits = (z * true_t)[:, None]
    else:
        z = rng.normal(0, 2, (n, n_classes))
        p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
        y = np.array([rng.choice(n_classes, p=row) for row in p])
        logits = z * true_t  # over-confident for T > 1, under-confident for T < 1
    t = fit_temperature(logits, y)
    assert t == pytest.approx(true_t, rel=0.08)
    assert logits_nll(logits, y, t) < logits_nll(logits, y, 1.0)
    # the calibrated probabilities are those of logits / T, and keep the arg-max
    cal = Calibration(temperature=t)
    probs = cal.probs(logits)
    assert probs.shape == (n, max(2, n_classes)) and np.allclose(probs.sum(axis=1), 1)
    raw = Calibration().probs(logits)
    assert (probs.argmax(axis=1) == raw.argmax(axis=1)).all()
    assert reliability(y, probs)["ece"] < reliability(y, raw)["ece"]


def test_fit_calibration_on_val_and_fallbacks():
    rng = np.random.default_rng(0)
    z = rng.normal(0, 2, 500)
    y = (rng.random(500) < 1 / (1 + np.exp(-z))).astype(int)
    settings = EvaluationConfig(threshold="youden")
    cal = fit_calibration((3 * z)[:, None], y, ["benign", "malignant"], "malignant", settings)
    assert cal.fitted_on == "val" and cal.n_fit == 500 and cal.val_nll_after < cal.val_nll_before
    assert 2 < cal.temperature < 4  # true 3; 500 images
    assert cal.threshold.method == "youden" and cal.threshold.positive_class == "malignant"
    assert 0 < cal.threshold.value < 1
    off = fit_calibration((3 * z)[:, None], y, ["benign", "malignant"], "malignant",
                          EvaluationConfig(temperature_scaling=False))
    assert off.temperature == 1.0 and off.threshold is None and "temperature scaling is off" in off.notes[0]
    none = fit_calibration(None, None, ["benign", "malignant"], "malignant", settings)
    assert none.temperature == 1.0 and none.fitted_on is None and "no validation images" in none.notes[0]
    assert none.threshold is None and "arg-max" in none.threshold_note
    multi = fit_calibration(rng.normal(size=(50, 3)), rng.integers(0, 3, 50), ["a", "b", "c"], None, settings)
    assert multi.threshold is None and "two-class" in multi.threshold_note


def test_thresholds_by_hand():
    classes = ["benign", "malignant"]
    y = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    p = np.array([0.1, 0.3, 0.35, 0.6, 0.4, 0.55, 0.7, 0.9])
    probs = np.stack([1 - p, p], axis=1)
    # threshold: (sensitivity, specificity) -> J
    # 0.9 (1/4, 1) .25 | 0.7 (2/4, 1) .5 | 0.6 (2/4, 3/4) .25 | 0.55 (3/4, 3/4) .5 | 0.4 (1, 3/4) .75 | 0.35 (1, 1/2) .5
    youden, note = fit_threshold(y, probs, classes, "malignant", "youden")
    assert note is None and youden == ThresholdRule("youden", 0.4, "malignant", None)
    for target, value in ((0.9, 0.4), (0.75, 0.55), (0.5, 0.7), (0.25, 0.9)):
        rule, _ = fit_threshold(y, probs, classes, "malignant", "sensitivity", target)
        assert (rule.method, rule.value, rule.target_sensitivity) == ("sensitivity", value, target)
    assert fit_threshold(y, probs, classes, "malignant", "argmax") == (None, None)
    one_class, note = fit_threshold(np.zeros(4, int), probs[:4], classes, "malignant", "youden")
    assert one_class is None and "both classes" in note
    # applied unchanged: p >= threshold is positive; positive class may be the first class
    test = np.array([[0.61, 0.39], [0.6, 0.4], [0.45, 0.55]])
    assert predict_labels(test, youden, classes).tolist() == [0, 1, 1]
    assert predict_labels(test, None, classes).tolist() == [0, 0, 1]
    first = ThresholdRule("youden", 0.6, "benign", None)
    assert predict_labels(test, first, classes).tolist() == [0, 0, 1]
    m = compute_metrics([0, 1, 1], test, classes, threshold=youden, threshold_source="val")
    assert m["accuracy"] == 1.0 and m["confusion_matrix"] == [[1, 0], [0, 2]]
    assert m["threshold"] == {"method": "youden", "value": 0.4, "positive_class": "malignant",
                              "target_sensitivity": None, "source": "val"}
    assert compute_metrics([0, 1, 1], test, classes)["threshold"]["method"] == "argmax"


def test_calibration_file_round_trip_and_refusal(tmp_path):
    cal = Calibration(temperature=1.7, threshold=ThresholdRule("sensitivity", 0.25, "malignant", 0.9),
                      fitted_on="val", n_fit=40, notes=["x"])
    (tmp_path / "calibration.json").write_text(json.dumps(cal.to_dict()), encoding="utf-8")
    back = load_calibration(tmp_path)
    assert back == cal
    assert from_package_block(cal.package_block()).threshold == cal.threshold
    assert from_package_block(None) == Calibration()
    assert load_calibration(tmp_path / "missing") is None
    (tmp_path / "calibration.json").write_text('{"temperature": -2}', encoding="utf-8")
    with pytest.raises(ConfigError, match="temperature"):
        load_calibration(tmp_path)
    (tmp_path / "calibration.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_calibration(tmp_path)


def test_mean_probs_of_views_applies_the_temperature_per_view():
    cal = Calibration(temperature=2.0)
    views = np.array([[[2.0, 0.0]], [[0.0, 4.0]]])  # 2 views x 1 image x 2 classes
    per_view = [np.exp([1.0, 0.0]) / np.exp([1.0, 0.0]).sum(), np.exp([0.0, 2.0]) / np.exp([0.0, 2.0]).sum()]
    np.testing.assert_allclose(cal.mean_probs(views)[0], np.mean(per_view, axis=0))


def test_a_temperature_at_its_search_bound_is_flagged():
    """Val logits that carry no usable confidence push T to its bound; the calibration says so."""
    from types import SimpleNamespace

    from engine.evaluation.calibration import fit_calibration

    logits = np.array([[8.0], [-8.0], [8.0], [-8.0]])  # confident and always wrong
    y = np.array([0, 1, 0, 1])
    cal = fit_calibration(logits, y, ["a", "b"], "b", SimpleNamespace(temperature_scaling=True, threshold="argmax",
                                                                     target_sensitivity=0.9))
    assert cal.temperature > 99 and any("search bound" in n for n in cal.notes)
