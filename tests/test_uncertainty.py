"""Intervals: the vectorised patient bootstrap against a plain loop, DeLong against O(n^2), pooling, warnings."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
)

from engine.evaluation import compute_metrics, format_metrics_table
from engine.evaluation.aggregation import magnification_figures, patient_aggregation, small_sample_warnings
from engine.evaluation.bootstrap import BootstrapSpec, bootstrap_intervals, bootstrap_replicates, group_codes
from engine.evaluation.compare import compare_predictions, delong_test
from engine.evaluation.thresholds import ThresholdRule

LEVEL = 0.95


def _problem(n_classes: int, seed: int, n: int = 120, n_patients: int = 25):
    """Labels, probabilities rounded to 2 decimals (so scores tie), patient ids with some unknown."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, n_classes, n)
    logits = rng.normal(size=(n, n_classes)) + 1.0 * np.eye(n_classes)[y]
    e = np.exp(logits)
    probs = np.round(e / e.sum(axis=1, keepdims=True), 2)
    probs[:, -1] = 1 - probs[:, :-1].sum(axis=1)
    patients = [f"P{rng.integers(0, n_patients)}" if i % 7 else None for i in range(n)]
    return y, probs, probs.argmax(axis=1), patients


def _naive_bootstrap(y, probs, pred, patients, n_boot, seed, pos):
    """The plain way: resample patients, gather their images, call scikit-learn once per figure and replicate."""
    index, codes = {}, []
    for i, pid in enumerate(patients):  # groups in order of first appearance; no id = a group of its own
        codes.append(index.setdefault(pid if pid else ("image", i), len(index)))
    members = [[i for i, c in enumerate(codes) if c == g] for g in range(len(index))]
    draws = np.random.default_rng(seed).integers(0, len(index), size=(n_boot, len(index)))
    n_classes = probs.shape[1]
    out = {}
    for r in range(n_boot):
        idx = [i for g in draws[r] for i in members[g]]
        yy, pp, pr = y[idx], probs[idx], pred[idx]
        row = {"accuracy": accuracy_score(yy, pr), "balanced_accuracy": balanced_accuracy_score(yy, pr),
               "f1_macro": f1_score(yy, pr, average="macro", zero_division=0)}
        if n_classes == 2:
            has_pos, has_neg, said_pos = (yy == pos).any(), (yy != pos).any(), (pr == pos).any()
            row["roc_auc"] = roc_auc_score(yy == pos, pp[:, pos]) if has_pos and has_neg else np.nan
            row["sensitivity"] = recall_score(yy, pr, pos_label=pos) if has_pos else np.nan
            row["specificity"] = recall_score(yy, pr, pos_label=1 - pos) if has_neg else np.nan
            row["precision"] = precision_score(yy, pr, pos_label=pos) if said_pos else np.nan
            row["f1"] = f1_score(yy, pr, pos_label=pos) if has_pos or said_pos else np.nan
        else:
            aucs = [roc_auc_score(yy == k, pp[:, k]) for k in range(n_classes) if 0 < np.sum(yy == k) < len(yy)]
            row["roc_auc"] = np.mean(aucs) if aucs else np.nan
        for key, value in row.items():
            out.setdefault(key, []).append(value)
    return {k: np.array(v, dtype=float) for k, v in out.items()}


@pytest.mark.parametrize("n_classes,pos", [(2, 1), (2, 0), (3, None)])
def test_vectorised_bootstrap_equals_a_plain_loop(n_classes, pos):
    y, probs, pred, patients = _problem(n_classes, seed=n_classes + (pos or 0))
    n_boot, seed = 300, 7
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scikit-learn warns about classes missing from a replicate
        naive = _naive_bootstrap(y, probs, pred, patients, n_boot, seed, pos)
    codes, unit = group_codes(patients, len(y))
    assert unit == "patient"
    ours = bootstrap_replicates(y, [(probs, pred)], codes, n_boot, seed, pos)[0]
    assert set(ours) == set(naive)
    for key in naive:  # the same replicate indices give the same figure in every replicate
        np.testing.assert_allclose(ours[key], naive[key], rtol=0, atol=1e-12, equal_nan=True, err_msg=key)
    result = bootstrap_intervals(y, probs, pred, patients, BootstrapSpec(n_boot, LEVEL, seed), pos)
    for key, values in naive.items():
        finite = values[np.isfinite(values)]
        np.testing.assert_allclose(result["ci"][key], np.percentile(finite, [2.5, 97.5]), atol=1e-12)
        assert result["bootstrap"]["dropped"].get(key, 0) == len(values) - len(finite)
    assert result["bootstrap"] == {**result["bootstrap"], "n": n_boot, "level": LEVEL, "seed": seed,
                                   "unit": "patient", "n_units": int(codes.max()) + 1}


def test_degenerate_replicates_are_dropped_for_auc_and_counted():
    # two patients, one per class: about half of the replicates draw a single class
    y = np.array([0, 0, 1, 1])
    probs = np.array([[0.8, 0.2], [0.6, 0.4], [0.3, 0.7], [0.1, 0.9]])
    m = compute_metrics(y, probs, ["benign", "malignant"], patients=["A", "A", "B", "B"],
                        bootstrap=BootstrapSpec(1000, LEVEL, 0))
    dropped = m["bootstrap"]["dropped"]
    assert 350 < dropped["roc_auc"] < 650 and "accuracy" not in dropped
    assert m["ci"]["roc_auc"] == [1.0, 1.0] and m["bootstrap"]["unit"] == "patient"
    without_ids = compute_metrics(y, probs, ["benign", "malignant"], bootstrap=BootstrapSpec(200, LEVEL, 0))
    assert without_ids["bootstrap"]["unit"] == "image" and without_ids["bootstrap"]["n_units"] == 4


def test_intervals_follow_config_and_are_reproducible():
    y, probs, pred, patients = _problem(2, 3)
    a = compute_metrics(y, probs, ["a", "b"], patients=patients, bootstrap=BootstrapSpec(500, 0.9, 3))
    b = compute_metrics(y, probs, ["a", "b"], patients=patients, bootstrap=BootstrapSpec(500, 0.9, 3))
    c = compute_metrics(y, probs, ["a", "b"], patients=patients, bootstrap=BootstrapSpec(500, 0.9, 4))
    assert a["ci"] == b["ci"] and a["ci"] != c["ci"]
    for key in ("accuracy", "balanced_accuracy", "roc_auc", "f1", "sensitivity", "specificity"):
        lo, hi = a["ci"][key]
        point = a["f1"] if key == "f1" else a[key]
        assert lo <= point <= hi, key
    wide = compute_metrics(y, probs, ["a", "b"], patients=patients, bootstrap=BootstrapSpec(500, 0.99, 3))
    assert wide["ci"]["accuracy"][0] <= a["ci"]["accuracy"][0] and wide["ci"]["accuracy"][1] >= a["ci"]["accuracy"][1]
    off = compute_metrics(y, probs, ["a", "b"], patients=patients, bootstrap=None)
    assert "ci" not in off and "bootstrap" not in off


def _naive_delong(y_bin, scores):
    """DeLong et al. 1988 structural components by the definition: every positive against every negative."""
    pos, neg = scores[:, y_bin], scores[:, ~y_bin]
    m, n = pos.shape[1], neg.shape[1]
    v10, v01 = np.zeros((len(scores), m)), np.zeros((len(scores), n))
    for k in range(len(scores)):
        for i in range(m):
            for j in range(n):
                psi = 1.0 if pos[k, i] > neg[k, j] else 0.5 if pos[k, i] == neg[k, j] else 0.0
                v10[k, i] += psi / n
                v01[k, j] += psi / m
    aucs = v10.mean(axis=1)
    s = np.cov(v10) / m + np.cov(v01) / n
    var = s[0, 0] + s[1, 1] - 2 * s[0, 1]
    z = (aucs[1] - aucs[0]) / math.sqrt(var)
    return aucs, var, math.erfc(abs(z) / math.sqrt(2))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fast_delong_equals_the_quadratic_definition(seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 80).astype(bool)
    a = np.round(rng.normal(size=80) + 0.8 * y, 1)  # rounding makes ties
    b = np.round(rng.normal(size=80) + 1.5 * y, 1)
    aucs, var, p = _naive_delong(y, np.stack([a, b]))
    out = delong_test(y, a, b)
    assert out["auc_a"] == pytest.approx(aucs[0]) and out["auc_a"] == pytest.approx(roc_auc_score(y, a))
    assert out["auc_b"] == pytest.approx(aucs[1])
    assert out["variance"] == pytest.approx(var, rel=1e-10)
    assert out["p_value"] == pytest.approx(p, rel=1e-8)
    same = delong_test(y, a, a)
    assert same["difference"] == 0 and same["p_value"] == 1.0


def test_paired_bootstrap_of_a_difference():
    y, probs_a, pred_a, patients = _problem(2, 5, n=150)
    rng = np.random.default_rng(9)
    better = np.clip(probs_a[:, 1] + 0.25 * (y - 0.5) + rng.normal(0, 0.05, len(y)), 0, 1)
    probs_b = np.stack([1 - better, better], axis=1)
    pred_b = probs_b.argmax(axis=1)
    spec = BootstrapSpec(400, LEVEL, 1)
    out = compare_predictions(y, [(probs_a, pred_a), (probs_b, pred_b)], patients, ["a", "b"], spec, 1)
    codes, _ = group_codes(patients, len(y))
    reps = bootstrap_replicates(y, [(probs_a, pred_a), (probs_b, pred_b)], codes, 400, 1, 1)
    expected = np.percentile(reps[1]["roc_auc"] - reps[0]["roc_auc"], [2.5, 97.5])
    np.testing.assert_allclose(out["difference"]["roc_auc"]["ci"], expected)
    assert out["difference"]["roc_auc"]["value"] == pytest.approx(roc_auc_score(y, better) - roc_auc_score(
        y, probs_a[:, 1]))
    assert out["difference"]["roc_auc"]["ci"][0] > 0 and out["delong"]["p_value"] < 0.01
    assert out["bootstrap"]["paired"] and out["unit"] == "patient"


def test_patient_pooling_rules_by_hand():
    classes = ["benign", "malignant"]
    y = np.array([0, 0, 0, 1, 1, 1, 0])
    p1 = np.array([0.125, 0.375, 0.75, 0.625, 0.125, 0.875, 0.875])  # dyadic: ties are exact
    probs = np.stack([1 - p1, p1], axis=1)
    patients = ["A", "A", "A", "B", "B", "C", None]
    rules = patient_aggregation(y, probs, probs.argmax(axis=1), patients, classes, None, None, 1)
    # A (benign): mean 1.25/3, median 0.375, max [0.875, 0.75]/1.625 = 0.4615, votes 2:1 benign -> right;
    # B (malignant): mean = median 0.375, max [0.875, 0.625]/1.5 = 0.4167, votes 1:1 (tie: benign) -> wrong;
    # C (malignant): 0.875 -> right
    for rule in ("mean", "median", "max", "vote"):
        assert rules[rule]["n_patients"] == 3 and rules[rule]["accuracy"] == pytest.approx(2 / 3), rule
    # AUC over patients (A negative; B, C positive): mean B < A -> (0 + 1) / 2; median B == A -> (0.5 + 1) / 2;
    # max B < A -> 0.5; vote (1/3, 1/2, 1) -> 1
    assert rules["mean"]["roc_auc"] == pytest.approx(0.5) and rules["median"]["roc_auc"] == pytest.approx(0.75)
    assert rules["max"]["roc_auc"] == pytest.approx(0.5) and rules["vote"]["roc_auc"] == pytest.approx(1.0)
    # a val threshold of 0.35 moves the decisions: A's mean 0.4167 is now malignant (wrong), B's 0.375 right;
    # image decisions (0, 1, 1 | 1, 0 | 1) make A vote malignant (wrong) and B tie (benign, wrong)
    rule = ThresholdRule("youden", 0.35, "malignant", None)
    shifted = patient_aggregation(y, probs, (p1 >= 0.35).astype(int), patients, classes, rule, None, 1)
    assert shifted["mean"]["accuracy"] == pytest.approx(2 / 3) and shifted["vote"]["accuracy"] == pytest.approx(1 / 3)
    spec = BootstrapSpec(300, LEVEL, 0)
    with_ci = patient_aggregation(y, probs, probs.argmax(axis=1), patients, classes, None, spec, 1)
    lo, hi = with_ci["mean"]["accuracy_ci"]
    assert 0 <= lo <= 2 / 3 <= hi <= 1 and with_ci["mean"]["roc_auc_ci"] is not None
    m = compute_metrics(y, probs, classes, patients=patients, bootstrap=spec)
    assert m["patient"]["aggregation"]["mean"]["accuracy"] == pytest.approx(2 / 3)
    assert patient_aggregation(y, probs, probs.argmax(axis=1), [None] * 7, classes, None, None, 1) is None


def test_magnification_figures():
    y = np.array([0, 1, 0, 1, 0, 1, 1])
    p1 = np.array([0.2, 0.9, 0.6, 0.7, 0.1, 0.3, 0.8])
    probs = np.stack([1 - p1, p1], axis=1)
    mags = ["100X", "100X", "40X", "40X", "40X", None, "400X"]
    out = magnification_figures(y, probs, probs.argmax(axis=1), mags, ["A", "A", "B", "C", "C", "D", "E"],
                                BootstrapSpec(200, LEVEL, 0), 1)
    assert list(out) == ["40X", "100X", "400X"]  # numeric order, unknown magnification left out
    assert out["40X"]["n"] == 3 and out["40X"]["n_units"] == 2
    assert out["40X"]["accuracy"] == pytest.approx(2 / 3)
    assert out["40X"]["roc_auc"] == pytest.approx(roc_auc_score([0, 1, 0], [0.6, 0.7, 0.1]))
    assert out["100X"]["accuracy"] == 1.0 and out["400X"]["roc_auc"] is None and out["400X"]["roc_auc_ci"] is None
    m = compute_metrics(y, probs, ["b", "m"], magnifications=mags)
    assert set(m["magnification"]) == {"40X", "100X", "400X"} and "accuracy_ci" in m["magnification"]["40X"]
    assert compute_metrics(y, probs, ["b", "m"], magnifications=[None] * 7)["magnification"] is None


def test_small_sample_warnings():
    classes = ["benign", "malignant"]
    y = np.array([0, 1] * 20)
    patients = [f"P{i % 10}" for i in range(40)]  # 10 patients, 5 of each class
    assert small_sample_warnings(y, classes, patients) == []
    few = small_sample_warnings(y[:20], classes, patients[:20])
    assert len(few) == 1 and "only 20 images" in few[0] and "fewer than 30" in few[0]
    four = [f"P{i % 8}" for i in range(40)]  # 4 patients per class
    msgs = small_sample_warnings(y, classes, four)
    assert len(msgs) == 2 and "'benign' has 4 patients" in msgs[0] and "'malignant' has 4 patients" in msgs[1]
    no_ids = small_sample_warnings(np.array([0] * 36 + [1] * 4), classes, None)
    assert no_ids == [no_ids[0]] and "'malignant' has 4 images" in no_ids[0]
    missing = small_sample_warnings(np.zeros(40, dtype=int), classes, None)
    assert "'malignant' has 0 images" in missing[0]
    m = compute_metrics([0, 1, 1], [[0.7, 0.3], [0.4, 0.6], [0.2, 0.8]], classes, patients=["A", "B", "B"])
    assert len(m["warnings"]) == 3
    text = format_metrics_table(m)
    assert text.splitlines()[0].startswith("WARNING: Small sample: only 3 images")
    assert "'benign' has 1 patient here" in text
    assert "WARNING" not in format_metrics_table(m, show_warnings=False)


def test_table_shows_intervals_calibration_and_threshold():
    y, probs, pred, patients = _problem(2, 11, n=200)
    rule = ThresholdRule("sensitivity", 0.3, "class1", 0.9)
    m = compute_metrics(y, probs, ["class0", "class1"], patients=patients, threshold=rule, threshold_source="val",
                        magnifications=["40X", "100X"] * 100)
    text = format_metrics_table(m)
    lo, hi = m["ci"]["accuracy"]
    assert f"accuracy              {m['accuracy']:.4f} [{lo:.4f}, {hi:.4f}]" in text
    assert f"{m['roc_auc']:.4f} [{m['ci']['roc_auc'][0]:.4f}, {m['ci']['roc_auc'][1]:.4f}]" in text
    assert "specificity" in text and "ECE (15 bins)" in text and "Brier score" in text
    assert "p(class1) >= 0.3000" in text and "sensitivity, target sensitivity 0.90, from val" in text
    assert "patient-level rule" in text and "vote" in text and "40X" in text
    assert m["threshold"]["source"] == "val" and m["accuracy"] == pytest.approx(np.mean(
        y == np.where(probs[:, 1] >= 0.3, 1, 0)))


def test_point_estimate_never_falls_just_outside_its_interval_by_float_noise():
    """AUC from the vectorised replicates (0.9975) vs scikit-learn (0.99749999...) must not print 0.997 [0.998, ..]."""
    from engine.evaluation.metrics import compute_metrics

    rng = np.random.default_rng(3)
    y = np.array([0] * 20 + [1] * 20)
    score = np.where(y == 1, 0.6, 0.4) + rng.normal(0, 0.05, 40)
    score[0] = 0.9  # one negative ranked high: AUC just below 1
    probs = np.stack([1 - score, score], axis=1)
    patients = ["a"] * 20 + ["b"] * 20  # two patients: every valid replicate is the whole set
    m = compute_metrics(y, probs, ["benign", "malignant"], patients=patients)
    for key in ("roc_auc", "accuracy"):
        lo, hi = m["ci"][key]
        assert lo <= m[key] <= hi, (key, m[key], m["ci"][key])


def test_comparing_runs_loads_neither_torch_nor_scikit_learn(tmp_path):
    """``compare`` reads two runs' predictions.csv: a pure numpy/scipy job, seconds faster without torch."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    from engine.evaluation.predictions import make_prediction_rows, write_predictions_csv

    y, probs, _, patients = _problem(2, 4, n=60)
    paths = [f"/data/img{i}.png" for i in range(len(y))]
    for name, p in (("a", probs), ("b", np.roll(probs, 1, axis=0))):
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.json").write_text(json.dumps({"evaluation": {"n_bootstrap": 50}}))
        write_predictions_csv(tmp_path / name / "predictions.csv",
                              make_prediction_rows(paths, p, ["benign", "malignant"], y_true=y, split="test",
                                                   patients=patients))
    code = ("import sys\n"
            "from engine.evaluation.compare import compare_runs\n"
            f"out = compare_runs({str(tmp_path / 'a')!r}, {str(tmp_path / 'b')!r})\n"
            "assert out['positive_class'] == 'malignant' and out['bootstrap']['n'] == 50, out\n"
            "bad = [m for m in ('torch', 'sklearn') if m in sys.modules]\n"
            "assert not bad, bad\n")
    repo = Path(__file__).resolve().parent.parent
    out = subprocess.run([sys.executable, "-c", code], cwd=repo, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
