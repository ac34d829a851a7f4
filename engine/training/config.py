"""Training configuration: one validated schema (pydantic v2 dataclasses) that round-trips through JSON.

A config holds everything needed to repeat a run, seed included. Types,
ranges and allowed values live here once: a wrong value is refused by
:meth:`TrainConfig.from_dict` with a :class:`~engine.errors.ConfigError`
naming the field, the value and what is allowed, before any run folder
exists. argparse choices and GUI lists read the allowed values with
:func:`engine.schema.choices`. Presets for the reference recipes (S1, S2, S3)
are YAML files in ``resources/presets``, loaded by :func:`engine.presets.preset_dict`
(``kind="train"``) and validated like any other config (:func:`build_config`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import field
from typing import Annotated, Any, Literal, Optional

from pydantic import AfterValidator, Field, field_validator, model_validator

from engine.errors import ConfigError
from engine.options import DeviceName, Normalization, ThresholdMethod
from engine.schema import (
    HalfOpenUnitFloat, NonNegativeFiniteFloat, NonNegativeInt, OpenUnitFloat, PositiveFiniteFloat, PositiveInt,
    Probability, schema, validate,
)

#: Metrics logged per epoch that early stopping and plateau schedules can watch.
Monitor = Literal["val_loss", "val_acc", "val_auc", "val_f1", "train_loss", "train_acc"]


#: Finite floats in [0, 180], [0, 0.99] and [0, 0.5] (augmentation strengths).
Degrees = Annotated[float, Field(ge=0, le=180, allow_inf_nan=False)]
ShiftFraction = Annotated[float, Field(ge=0, le=0.99, allow_inf_nan=False)]
HueShift = Annotated[float, Field(ge=0, le=0.5, allow_inf_nan=False)]


def _ratios_rule(values: list[float]) -> list[float]:
    """Three numbers >= 0 summing to 1, with a train share above 0."""
    if len(values) != 3:
        raise ValueError("give three ratios (train, val, test), e.g. [0.7, 0.15, 0.15]")
    if any(v < 0 for v in values) or values[0] <= 0:
        raise ValueError("ratios must be >= 0, with a train ratio above 0")
    if abs(sum(values) - 1.0) > 1e-6:
        total = sum(values)
        raise ValueError(f"the ratios sum to {total:.4f} ({total * 100:.0f} %); they must sum to 1 (100 %), "
                         "e.g. 0.7, 0.15, 0.15")
    return values


#: Train/val/test ratios: one rule for configs, studies, the CLI, the GUI and split files.
SplitRatios = Annotated[list[Annotated[float, Field(allow_inf_nan=False)]], AfterValidator(_ratios_rule)]


#: A whole number of pixels 8-4096 (the range :func:`engine.schema.bounds` reads; ``_pixels`` words the error).
Pixels = Annotated[int, Field(ge=8, le=4096)]


def _pixels(value: Any, allow_none: bool) -> Any:
    """A whole number of pixels 8-4096 (JSON true/false are not numbers)."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 8 <= value <= 4096:
        raise ValueError("must be a whole number of pixels from 8 to 4096")
    return value


@schema
class DataConfig:
    """Which dataset, and how images become tensors."""

    path: str = ""                 # dataset folder or CSV; "demo" = built-in demo
    importer: str = "auto"         # importer registry name, or auto-detect
    image_size: Pixels = 224       # network input size (8-4096 px)
    resize: Optional[Pixels] = None  # cache/resize size before cropping (None = image_size)
    keep_aspect: bool = False      # resize the shorter side instead of squashing
    normalize: Normalization = "imagenet"  # ImageNet mean/std, or pixels / 255
    cache: bool = True             # decode once, cache at training resolution
    max_images: Optional[PositiveInt] = None  # cap for quick trials
    num_workers: NonNegativeInt = 0  # DataLoader workers
    train_fraction: OpenUnitFloat = 1.0  # share of the training split used, sampled by patient (label efficiency)
    train_fraction_seed: Optional[NonNegativeInt] = None  # seed of that sample (None = the run's seed)
    curation_scope: Literal["train", "all"] = "train"  # curation changes training images only, or every split
    allow_outside_paths: bool = False  # CSV lists: accept rows pointing outside the list's folder

    @field_validator("image_size", mode="before")
    @classmethod
    def _image_size(cls, value: Any) -> Any:
        return _pixels(value, allow_none=False)

    @field_validator("resize", mode="before")
    @classmethod
    def _resize(cls, value: Any) -> Any:
        return _pixels(value, allow_none=True)


@schema
class SplitConfig:
    """How images are divided into train / val / test."""

    mode: Literal["auto", "patient", "image", "dataset"] = "auto"  # auto: patient-level when ids are known
    ratios: SplitRatios = field(default_factory=lambda: [0.7, 0.15, 0.15])
    k_folds: NonNegativeInt = 0     # >1: k-fold cross-validation, use fold `fold`
    fold: NonNegativeInt = 0
    file: Optional[str] = None      # reuse an existing split.json
    seed: NonNegativeInt = 0        # the split's own seed: runs with other init seeds keep the same test set
    group_by: Literal["case", "slide"] = "case"  # BreaKHis: group a patient's slides (case) or each slide
    allow_no_test: bool = False     # an empty test split is an error unless allowed
    allow_transductive: bool = False  # evaluate on test images a pretrained SSL encoder saw (run is marked)

    @model_validator(mode="after")
    def _fold(self) -> "SplitConfig":
        if self.k_folds == 1:
            raise ValueError("k_folds must be 0 (no cross-validation) or at least 2")
        if self.k_folds > 1 and self.fold >= self.k_folds:
            raise ValueError(f"fold {self.fold} does not exist; choose 0 to {self.k_folds - 1}")
        return self


@schema
class ModelConfig:
    """Which model from the registry and how to initialise it."""

    name: str = "resnet18"
    pretrained: str = "none"       # "none", "imagenet", or a local weights file
    head_hidden: Optional[PositiveInt] = None  # hidden width of an MLP head (None = linear)
    dropout: HalfOpenUnitFloat = 0.0
    binary_single_logit: bool = True  # one logit + BCE for 2 classes


@schema
class AugmentConfig:
    """Training-time augmentations (S1-S3); zero/False disables each."""

    rotation: Degrees = 0.0          # max degrees
    shift: ShiftFraction = 0.0            # max fraction of width/height
    zoom: ShiftFraction = 0.0             # max fraction
    hflip: bool = False
    vflip: bool = False
    rot90: bool = False                     # random multiples of 90 degrees
    color_jitter: Probability = 0.0        # brightness/contrast/saturation strength
    hue: HueShift = 0.0
    random_resized_crop: bool = False
    crop_scale: list[OpenUnitFloat] = field(default_factory=lambda: [0.6, 1.0])
    random_crop: bool = False               # plain random crop of image_size from resize
    random_erasing: Probability = 0.0       # probability
    blur: Probability = 0.0                 # probability of Gaussian blur

    @field_validator("crop_scale")
    @classmethod
    def _crop_scale(cls, value: list[float]) -> list[float]:
        if len(value) != 2 or value[0] > value[1]:
            raise ValueError("must be [min, max] with 0 < min <= max <= 1, e.g. [0.6, 1.0]")
        return value


@schema
class OptimConfig:
    """Optimizer settings."""

    name: Literal["adam", "adamw", "sgd"] = "adam"
    lr: PositiveFiniteFloat = 1e-3          # head learning rate (and backbone if unset)
    backbone_lr: Optional[NonNegativeFiniteFloat] = None
    weight_decay: NonNegativeFiniteFloat = 0.0
    momentum: HalfOpenUnitFloat = 0.9


@schema
class ScheduleConfig:
    """Learning-rate schedule."""

    name: Literal["none", "plateau", "step", "cosine"] = "none"
    monitor: Monitor = "val_loss"           # plateau: metric to watch
    factor: HalfOpenUnitFloat = 0.5
    patience: NonNegativeInt = 3
    min_lr: NonNegativeFiniteFloat = 1e-6
    step_size: PositiveInt = 7
    gamma: OpenUnitFloat = 0.1


@schema
class LossConfig:
    """Loss settings."""

    class_weights: Optional[Literal["none", "balanced"]] = None  # None or "balanced"
    label_smoothing: HalfOpenUnitFloat = 0.0


@schema
class EarlyStoppingConfig:
    """Early stopping; disabled when patience is 0."""

    monitor: Monitor = "val_loss"
    patience: NonNegativeInt = 0
    min_epochs: NonNegativeInt = 0
    restore_best: bool = True


@schema
class EvaluationConfig:
    """How evaluated figures are made trustworthy: intervals, calibration and the decision threshold.

    Temperature and threshold are fitted on the validation split only and
    applied unchanged to test, external evaluations and prediction.
    """

    n_bootstrap: Annotated[int, Field(ge=0, le=100_000)] = 1000  # patient-level bootstrap replicates (0 = off)
    ci_level: Annotated[float, Field(gt=0.5, lt=1, allow_inf_nan=False)] = 0.95
    bootstrap_seed: NonNegativeInt = 0
    temperature_scaling: bool = True        # fit a temperature on val (Guo et al. 2017)
    threshold: ThresholdMethod = "argmax"  # binary decision rule fitted on val
    target_sensitivity: Probability = 0.9   # for threshold = "sensitivity"


@schema
class PhaseConfig:
    """One training phase: which layers train, for how long, at which lrs."""

    epochs: PositiveInt
    trainable: Any = "all"                  # "head", "all", or {"last": N} / per-backbone dict
    lr: Optional[PositiveFiniteFloat] = None  # head lr (None = optim.lr)
    backbone_lr: Optional[NonNegativeFiniteFloat] = None  # 0 = backbone frozen in this phase
    name: str = ""


@schema
class TrainConfig:
    """Everything a training run needs."""

    name: str = ""
    seed: NonNegativeInt = 0                # initialisation and shuffling (the split has its own seed)
    epochs: PositiveInt = 10
    batch_size: PositiveInt = 32
    sampler: Literal["none", "weighted"] = "none"  # "weighted": WeightedRandomSampler
    amp: Literal["auto", "on", "off"] = "auto"     # mixed precision: auto = on CUDA
    grad_clip: Optional[PositiveFiniteFloat] = None
    # Recompute BatchNorm statistics after each epoch (auto: when an epoch has < 100 batches).
    precise_bn: Literal["auto", "on", "off"] = "auto"
    device: DeviceName = "auto"
    deterministic: bool = True
    runs_dir: Optional[str] = None
    preset: Optional[str] = None
    data: DataConfig = field(default_factory=DataConfig)
    split: SplitConfig = field(default_factory=SplitConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    early_stopping: EarlyStoppingConfig = field(default_factory=EarlyStoppingConfig)
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)
    phases: list[PhaseConfig] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form for config.json."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainConfig":
        """Build and validate a config from a (possibly partial, nested) dict; ConfigError names each bad field."""
        return validate(cls, data, "config")

    def total_epochs(self) -> int:
        """Epochs over all phases (or ``epochs`` when there are no phases)."""
        return sum(p.epochs for p in self.phases) if self.phases else self.epochs

    def notes(self) -> list[str]:
        """Warnings about settings that are valid but probably not what the user wants."""
        out = []
        if self.sampler == "weighted" and self.loss.class_weights == "balanced":
            out.append("The weighted sampler and 'balanced' class weights both correct the class imbalance, so "
                       "it is corrected twice (the minority class ends up over-weighted, the prior inverted); "
                       "use one of them.")
        return out


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Recursively merge ``override`` into a copy of ``base`` (lists replace)."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def scale_phases(phases: list[dict[str, Any]], epochs: int) -> list[dict[str, Any]]:
    """Share exactly ``epochs`` epochs among ``phases`` in proportion (largest remainder; each phase >= 1).

    With fewer epochs than phases, the last phases are dropped so the total is still ``epochs``.
    """
    if epochs < 1:
        raise ConfigError(f"--epochs must be at least 1, got {epochs}.")
    phases = [dict(p) for p in phases][:epochs]
    total = sum(int(p.get("epochs", 1)) for p in phases) or 1
    exact = [int(p.get("epochs", 1)) * epochs / total for p in phases]
    counts = [max(1, int(x)) for x in exact]
    order = sorted(range(len(phases)), key=lambda i: exact[i] - int(exact[i]), reverse=True)
    i = 0
    while sum(counts) != epochs:
        j = order[i % len(order)]
        if sum(counts) < epochs:
            counts[j] += 1
        elif counts[j] > 1:
            counts[j] -= 1
        i += 1
    for p, n in zip(phases, counts):
        p["epochs"] = n
    return phases


def build_config(preset: str | None = None, *overrides: dict[str, Any], epochs: int | None = None) -> TrainConfig:
    """Defaults, then a preset, then each override dict merged in order, validated once.

    ``epochs`` (the CLI's ``--epochs``) sets the total: on a phased recipe it is shared
    among the phases so that exactly that many epochs run.
    """
    from engine.presets import preset_dict

    data: dict[str, Any] = preset_dict("train", preset) if preset else {}
    for ov in overrides:
        data = deep_merge(data, ov)
    if epochs is not None:
        if data.get("phases"):
            data["phases"] = scale_phases(data["phases"], epochs)
        data["epochs"] = epochs
    return TrainConfig.from_dict(data)
