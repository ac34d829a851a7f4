"""The binary decision threshold, chosen on the validation split and applied unchanged elsewhere.

Rules (``config.evaluation.threshold``):

* ``"argmax"``: the most probable class (for two classes: p >= 0.5 except
  for an exact tie, which goes to the first class), the default;
* ``"youden"``: the threshold maximising sensitivity + specificity - 1 on
  val (Youden, "Index for rating diagnostic tests", Cancer 1950); among ties
  the highest threshold;
* ``"sensitivity"``: the highest threshold whose val sensitivity reaches
  ``target_sensitivity``.

An image is called positive when its positive-class probability is ``>=``
the threshold. Multi-class problems always use the arg-max.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
from pydantic.dataclasses import dataclass

from engine.options import ThresholdMethod, literal_values
from engine.schema import SCHEMA_CONFIG, Probability

METHODS = literal_values(ThresholdMethod)


@dataclass(config=SCHEMA_CONFIG)
class ThresholdRule:
    """A decision rule as stored in calibration.json and package.json's ``calibration.threshold``."""

    method: ThresholdMethod = "argmax"
    value: Optional[Probability] = None
    positive_class: Optional[str] = None
    target_sensitivity: Optional[Probability] = None

    def as_dict(self) -> dict:
        """The four keys of the package.json threshold block."""
        return {"method": self.method, "value": self.value, "positive_class": self.positive_class,
                "target_sensitivity": self.target_sensitivity}


def fit_threshold(y: np.ndarray, probs: np.ndarray, classes: list[str], positive: str | None, method: str,
                  target_sensitivity: float = 0.9) -> tuple[ThresholdRule | None, str | None]:
    """``(rule, note)``: the rule ``method`` fitted on val labels/probabilities.

    Returns ``(None, note)`` (arg-max) for a multi-class problem, for
    ``"argmax"`` and when val lacks one of the two classes.
    """
    if method == "argmax":
        return None, None
    if len(classes) != 2 or positive is None:
        return None, f"threshold '{method}' applies to two-class problems only; the arg-max class is used"
    pos = classes.index(positive)
    y_bin = np.asarray(y) == pos
    if len(y_bin) == 0 or y_bin.all() or not y_bin.any():
        return None, (f"threshold '{method}' needs both classes in the val split; "
                      "the arg-max rule (p >= 0.5) is used instead")
    from sklearn.metrics import roc_curve  # imported here: predict loads this module, rarely fits

    fpr, tpr, thr = roc_curve(y_bin, np.asarray(probs)[:, pos], drop_intermediate=False)
    # index 0 is scikit-learn's +inf threshold ("nothing positive"); thresholds decrease along the curve
    if method == "youden":
        k = 1 + int(np.argmax((tpr - fpr)[1:]))
        return ThresholdRule("youden", float(min(thr[k], 1.0)), positive, None), None
    k = max(1, int(np.argmax(tpr >= target_sensitivity)))
    return ThresholdRule("sensitivity", float(min(thr[k], 1.0)), positive, float(target_sensitivity)), None


def positive_class(classes: list[str]) -> str | None:
    """The class reported as positive in binary metrics ('malignant' if present); None for C != 2."""
    if len(classes) != 2:
        return None
    for name in ("malignant", "1", "tumor", "tumour", "positive"):
        if name in classes:
            return name
    return classes[1]


def predict_labels(probs: np.ndarray, rule: ThresholdRule | dict | None, classes: list[str]) -> np.ndarray:
    """Class indices decided by ``rule`` (``None``, "argmax" or no value: the arg-max)."""
    p = np.asarray(probs, dtype=float)
    if isinstance(rule, dict):
        rule = ThresholdRule(**rule)
    if rule is None or rule.method == "argmax" or rule.value is None or len(classes) != 2:
        return p.argmax(axis=1)
    pos = classes.index(rule.positive_class) if rule.positive_class in classes else 1
    return np.where(p[:, pos] >= rule.value, pos, 1 - pos)


def describe_rule(rule: ThresholdRule | None, source: str, note: str | None = None) -> dict:
    """The ``metrics["threshold"]`` record: the rule used and where it came from."""
    out = rule.as_dict() if rule is not None else {"method": "argmax", "value": None, "positive_class": None,
                                                   "target_sensitivity": None}
    out["source"] = source
    if note:
        out["note"] = note
    return out
