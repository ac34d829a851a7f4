"""Calibration: ECE, Brier score, reliability diagram, and temperature scaling fitted on val.

* **ECE** (expected calibration error, top-label): confidences (the largest
  class probability) fall into 15 equal-width bins ``(k/15, (k+1)/15]`` (the
  first bin also holds 0); ECE = sum over bins of ``n_bin / N * |accuracy -
  mean confidence|`` where accuracy is that of the arg-max class (Guo et al.,
  "On Calibration of Modern Neural Networks", ICML 2017).
* **Brier score**: the mean squared error between the probability vector and
  the one-hot true label, averaged over images *and classes*. For two classes
  this equals the usual binary Brier score ``mean((p_pos - y)^2)``; Brier's
  original multi-class score (summed over classes) is C times this figure.
* **Temperature scaling** (Guo et al. 2017): one scalar T > 0 divides the
  logits (a single-logit binary model: ``sigmoid(z / T)``), chosen to
  minimise the val negative log-likelihood by bounded scalar optimisation
  over log T. It changes confidences, never the arg-max class or the AUC.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import numpy as np
from pydantic import Field
from pydantic.dataclasses import dataclass

from engine.errors import ConfigError, with_step
from engine.evaluation.predictions import probs_from_logits
from engine.evaluation.thresholds import ThresholdRule, fit_threshold
from engine.schema import SCHEMA_CONFIG, NonNegativeInt, PositiveFiniteFloat, validate

N_BINS = 15
T_BOUNDS = (0.01, 100.0)
CALIBRATION_FILE = "calibration.json"


def reliability(y: np.ndarray, probs: np.ndarray, n_bins: int = N_BINS) -> dict[str, Any]:
    """``{"ece", "bins": [{lower, upper, confidence, accuracy, count}]}`` (empty bins: None figures)."""
    p = np.asarray(probs, dtype=float)
    conf = p.max(axis=1)
    correct = (p.argmax(axis=1) == np.asarray(y)).astype(float)
    idx = np.clip(np.ceil(conf * n_bins).astype(int) - 1, 0, n_bins - 1)
    count = np.bincount(idx, minlength=n_bins)
    conf_sum = np.bincount(idx, weights=conf, minlength=n_bins)
    acc_sum = np.bincount(idx, weights=correct, minlength=n_bins)
    ece = float(np.abs(acc_sum - conf_sum).sum() / len(conf))
    bins = [{"lower": k / n_bins, "upper": (k + 1) / n_bins,
             "confidence": float(conf_sum[k] / count[k]) if count[k] else None,
             "accuracy": float(acc_sum[k] / count[k]) if count[k] else None, "count": int(count[k])}
            for k in range(n_bins)]
    return {"ece": ece, "bins": bins}


def brier_score(y: np.ndarray, probs: np.ndarray) -> float:
    """Mean over images and classes of ``(p - onehot)^2`` (the binary Brier score for two classes)."""
    p = np.asarray(probs, dtype=float)
    onehot = np.eye(p.shape[1])[np.asarray(y, dtype=int)]
    return float(np.mean((p - onehot) ** 2))


def nll(y: np.ndarray, probs: np.ndarray) -> float:
    """Mean negative log-likelihood of the true class (probabilities clipped at 1e-15)."""
    p = np.asarray(probs, dtype=float)[np.arange(len(y)), np.asarray(y, dtype=int)]
    return float(-np.mean(np.log(np.clip(p, 1e-15, 1.0))))


def calibration_summary(y: np.ndarray, probs: np.ndarray) -> dict[str, Any]:
    """ECE, Brier score, NLL and the reliability-diagram bins of one set of probabilities."""
    rel = reliability(y, probs)
    return {"ece": rel["ece"], "brier": brier_score(y, probs), "nll": nll(y, probs), "n_bins": N_BINS,
            "reliability": rel["bins"]}


def logits_nll(logits: np.ndarray, y: np.ndarray, temperature: float = 1.0) -> float:
    """Exact mean NLL of ``logits / temperature`` (softmax, or sigmoid for a single logit)."""
    z = np.asarray(logits, dtype=np.float64) / temperature
    y = np.asarray(y, dtype=int)
    if z.ndim == 1 or z.shape[1] == 1:
        z = z.reshape(-1)
        return float(np.mean(np.logaddexp(0.0, np.where(y == 1, -z, z))))
    top = z.max(axis=1, keepdims=True)
    lse = top[:, 0] + np.log(np.exp(z - top).sum(axis=1))
    return float(np.mean(lse - z[np.arange(len(y)), y]))


def fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    """The T in [0.01, 100] minimising the NLL of ``logits / T`` (bounded search over log T)."""
    lo, hi = np.log(T_BOUNDS[0]), np.log(T_BOUNDS[1])
    from scipy.optimize import minimize_scalar  # imported here: predict loads this module, rarely fits

    res = minimize_scalar(lambda log_t: logits_nll(logits, y, float(np.exp(log_t))), bounds=(lo, hi),
                          method="bounded", options={"xatol": 1e-6})
    t = float(np.exp(res.x))
    return t if logits_nll(logits, y, t) <= logits_nll(logits, y, 1.0) else 1.0


@dataclass(config=SCHEMA_CONFIG)
class Calibration:
    """What a run learned on val to turn logits into decisions: a temperature and a threshold rule."""

    temperature: PositiveFiniteFloat = 1.0
    threshold: Optional[ThresholdRule] = None
    fitted_on: Optional[str] = None          # "val", or None when nothing was fitted
    n_fit: NonNegativeInt = 0
    val_nll_before: Optional[float] = None
    val_nll_after: Optional[float] = None
    notes: list[str] = Field(default_factory=list)  # about the temperature
    threshold_note: Optional[str] = None             # why the arg-max rule is used instead of the configured one

    def probs(self, logits: np.ndarray) -> np.ndarray:
        """Calibrated class probabilities (N, C) of raw logits."""
        z = np.asarray(logits, dtype=np.float64)
        return probs_from_logits(z / self.temperature, z.ndim == 1 or z.shape[1] == 1)

    def mean_probs(self, view_logits: np.ndarray) -> np.ndarray:
        """TTA: (V, N, O) logits of V views -> (N, C) mean over the views of each view's calibrated probabilities."""
        z = np.asarray(view_logits, dtype=np.float64)
        v, n = z.shape[:2]
        return self.probs(z.reshape(v * n, -1)).reshape(v, n, -1).mean(axis=0)

    def decide(self, probs: np.ndarray, classes: list[str]) -> np.ndarray:
        """Class indices of (N, C) probabilities under the threshold rule (arg-max when there is none)."""
        from engine.evaluation.thresholds import predict_labels

        return predict_labels(probs, self.threshold, classes)

    def to_dict(self) -> dict[str, Any]:
        """calibration.json content."""
        return {"temperature": self.temperature, "threshold": self.threshold.as_dict() if self.threshold else None,
                "fitted_on": self.fitted_on, "n_fit": self.n_fit, "val_nll_before": self.val_nll_before,
                "val_nll_after": self.val_nll_after, "notes": list(self.notes), "threshold_note": self.threshold_note}

    def package_block(self) -> dict[str, Any]:
        """package.json's ``calibration`` block: temperature and threshold (None = arg-max)."""
        return {"temperature": self.temperature, "threshold": self.threshold.as_dict() if self.threshold else None}


def fit_calibration(logits: np.ndarray | None, y: np.ndarray | None, classes: list[str], positive: str | None,
                    evaluation: Any) -> Calibration:
    """Temperature and threshold fitted on val ``logits``/``y`` as ``evaluation`` (the config section) says.

    With no val images nothing is fitted (T = 1, arg-max) and a note says so.
    """
    if logits is None or y is None or len(y) == 0:
        return Calibration(notes=["no validation images: no temperature (T = 1)"],
                           threshold_note=None if evaluation.threshold == "argmax" else
                           f"no validation images to fit threshold '{evaluation.threshold}': the arg-max rule")
    notes = []
    before = logits_nll(logits, y)
    t = 1.0
    if evaluation.temperature_scaling:
        t = fit_temperature(logits, y)
        if t >= 0.99 * T_BOUNDS[1] or t <= 1.01 * T_BOUNDS[0]:
            notes.append(f"the temperature reached its search bound ({t:.3g}): the {len(y)} val images give no "
                         "usable confidence to calibrate (too few, or a model that has not learned); "
                         "its probabilities are flattened or sharpened to the limit")
    else:
        notes.append("temperature scaling is off (evaluation.temperature_scaling = false): T = 1")
    cal = Calibration(temperature=t, fitted_on="val", n_fit=len(y), val_nll_before=before,
                      val_nll_after=logits_nll(logits, y, t))
    rule, note = fit_threshold(y, cal.probs(logits), classes, positive, evaluation.threshold,
                               evaluation.target_sensitivity)
    cal.threshold, cal.notes, cal.threshold_note = rule, notes, note
    return cal


def load_calibration(run_dir: str | Path) -> Calibration | None:
    """A run's calibration.json (validated), or None when the run has none."""
    path = Path(run_dir) / CALIBRATION_FILE
    if not path.is_file():
        return None
    import json

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        what = f"{path} is not valid JSON ({exc}); delete it and evaluate the run again to fit the calibration."
        raise with_step(ConfigError(f"{what[:-1]} (`python main.py evaluate {path.parent}`)."), what,
                        "evaluate_run") from None
    return validate(Calibration, data, str(path))


def from_package_block(block: dict | None) -> Calibration:
    """A Calibration from package.json's ``calibration`` block (None: identity)."""
    if not block:
        return Calibration()
    return Calibration(temperature=float(block.get("temperature") or 1.0),
                       threshold=ThresholdRule(**block["threshold"]) if block.get("threshold") else None)


def package_calibration(run_dir: str | Path) -> dict[str, Any]:
    """package.json's ``calibration`` block for a run (identity when the run has no calibration.json)."""
    return (load_calibration(run_dir) or Calibration()).package_block()
