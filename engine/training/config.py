"""Training configuration: nested dataclasses that round-trip through JSON.

A config holds everything needed to repeat a run, seed included. Presets for
the reference recipes (S1, S2, S3) are YAML files in ``resources/presets``
that override these defaults; see :func:`load_preset`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.errors import ConfigError
from engine.io_utils import load_config_file
from engine.paths import resources_dir


@dataclass
class DataConfig:
    """Which dataset, and how images become tensors."""

    path: str = ""                 # dataset folder or CSV; "demo" = built-in demo
    importer: str = "auto"         # importer registry name, or auto-detect
    image_size: int = 224          # network input size
    resize: int | None = None      # cache/resize size before cropping (None = image_size)
    keep_aspect: bool = False      # resize the shorter side instead of squashing
    normalize: str = "imagenet"    # "imagenet" or "unit" (pixels / 255)
    cache: bool = True             # decode once, cache at training resolution
    max_images: int | None = None  # cap for quick trials
    num_workers: int = 0           # DataLoader workers
    train_fraction: float = 1.0    # share of the training split used, sampled by patient (label efficiency)
    train_fraction_seed: int | None = None  # seed of that sample (None = the run's seed)


@dataclass
class SplitConfig:
    """How images are divided into train / val / test."""

    mode: str = "auto"             # "auto" (patient if known), "patient" or "image"
    ratios: list[float] = field(default_factory=lambda: [0.7, 0.15, 0.15])
    k_folds: int = 0               # >1: k-fold cross-validation, use fold `fold`
    fold: int = 0
    file: str | None = None        # reuse an existing split.json


@dataclass
class ModelConfig:
    """Which model from the registry and how to initialise it."""

    name: str = "resnet18"
    pretrained: str = "none"       # "none", "imagenet", or a local weights file
    head_hidden: int | None = None  # hidden width of an MLP head (None = linear)
    dropout: float = 0.0
    binary_single_logit: bool = True  # one logit + BCE for 2 classes


@dataclass
class AugmentConfig:
    """Training-time augmentations (S1-S3); zero/False disables each."""

    rotation: float = 0.0          # max degrees
    shift: float = 0.0             # max fraction of width/height
    zoom: float = 0.0              # max fraction
    hflip: bool = False
    vflip: bool = False
    rot90: bool = False            # random multiples of 90 degrees
    color_jitter: float = 0.0      # brightness/contrast/saturation strength
    hue: float = 0.0
    random_resized_crop: bool = False
    crop_scale: list[float] = field(default_factory=lambda: [0.6, 1.0])
    random_crop: bool = False      # plain random crop of image_size from resize
    random_erasing: float = 0.0    # probability
    blur: float = 0.0              # probability of Gaussian blur


@dataclass
class OptimConfig:
    """Optimizer settings."""

    name: str = "adam"             # adam, adamw, sgd
    lr: float = 1e-3               # head learning rate (and backbone if unset)
    backbone_lr: float | None = None
    weight_decay: float = 0.0
    momentum: float = 0.9


@dataclass
class ScheduleConfig:
    """Learning-rate schedule."""

    name: str = "none"             # none, plateau, step, cosine
    monitor: str = "val_loss"      # plateau: metric to watch
    factor: float = 0.5
    patience: int = 3
    min_lr: float = 1e-6
    step_size: int = 7
    gamma: float = 0.1


@dataclass
class LossConfig:
    """Loss settings."""

    class_weights: str | None = None  # None or "balanced"
    label_smoothing: float = 0.0


@dataclass
class EarlyStoppingConfig:
    """Early stopping; disabled when patience is 0."""

    monitor: str = "val_loss"
    patience: int = 0
    min_epochs: int = 0
    restore_best: bool = True


@dataclass
class EvaluationConfig:
    """How evaluated figures are made trustworthy: intervals, calibration and the decision threshold.

    Temperature and threshold are fitted on the validation split only and
    applied unchanged to test, external evaluations and prediction.
    """

    n_bootstrap: int = 1000        # patient-level bootstrap replicates for 95 % intervals
    ci_level: float = 0.95
    bootstrap_seed: int = 0
    temperature_scaling: bool = True  # fit a temperature on val (Guo et al. 2017)
    threshold: str = "argmax"      # binary decision rule fitted on val: argmax, youden or sensitivity
    target_sensitivity: float = 0.9  # for threshold = "sensitivity"


@dataclass
class PhaseConfig:
    """One training phase: which layers train, for how long, at which lrs."""

    epochs: int
    trainable: Any = "all"         # "head", "all", or {"last": N} / per-backbone dict
    lr: float | None = None        # head lr (None = optim.lr)
    backbone_lr: float | None = None
    name: str = ""


@dataclass
class TrainConfig:
    """Everything a training run needs."""

    name: str = ""
    seed: int = 0
    epochs: int = 10
    batch_size: int = 32
    sampler: str = "none"          # "none" or "weighted" (WeightedRandomSampler)
    amp: str = "auto"              # "auto" (on CUDA), "on", "off"
    grad_clip: float | None = None
    precise_bn: str = "auto"       # recompute BatchNorm stats after each epoch: auto (< 100 batches), on, off
    device: str = "auto"           # auto, cpu, cuda, mps
    deterministic: bool = True
    runs_dir: str | None = None
    preset: str | None = None
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
        """Build a config from a (possibly partial, nested) dict; unknown keys fail."""
        return _from_dict(cls, data, "config")

    def total_epochs(self) -> int:
        """Epochs over all phases (or ``epochs`` when there are no phases)."""
        return sum(p.epochs for p in self.phases) if self.phases else self.epochs


def _from_dict(cls, data: dict[str, Any], where: str):
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(data).__name__}.")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(data) - set(fields)
    if unknown:
        raise ConfigError(f"{where}: unknown setting(s) {sorted(unknown)}; valid: {sorted(fields)}.")
    kwargs = {}
    for name, value in data.items():
        sub = _NESTED.get((cls, name))
        if sub is PhaseConfig:
            value = [_from_dict(PhaseConfig, v, f"{where}.{name}[{i}]") for i, v in enumerate(value or [])]
        elif sub is not None:
            value = _from_dict(sub, value, f"{where}.{name}")
        kwargs[name] = value
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"{where}: {exc}") from exc


_NESTED = {
    (TrainConfig, "data"): DataConfig,
    (TrainConfig, "split"): SplitConfig,
    (TrainConfig, "model"): ModelConfig,
    (TrainConfig, "augment"): AugmentConfig,
    (TrainConfig, "optim"): OptimConfig,
    (TrainConfig, "schedule"): ScheduleConfig,
    (TrainConfig, "loss"): LossConfig,
    (TrainConfig, "early_stopping"): EarlyStoppingConfig,
    (TrainConfig, "evaluation"): EvaluationConfig,
    (TrainConfig, "phases"): PhaseConfig,
}


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Recursively merge ``override`` into a copy of ``base`` (lists replace)."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def presets_dir() -> Path:
    """Folder holding the recipe presets (YAML)."""
    return resources_dir() / "presets"


def preset_names() -> list[str]:
    """Names of the available presets, e.g. ``s1-basic-cnn``."""
    return sorted(p.stem for p in presets_dir().glob("*.yaml"))


def preset_dict(name: str) -> dict[str, Any]:
    """The raw settings of preset ``name`` (without its description)."""
    path = presets_dir() / f"{name}.yaml"
    if not path.exists():
        raise ConfigError(f"Unknown preset '{name}'. Available: {', '.join(preset_names())}.")
    data = load_config_file(path)
    data.pop("description", None)
    data["preset"] = name
    return data


def preset_description(name: str) -> str:
    """One-paragraph description of a preset, for menus and --help."""
    return str(load_config_file(presets_dir() / f"{name}.yaml").get("description", "")).strip()


def build_config(preset: str | None = None, *overrides: dict[str, Any]) -> TrainConfig:
    """Defaults, then a preset, then each override dict merged in order."""
    data: dict[str, Any] = preset_dict(preset) if preset else {}
    for ov in overrides:
        data = deep_merge(data, ov)
    return TrainConfig.from_dict(data)
