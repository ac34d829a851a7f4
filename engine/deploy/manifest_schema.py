"""The pydantic v2 schema of package.json, and the checks across its fields.

Every value read from a package is untrusted: numbers are strict (a JSON
``true`` is not a size), ranges are bounded, strings have a length limit and
no control characters, unknown keys are refused. :func:`check_manifest`
raises :class:`~engine.errors.UntrustedFileError` naming package.json and
the field, on one line, e.g.
``package.json: input.size: got 15000; input should be less than or equal to 4096``.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field
from pydantic.dataclasses import dataclass

from engine.deploy.spec import InputSpec
from engine.errors import ConfigError
from engine.options import Normalization, ThresholdMethod, TTAMode
from engine.schema import SCHEMA_CONFIG, validate

STAINS = ("reinhard", "macenko", "vahadane")  # stain normalisation methods a package may declare
MESSAGE_LIMIT = 600  # characters of problems quoted in one refusal
FILE_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"  # plain names only: no folders, no leading dot

Int = Annotated[int, Field(strict=True)]
Count = Annotated[int, Field(strict=True, ge=0)]
Number = Annotated[float, Field(strict=True, allow_inf_nan=False)]
NonNegative = Annotated[float, Field(strict=True, ge=0, allow_inf_nan=False)]
Positive = Annotated[float, Field(strict=True, gt=0, allow_inf_nan=False)]
Unit = Annotated[float, Field(strict=True, ge=0, le=1, allow_inf_nan=False)]
Text = Annotated[str, Field(strict=True, max_length=4096, pattern=r"^[^\x00-\x1f\x7f]*$")]
Name = Annotated[str, Field(strict=True, min_length=1, max_length=200,
                           pattern=r"^[^\x00-\x1f\x7f]*\S[^\x00-\x1f\x7f]*$")]  # not blank
Sha256 = Annotated[str, Field(strict=True, pattern=r"^[0-9a-fA-F]{64}$")]
FileName = Annotated[str, Field(strict=True, pattern=FILE_NAME)]
Triple = Annotated[list[Number], Field(min_length=3, max_length=3)]


@dataclass(config=SCHEMA_CONFIG)
class InputBlock:
    """``input``: what the graph takes (N x 3 x size x size float32) and how pixels are normalised."""

    size: Annotated[int, Field(strict=True, ge=16, le=4096)]
    channels: Literal[3]
    dtype: Literal["float32"]
    layout: Literal["NCHW"]
    normalize: Normalization
    mean: Triple
    std: Annotated[list[Positive], Field(min_length=3, max_length=3)]


@dataclass(config=SCHEMA_CONFIG)
class TtaChoice:
    """``tta_choice``: how the recommended TTA was chosen (always on the validation split)."""

    split: Literal["val"]
    mode: TTAMode
    metric: Literal["roc_auc", "accuracy"] | None = None
    plain: Unit | None = None
    tta: Unit | None = None
    n_images: Count = 0
    note: Text | None = None


@dataclass(config=SCHEMA_CONFIG)
class Parity:
    """``parity``: PyTorch vs onnxruntime probabilities at export."""

    max_prob_diff: NonNegative
    n_images: Count
    source: Text | None = None
    tolerance: Positive | None = None


@dataclass(config=SCHEMA_CONFIG)
class Int8Info:
    """``int8``: the int8 model's method, sizes and agreement with fp32 (engine.deploy.quantize)."""

    file: Literal["model.int8.onnx"]
    method: Text
    n_images: Count
    agreement: Unit
    max_prob_diff: NonNegative
    calibration: Text | None = None
    test_source: Text | None = None
    fp32_mb: NonNegative | None = None
    int8_mb: NonNegative | None = None
    fp32_accuracy: Unit | None = None
    int8_accuracy: Unit | None = None
    accuracy_change: Annotated[float, Field(strict=True, ge=-1, le=1, allow_inf_nan=False)] | None = None


@dataclass(config=SCHEMA_CONFIG)
class Threshold:
    """``calibration.threshold``: the decision rule fitted on val."""

    method: ThresholdMethod
    value: Unit | None = None
    positive_class: Name | None = None
    target_sensitivity: Unit | None = None


@dataclass(config=SCHEMA_CONFIG)
class Calibration:
    """``calibration``: temperature and decision threshold fitted on the validation split."""

    temperature: Positive
    threshold: Threshold | None = None


@dataclass(config=SCHEMA_CONFIG)
class Manifest:
    """package.json of format version 1."""

    format: Literal["histodesk-package"]
    format_version: Literal[1]
    name: Name
    classes: Annotated[list[Name], Field(min_length=2, max_length=10000)]
    input: InputBlock
    binary_single_logit: Annotated[bool, Field(strict=True)]
    files: Annotated[dict[FileName, Sha256], Field(min_length=1, max_length=16)]
    resize: Annotated[int, Field(strict=True, ge=16, le=8192)] | None = None
    keep_aspect: Annotated[bool, Field(strict=True)] = False
    tta: TTAMode | None = None
    tta_choice: TtaChoice | None = None
    stain: Literal[STAINS] | None = None  # type: ignore[valid-type]
    magnification: Text | Annotated[list[Text], Field(max_length=100)] | None = None
    calibration: Calibration | None = None
    outputs: Annotated[dict[Name, Text], Field(max_length=16)] | None = None
    model: Text | None = None
    source_run: Text | None = None
    created: Text | None = None
    parity: Parity | None = None
    int8: Int8Info | None = None
    torch: Text | None = None
    onnx: Text | None = None
    onnxruntime: Text | None = None
    opset: Annotated[int, Field(strict=True, ge=1, le=1000)] | None = None


def _consistency(m: Manifest) -> list[str]:
    """Problems across fields that a per-field type cannot see."""
    problems = []
    if len(set(m.classes)) != len(m.classes):
        dup = sorted({c for c in m.classes if m.classes.count(c) > 1})
        problems.append(f"classes: {ascii(dup)[:80]} appear more than once; class names must be unique")
    spec = InputSpec(m.input.size, m.input.normalize)  # the mean/std the declared normalisation implies
    for key, want, got in (("mean", spec.mean, m.input.mean), ("std", spec.std, m.input.std)):
        if any(abs(a - b) > 1e-6 for a, b in zip(want, got)):
            problems.append(f"input.{key} {got} does not match normalize '{m.input.normalize}' (expects {list(want)})")
    if m.binary_single_logit and len(m.classes) != 2:
        problems.append(f"binary_single_logit is true but there are {len(m.classes)} classes")
    if "model.onnx" not in m.files:
        problems.append("files: model.onnx is not listed with its SHA-256")
    if (m.int8 is None) != ("model.int8.onnx" not in m.files):
        problems.append("int8 and files disagree: the int8 description and model.int8.onnx go together")
    if m.tta_choice is not None and m.tta is not None and m.tta_choice.mode != m.tta:
        problems.append(f"tta '{m.tta}' differs from tta_choice.mode '{m.tta_choice.mode}'")
    threshold = m.calibration.threshold if m.calibration else None
    if threshold and threshold.positive_class is not None and threshold.positive_class not in m.classes:
        problems.append(f"calibration.threshold.positive_class {ascii(threshold.positive_class)[:80]} "
                        "is not one of the classes")
    return problems


def check_manifest(data: dict) -> Manifest:
    """``data`` validated as package.json; ConfigError (one line, " | " between problems) listing them."""
    try:
        manifest = validate(Manifest, data, "")
    except ConfigError as exc:
        raise ConfigError(" | ".join(str(exc).splitlines())[:MESSAGE_LIMIT]) from None
    problems = _consistency(manifest)
    if problems:
        raise ConfigError(" | ".join(problems)[:MESSAGE_LIMIT])
    return manifest
