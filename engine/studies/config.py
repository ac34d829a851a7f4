"""The study schema: recipes x seeds x folds (or label fractions x draws), validated before anything runs.

A study names its *kind*:

* ``kfold``: patient-level k-fold cross-validation (``folds`` >= 2); every
  patient is tested exactly once across the folds;
* ``seeds``: repeated initialisation seeds on one split (``split.seed`` fixes
  the split, ``seeds`` the initialisations);
* ``label_efficiency``: label ``fractions`` x ``draws`` (a different patient
  sample, ``data.train_fraction_seed``, per draw), optionally with a budget of
  optimiser ``steps`` per run (epochs derived from it and recorded);
* ``auto`` (default): ``label_efficiency`` when fractions below 1 or ``steps``
  are given, else ``kfold`` when ``folds`` >= 2, else ``seeds``.

A recipe is a training preset (+ overrides), an "SSL then probe / fine-tune"
pipeline (``ssl_preset`` and/or ``ssl``: pretrain on the study split's train
images, then downstream on the same split) or a downstream run from an
existing SSL run (``ssl_run``). ``epochs``, ``image_size``, ``max_images``,
``batch_size`` and ``device`` apply to every run of the study (tiny trials);
``overrides`` / ``ssl_overrides`` are merged into every training / SSL config.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import field
from typing import Annotated, Any, Literal, Optional

from pydantic import Field, field_validator, model_validator

from engine.errors import ConfigError
from engine.options import DeviceName
from engine.schema import NonNegativeInt, OpenUnitFloat, PositiveInt, schema, validate
from engine.training.config import SplitRatios

KINDS = ("kfold", "seeds", "label_efficiency")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,47}")


@schema
class RecipeConfig:
    """One arm of a study: a training preset, or SSL pretraining followed by a probe or fine-tune."""

    name: str
    preset: Optional[str] = None          # training preset (resources/presets)
    overrides: dict[str, Any] = field(default_factory=dict)  # training-config overrides of this arm
    ssl_preset: Optional[str] = None      # SSL preset (resources/ssl_presets): pretrain first
    ssl: dict[str, Any] = field(default_factory=dict)        # SSL-config overrides of this arm
    ssl_run: Optional[str] = None         # or start from an existing SSL run's encoder (no pretraining)
    downstream: Literal["probe", "finetune"] = "probe"
    downstream_epochs: PositiveInt = 10
    frozen_epochs: NonNegativeInt = 0     # fine-tune: epochs training the head alone first

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.fullmatch(value):
            raise ValueError("use 1-48 letters, digits, '.', '_', '+' or '-' (it names the run folders)")
        return value

    @model_validator(mode="after")
    def _one_source(self) -> "RecipeConfig":
        if self.ssl_run and (self.ssl_preset or self.ssl):
            raise ValueError("give either ssl_run (an existing encoder) or ssl_preset/ssl (pretrain one), not both")
        if self.preset and self.kind != "train":
            raise ValueError("a training preset cannot start an SSL pipeline (its model is the SSL encoder); "
                             "put training settings in overrides")
        return self

    @property
    def kind(self) -> str:
        """``train`` (a training preset), ``ssl`` (pretrain then downstream) or ``ssl_run`` (downstream only)."""
        if self.ssl_run:
            return "ssl_run"
        return "ssl" if (self.ssl_preset or self.ssl) else "train"


@schema
class StudySplit:
    """The study's split: made once (one per fold), shared by every run."""

    mode: Literal["auto", "patient", "image"] = "auto"  # auto: patient-level when ids are known
    ratios: SplitRatios = field(default_factory=lambda: [0.7, 0.15, 0.15])  # k-fold: val share of the rest
    seed: NonNegativeInt = 0              # the split's own seed (runs' init seeds are ``seeds``)
    group_by: Literal["case", "slide"] = "case"
    file: Optional[str] = None            # reuse this split.json (not with folds); an ssl_run recipe's by default


@schema
class StudyConfig:
    """A grid of runs queued as one job."""

    kind: Literal["auto", "kfold", "seeds", "label_efficiency"] = "auto"
    name: str = ""
    description: str = ""
    preset: Optional[str] = None          # the study preset it came from (recorded)
    dataset: str = ""                     # labelled dataset folder or CSV, or "demo"
    importer: str = "auto"
    recipes: list[RecipeConfig] = field(default_factory=list)
    seeds: list[NonNegativeInt] = field(default_factory=lambda: [0])
    folds: NonNegativeInt = 0             # kfold: number of folds (>= 2)
    split: StudySplit = field(default_factory=StudySplit)
    fractions: list[OpenUnitFloat] = field(default_factory=lambda: [1.0])  # label efficiency
    draws: PositiveInt = 3                # label efficiency: patient samples per fraction (one at 100%)
    steps: Optional[PositiveInt] = None   # label efficiency: optimiser steps per run (epochs derived)
    epochs: Optional[PositiveInt] = None  # every run (training, SSL, downstream); a preset's phases share it
    image_size: Optional[Annotated[int, Field(ge=8, le=4096)]] = None
    max_images: Optional[PositiveInt] = None
    batch_size: Optional[PositiveInt] = None
    device: Optional[DeviceName] = None
    overrides: dict[str, Any] = field(default_factory=dict)      # every training / downstream config
    ssl_overrides: dict[str, Any] = field(default_factory=dict)  # every SSL pretraining config
    runs_dir: Optional[str] = None

    @field_validator("fractions")
    @classmethod
    def _fractions(cls, value: list[float]) -> list[float]:
        if not value:
            raise ValueError("give at least one label fraction")
        return sorted(dict.fromkeys(float(f) for f in value))

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, value: list[int]) -> list[int]:
        if not value:
            raise ValueError("give at least one seed")
        return list(dict.fromkeys(value))

    @model_validator(mode="after")
    def _resolve_kind(self) -> "StudyConfig":
        if self.kind == "auto":
            le = self.steps is not None or any(f < 1.0 for f in self.fractions)
            self.__dict__["kind"] = "label_efficiency" if le else "kfold" if self.folds else "seeds"
        return self

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form for the study's config.json."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "StudyConfig":
        """Build and validate a study; ConfigError names each bad field (nothing is written before)."""
        cfg = validate(cls, dict(data or {}), "study")
        if cfg.folds == 1 or (cfg.kind == "kfold" and cfg.folds < 2):
            raise ConfigError(f"study.folds: got {cfg.folds}; k-fold cross-validation needs at least 2 folds.")
        if cfg.kind == "kfold" and cfg.split.file:
            raise ConfigError("study.split.file: a kfold study makes its own folds; remove split.file.")
        if cfg.kind != "kfold" and cfg.folds:
            raise ConfigError(f"study.folds: only a kfold study has folds (this one is '{cfg.kind}').")
        if cfg.kind != "label_efficiency" and (cfg.steps is not None or cfg.fractions != [1.0]):
            raise ConfigError(f"study.fractions / study.steps: only a label_efficiency study has them (this one is "
                              f"'{cfg.kind}').")
        names = [r.name for r in cfg.recipes]
        if len(set(names)) != len(names):
            raise ConfigError(f"study.recipes: recipe names must be unique, got {names}.")
        if not cfg.recipes:
            raise ConfigError("study.recipes: a study needs at least one recipe (a preset or an SSL pipeline).")
        if not cfg.dataset:
            raise ConfigError("study.dataset: choose a labelled dataset (folder, CSV or 'demo').")
        return cfg
