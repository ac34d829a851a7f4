"""Patient-level bootstrap benchmark (a script, not a test).

    .venv/bin/python benchmarks/bench_bootstrap.py [--n 10000] [--patients 500] [--replicates 1000]
                                                   [--rounds 5] [--plain-rounds 3] [--out PATH]

On one synthetic binary evaluation (``n`` predictions from ``patients``
patients, fixed seed; scores correlated with the label, rounded to 3
decimals so ties occur as with real probabilities) it times, with the same
patient resampling (``numpy.random.default_rng(seed).integers(0, G, (B, G))``):

* **ours**: ``engine.evaluation.bootstrap.bootstrap_intervals``: the
  replicates x patients multiplicity matrix, confusion counts by one matrix
  product, ROC AUC by one sort and cumulative sums of weights; accuracy,
  balanced accuracy, ROC AUC, F1, macro F1, sensitivity, specificity,
  precision and their 95 % percentile intervals;
* **plain**: the usual way: for each replicate, gather the drawn patients'
  images and call scikit-learn once per figure (``accuracy_score``,
  ``balanced_accuracy_score``, ``roc_auc_score``, ``f1_score`` (positive and
  macro), ``recall_score`` for sensitivity and specificity,
  ``precision_score``), then ``numpy.percentile``.

Each is run ``rounds`` / ``plain-rounds`` times (alternating); min, median
and max wall-clock seconds and the ratio of medians are printed, the
intervals of both are checked to agree, and the output is written to
``benchmarks/results/bootstrap.md``. Goal: ours under 2 s on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import sys
import time
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

import numpy as np

from bench_training import cpu_model

FIGURES = ("accuracy", "balanced_accuracy", "roc_auc", "f1", "f1_macro", "sensitivity", "specificity", "precision")


def problem(n: int, patients: int, seed: int = 0):
    """Labels (a class per patient, ~30 % benign as in BreaKHis), scores, decisions and patient ids."""
    rng = np.random.default_rng(seed)
    pid = rng.integers(0, patients, n)
    patient_label = (rng.random(patients) < 0.69).astype(int)
    y = patient_label[pid]
    effect = rng.normal(0, 0.8, patients)[pid]  # patients differ: images of one patient are correlated
    score = 1 / (1 + np.exp(-(1.6 * (y - 0.5) * 2 + effect + rng.normal(0, 1.0, n))))
    score = np.round(score, 3)
    probs = np.stack([1 - score, score], axis=1)
    return y, probs, (score >= 0.5).astype(int), [f"P{p}" for p in pid]


def plain(y, probs, pred, patients, n_boot: int, seed: int, level: float = 0.95) -> dict:
    """The loop-of-scikit-learn-calls bootstrap, one replicate at a time."""
    from sklearn.metrics import (accuracy_score, balanced_accuracy_score, f1_score, precision_score, recall_score,
                                 roc_auc_score)

    index, codes = {}, []
    for p in patients:
        codes.append(index.setdefault(p, len(index)))
    codes = np.array(codes)
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(index) + 1))
    members = [order[bounds[g]:bounds[g + 1]] for g in range(len(index))]
    draws = np.random.default_rng(seed).integers(0, len(index), size=(n_boot, len(index)))
    values = {k: [] for k in FIGURES}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for r in range(n_boot):
            idx = np.concatenate([members[g] for g in draws[r]])
            yy, pp, pr = y[idx], probs[idx, 1], pred[idx]
            both = 0 < yy.sum() < len(yy)
            values["accuracy"].append(accuracy_score(yy, pr))
            values["balanced_accuracy"].append(balanced_accuracy_score(yy, pr))
            values["roc_auc"].append(roc_auc_score(yy, pp) if both else np.nan)
            values["f1"].append(f1_score(yy, pr, zero_division=0))
            values["f1_macro"].append(f1_score(yy, pr, average="macro", zero_division=0))
            values["sensitivity"].append(recall_score(yy, pr, zero_division=0))
            values["specificity"].append(recall_score(yy, pr, pos_label=0, zero_division=0))
            values["precision"].append(precision_score(yy, pr, zero_division=0))
    tail = 100 * (1 - level) / 2
    return {k: np.nanpercentile(np.array(v, float), [tail, 100 - tail]).tolist() for k, v in values.items()}


def ours(y, probs, pred, patients, n_boot: int, seed: int, level: float = 0.95) -> dict:
    """HistoDesk's vectorised bootstrap."""
    from engine.evaluation.bootstrap import BootstrapSpec, bootstrap_intervals

    return bootstrap_intervals(y, probs, pred, patients, BootstrapSpec(n_boot, level, seed), pos=1)["ci"]


def timed(fn, *args) -> tuple[float, dict]:
    """(wall seconds, result) of one call."""
    t = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - t, out


def stats(times: list[float]) -> str:
    """min / median / max seconds."""
    return f"{min(times):8.3f} {float(np.median(times)):8.3f} {max(times):8.3f}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--patients", type=int, default=500)
    ap.add_argument("--replicates", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--plain-rounds", type=int, default=3)
    ap.add_argument("--out", help="result file (default benchmarks/results/bootstrap.md)")
    args = ap.parse_args()
    y, probs, pred, patients = problem(args.n, args.patients)
    data = (y, probs, pred, patients, args.replicates, 0)
    ours(*data[:4], 10, 0)  # warm-up: imports and first-call costs
    t_ours, t_plain, ci_ours, ci_plain = [], [], None, None
    for r in range(max(args.rounds, args.plain_rounds)):
        if r < args.rounds:
            secs, ci_ours = timed(ours, *data)
            t_ours.append(secs)
        if r < args.plain_rounds:
            secs, ci_plain = timed(plain, *data)
            t_plain.append(secs)
    # the plain loop keeps scikit-learn's zero_division=0 where ours drops undefined replicates; with
    # 500 patients no replicate is degenerate, so the intervals must agree
    worst = max(abs(a - b) for k in FIGURES for a, b in zip(ci_ours[k], ci_plain[k]))
    ratio = float(np.median(t_plain) / np.median(t_ours))
    lines = [
        "# Bootstrap benchmark: vectorised patient-level bootstrap vs a loop of scikit-learn calls",
        "",
        f"date: {_dt.datetime.now(_dt.timezone.utc):%Y-%m-%d %H:%M UTC}; cpu: {cpu_model()}, "
        f"{os.cpu_count()} logical cores (shared machine: other jobs may be running); numpy {np.__version__}",
        f"data: {args.n} binary predictions from {args.patients} patients; {args.replicates} patient-level "
        f"replicates; 8 figures ({', '.join(FIGURES)}) with 95 % percentile intervals",
        "command: .venv/bin/python benchmarks/bench_bootstrap.py "
        f"--n {args.n} --patients {args.patients} --replicates {args.replicates} --rounds {args.rounds} "
        f"--plain-rounds {args.plain_rounds}",
        "",
        "```",
        f"{'':36s} {'rounds':>6} {'min s':>8} {'median s':>8} {'max s':>8}",
        f"{'ours (bootstrap_intervals)':36s} {len(t_ours):6d} {stats(t_ours)}",
        f"{'plain (scikit-learn per replicate)':36s} {len(t_plain):6d} {stats(t_plain)}",
        f"speed-up (median plain / median ours): {ratio:.1f}x",
        f"largest difference between the two sets of interval bounds: {worst:.2e}",
        f"goal ours < 2 s: {'met' if float(np.median(t_ours)) < 2 else 'NOT met'}",
        "```",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    out = Path(args.out) if args.out else REPO / "benchmarks" / "results" / "bootstrap.md"
    out.write_text(text, encoding="utf-8")
    print(f"written to {out}")
    return 0 if worst < 1e-9 else 1


if __name__ == "__main__":
    raise SystemExit(main())
