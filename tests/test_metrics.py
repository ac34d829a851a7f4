"""engine.evaluation: metrics against scikit-learn, curves, patient level, CSV, logits."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch
from sklearn.metrics import (
    auc,
    average_precision_score,
    balanced_accuracy_score,
    confusion_matrix,
    precision_recall_fscore_support,
    roc_auc_score,
)
from sklearn.preprocessing import label_binarize

from engine.errors import ConfigError, DataError
from engine.evaluation import (
    compute_metrics,
    format_metrics_table,
    make_prediction_rows,
    probs_from_logits,
    read_predictions_csv,
    rows_to_arrays,
    write_predictions_csv,
)
from engine.evaluation.curves import thin_indices

CASES = [(c, seed) for c in (2, 3, 5) for seed in (0, 1, 2)]


def _problem(n_classes: int, seed: int, n: int = 300):
    """Random labels and probabilities correlated with them (so AUCs are not all ~0.5)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, n_classes, n)
    logits = rng.normal(size=(n, n_classes)) + 1.2 * np.eye(n_classes)[y]
    probs = probs_from_logits(logits, binary_single_logit=False)
    classes = [f"class{k}" for k in range(n_classes)]
    return y, probs, classes


def _assert_plain_json(obj) -> None:
    """Only dict/list/str/int/float/bool/None, and strict JSON (no NaN/inf)."""
    json.dumps(obj, allow_nan=False)
    if isinstance(obj, dict):
        for v in obj.values():
            _assert_plain_json(v)
    elif isinstance(obj, list):
        for v in obj:
            _assert_plain_json(v)
    else:
        assert obj is None or type(obj) in (str, int, float, bool), type(obj)


@pytest.mark.parametrize("n_classes,seed", CASES)
def test_label_metrics_match_sklearn(n_classes, seed):
    y, probs, classes = _problem(n_classes, seed)
    pred = probs.argmax(1)
    m = compute_metrics(y, probs, classes)
    labels = list(range(n_classes))
    assert m["n"] == len(y) and m["classes"] == classes
    assert m["accuracy"] == pytest.approx(np.mean(pred == y))
    assert m["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y, pred))
    p, r, f, s = precision_recall_fscore_support(y, pred, labels=labels, zero_division=0)
    for k, name in enumerate(classes):
        row = m["per_class"][name]
        assert (row["precision"], row["recall"], row["f1"]) == pytest.approx((p[k], r[k], f[k]))
        assert row["support"] == s[k]
    for avg in ("macro", "weighted"):
        p, r, f, _ = precision_recall_fscore_support(y, pred, labels=labels, average=avg, zero_division=0)
        assert (m[avg]["precision"], m[avg]["recall"], m[avg]["f1"]) == pytest.approx((p, r, f))
    cm = confusion_matrix(y, pred, labels=labels)
    assert m["confusion_matrix"] == cm.tolist()
    np.testing.assert_allclose(m["confusion_matrix_normalized"], cm / cm.sum(1, keepdims=True))
    assert m["classification_report_dict"]["macro avg"]["f1-score"] == pytest.approx(m["macro"]["f1"])
    assert all(name in m["classification_report"] for name in classes)
    _assert_plain_json(m)


@pytest.mark.parametrize("n_classes,seed", CASES)
def test_scores_match_sklearn(n_classes, seed):
    y, probs, classes = _problem(n_classes, seed)
    m = compute_metrics(y, probs, classes)
    if n_classes == 2:
        assert m["positive_class"] == "class1"
        assert m["roc_auc"] == pytest.approx(roc_auc_score(y, probs[:, 1]))
        assert m["average_precision"] == pytest.approx(average_precision_score(y, probs[:, 1]))
        assert m["f1"] == pytest.approx(m["per_class"]["class1"]["f1"])
        assert set(m["pr_curve"]) == {"precision", "recall", "thresholds"}
    else:
        onehot = label_binarize(y, classes=list(range(n_classes)))
        macro = roc_auc_score(y, probs, multi_class="ovr", average="macro")
        assert m["roc_auc_ovr_macro"] == pytest.approx(macro)
        assert m["roc_auc"] == m["roc_auc_ovr_macro"]
        assert m["roc_auc_ovr_micro"] == pytest.approx(roc_auc_score(onehot, probs, average="micro"))
        assert m["average_precision_macro"] == pytest.approx(average_precision_score(onehot, probs, average="macro"))
        assert m["average_precision_micro"] == pytest.approx(average_precision_score(onehot, probs, average="micro"))
        assert set(m["roc_curve"]) == {"micro", *classes}
        assert set(m["pr_curve"]["micro"]) == {"precision", "recall"}
        assert "auc_note" not in m


@pytest.mark.parametrize("n_classes,seed", [(2, 0), (3, 1), (5, 2)])
def test_unthinned_curve_area_equals_auc(n_classes, seed):
    y, probs, classes = _problem(n_classes, seed)
    m = compute_metrics(y, probs, classes, max_curve_points=None)
    curves = {"": m["roc_curve"]} if n_classes == 2 else m["roc_curve"]
    aucs = {"": m["roc_auc"]} if n_classes == 2 else {"micro": m["roc_auc_ovr_micro"], **m["roc_auc_per_class"]}
    for key, curve in curves.items():
        assert auc(curve["fpr"], curve["tpr"]) == pytest.approx(aucs[key], abs=1e-12)
        assert np.trapezoid(curve["tpr"], curve["fpr"]) == pytest.approx(aucs[key], abs=1e-12)


def test_curves_are_thinned_but_keep_ends_and_area():
    y, probs, classes = _problem(2, 7, n=5000)
    m = compute_metrics(y, probs, classes)
    roc, pr = m["roc_curve"], m["pr_curve"]
    assert len(roc["fpr"]) <= 200 and len(pr["precision"]) <= 200
    assert len(roc["fpr"]) == len(roc["tpr"]) == len(roc["thresholds"])
    assert len(pr["precision"]) == len(pr["recall"]) == len(pr["thresholds"])
    assert (roc["fpr"][0], roc["tpr"][0], roc["fpr"][-1], roc["tpr"][-1]) == (0.0, 0.0, 1.0, 1.0)
    assert roc["thresholds"][0] is None  # sklearn's +inf, not valid JSON
    assert (pr["recall"][0], pr["recall"][-1], pr["precision"][-1]) == (1.0, 0.0, 1.0)
    assert m["roc_auc"] == pytest.approx(roc_auc_score(y, probs[:, 1]))  # exact, from full data
    assert auc(roc["fpr"], roc["tpr"]) == pytest.approx(m["roc_auc"], abs=5e-3)
    assert len(json.dumps(m)) < 30_000


def test_thin_indices():
    assert thin_indices(5, 200).tolist() == [0, 1, 2, 3, 4]
    idx = thin_indices(1000, 10)
    assert len(idx) == 10 and idx[0] == 0 and idx[-1] == 999
    assert thin_indices(1000, None).tolist() == list(range(1000))


def test_positive_class_option():
    y, probs, _ = _problem(2, 3)
    classes = ["malignant", "benign"]
    m = compute_metrics(y, probs, classes, positive_class="malignant")
    assert m["positive_class"] == "malignant"
    assert m["roc_auc"] == pytest.approx(roc_auc_score(y == 0, probs[:, 0]))
    assert m["recall"] == pytest.approx(m["per_class"]["malignant"]["recall"])
    with pytest.raises(ConfigError):
        compute_metrics(y, probs, classes, positive_class="normal")


def test_patient_level_hand_computed():
    classes = ["benign", "malignant"]
    y = [0, 0, 0, 1, 1, 1, 0]
    probs = [[0.9, 0.1], [0.6, 0.4], [0.3, 0.7], [0.4, 0.6], [0.8, 0.2], [0.2, 0.8], [0.1, 0.9]]
    patients = ["A", "A", "A", "B", "B", "C", None]
    m = compute_metrics(y, probs, classes, patients=patients)
    pat = m["patient"]
    assert pat["n_patients"] == 3 and pat["n_images_without_patient"] == 1
    # A: 2/3 correct, mean prob -> benign (true benign); B: 1/2, mean -> benign (true malignant); C: 1/1.
    assert pat["patient_score"] == pytest.approx((2 / 3 + 1 / 2 + 1) / 3)
    assert pat["patient_vote_accuracy"] == pytest.approx(2 / 3)
    by_id = {r["patient"]: r for r in pat["per_patient"]}
    assert by_id["A"] == {
        "patient": "A", "n": 3, "correct": 2, "accuracy": pytest.approx(2 / 3),
        "true_label": "benign", "predicted_label": "benign",
    }
    assert (by_id["B"]["true_label"], by_id["B"]["predicted_label"]) == ("malignant", "benign")
    assert m["accuracy"] == pytest.approx(4 / 7)  # image level still counts every image
    assert compute_metrics(y, probs, classes, patients=[None] * 7)["patient"] is None
    with pytest.raises(DataError):
        compute_metrics(y, probs, classes, patients=["A"])


def test_degenerate_inputs():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # degenerate cases must not even warn
        one = compute_metrics([1, 1, 1], [[0.2, 0.8], [0.6, 0.4], [0.1, 0.9]], ["benign", "malignant"])
        assert one["roc_auc"] is None and one["roc_curve"] is None and "auc_note" in one
        assert one["average_precision"] == pytest.approx(1.0)
        assert one["confusion_matrix"] == [[0, 0], [1, 2]]
        assert one["confusion_matrix_normalized"][0] == [0.0, 0.0]
        neg = compute_metrics([0, 0], [[0.7, 0.3], [0.4, 0.6]], ["a", "b"])
        assert neg["roc_auc"] is None and neg["average_precision"] is None and neg["pr_curve"] is None
        multi = compute_metrics([2, 2], np.full((2, 3), 1 / 3), ["a", "b", "c"])
        assert multi["roc_auc"] is None and multi["auc_note"]
        # a class absent from y_true: macro AUC over the classes where it is defined
        y, probs, classes = _problem(3, 4)
        keep = y != 2
        absent = compute_metrics(y[keep], probs[keep], classes)
        ovr = [roc_auc_score(y[keep] == k, probs[keep][:, k]) for k in (0, 1)]
        assert absent["roc_auc_per_class"]["class2"] is None and "class2" in absent["auc_note"]
        assert absent["roc_auc"] == pytest.approx(np.mean(ovr))
        assert absent["per_class"]["class2"]["support"] == 0 and len(absent["confusion_matrix"]) == 3
        # every image predicted as class 0: other classes never predicted
        y = np.array([0, 1, 2, 1])
        same = compute_metrics(y, np.tile([0.6, 0.3, 0.1], (4, 1)), classes)
        assert same["per_class"]["class1"]["precision"] == 0.0 and same["accuracy"] == 0.25
        _assert_plain_json(same)
    for bad in (
        ([], np.zeros((0, 2)), ["a", "b"]),
        ([0, 1], [[0.5, 0.5]], ["a", "b"]),
        ([0, 1], [[0.5, 0.5], [0.5, 0.5]], ["a", "b", "c"]),
        ([0, 3], [[0.5, 0.5], [0.5, 0.5]], ["a", "b"]),
        ([0, 1], [[np.nan, 0.5], [0.5, 0.5]], ["a", "b"]),
        ([0, 0], [[1.0], [1.0]], ["a"]),
    ):
        with pytest.raises(DataError):
            compute_metrics(*bad)


def test_predictions_csv_round_trip(tmp_path):
    y, probs, _ = _problem(3, 5, n=40)
    classes = ["benign", "in situ, ductal", "normal"]  # a comma must survive quoting
    patients = [f"SOB_{i % 4}" if i % 10 else None for i in range(40)]
    rows = make_prediction_rows(
        [f"img/{i}.png" for i in range(40)], probs, classes, y_true=y, split="test",
        patients=patients, magnifications=[40, 100, 200, 400] * 10,
    )
    path = tmp_path / "run" / "predictions.csv"
    write_predictions_csv(path, rows)
    assert [p.name for p in path.parent.iterdir()] == ["predictions.csv"]  # no temp file left
    back = read_predictions_csv(path)
    assert back == rows
    header = path.read_text(encoding="utf-8").splitlines()[0]
    assert header.startswith("path,split,true_label,predicted_label,predicted_probability,correct,p_benign")
    y2, p2, c2, pat2 = rows_to_arrays(back)
    assert c2 == classes and pat2 == patients
    assert compute_metrics(y2, p2, c2, patients=pat2) == compute_metrics(y, probs, classes, patients=patients)
    unlabelled = make_prediction_rows(["x.png"], probs[:1], classes)
    write_predictions_csv(path, unlabelled)
    assert read_predictions_csv(path) == unlabelled
    with pytest.raises(DataError):
        rows_to_arrays(unlabelled)


def test_read_rejects_foreign_csv(tmp_path):
    path = tmp_path / "other.csv"
    path.write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(DataError):
        read_predictions_csv(path)


def test_probs_from_logits_matches_torch():
    gen = torch.Generator().manual_seed(0)
    z = torch.randn(64, 5, generator=gen) * 4
    np.testing.assert_allclose(probs_from_logits(z, False), torch.softmax(z, 1).numpy(), atol=1e-6)
    np.testing.assert_allclose(probs_from_logits(z.numpy(), False), torch.softmax(z, 1).numpy(), atol=1e-6)
    s = torch.randn(64, 1, generator=gen, requires_grad=True) * 4
    p = probs_from_logits(s, True)
    sig = torch.sigmoid(s).detach().numpy()[:, 0]
    np.testing.assert_allclose(p[:, 1], sig, atol=1e-6)
    np.testing.assert_allclose(p[:, 0], 1 - sig, atol=1e-6)
    extreme = probs_from_logits(np.array([-1000.0, 0.0, 1000.0]), True)
    np.testing.assert_allclose(extreme, [[1, 0], [0.5, 0.5], [0, 1]])
    wide = probs_from_logits(np.array([[1000.0, -1000.0, 0.0]]), False)
    assert np.isfinite(wide).all() and wide.sum() == pytest.approx(1.0)
    with pytest.raises(DataError):
        probs_from_logits(np.zeros((3, 2)), True)
    with pytest.raises(DataError):
        probs_from_logits(np.zeros(3), False)


def test_format_metrics_table():
    y, probs, classes = _problem(2, 0)
    m = compute_metrics(y, probs, classes, patients=[f"P{i % 6}" for i in range(len(y))])
    text = format_metrics_table(m)
    assert f"{m['accuracy']:.4f}" in text and f"{m['roc_auc']:.4f}" in text
    assert "class1 *" in text and "macro avg" in text and "patient score" in text
    multi = format_metrics_table(compute_metrics(*_problem(5, 1)))
    assert "ROC AUC (micro)" in multi and "patient" not in multi
    lines = multi.splitlines()
    assert len({len(line) for line in lines if line.startswith("  class")}) == 1  # aligned rows
    degenerate = format_metrics_table(compute_metrics([1], [[0.2, 0.8]], ["a", "b"]))
    assert "n/a" in degenerate and "note:" in degenerate
