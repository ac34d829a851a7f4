"""Label-efficiency studies: accuracy / AUC against the fraction of training labels (S1).

For every encoder initialisation (``ssl``: an SSL run's encoder, ``random``,
``imagenet`` when its weights are available) and every label fraction, one
ordinary training run (probe or fine-tune) uses ``data.train_fraction`` of the
training split, drawn by whole patients with every class kept; ``draws``
patient samples per fraction (a different ``train_fraction_seed`` each) give
error bars, and ``steps`` gives every run the same budget of optimiser steps
(epochs derived from it and recorded). All runs share one ``split.json`` (on
the SSL run's own dataset, that run's split, whose test images its encoder
never saw), so val and test are the same images for every row; a split whose
test images the SSL encoder saw is refused unless ``allow_transductive``. The
"random" arm is a randomly initialised encoder with non-zero residual
branches (see :mod:`engine.models.backbones`).

This is the ``label_efficiency`` kind of study (:mod:`engine.studies`) on the
same runner: :func:`label_efficiency` turns the settings into a
:class:`~engine.studies.config.StudyConfig` with one recipe per encoder, so
the study folder ``<runs_dir>/studies/<id>/`` (``config.json``,
``split.json``, ``results.json``, ``runs/``) can be resumed with
``python main.py study --resume``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import field
from pathlib import Path
from typing import Any, Literal, Optional

from pydantic import model_validator

from engine.errors import ConfigError
from engine.jobs import CancelToken, ProgressFn, null_progress
from engine.schema import NonNegativeInt, OpenUnitFloat, PositiveInt, schema, validate
from engine.training.config import deep_merge

ENCODERS = ("ssl", "random", "imagenet")
_PRETRAINED = {"random": "none", "imagenet": "imagenet"}


@schema
class LabelEfficiencyConfig:
    """What a label-efficiency study trains."""

    dataset: str = ""
    ssl_run: Optional[str] = None
    encoders: list[Literal["ssl", "random", "imagenet"]] = field(default_factory=lambda: ["ssl", "random", "imagenet"])
    fractions: list[OpenUnitFloat] = field(default_factory=lambda: [0.01, 0.1, 0.25, 1.0])
    mode: Literal["finetune", "probe"] = "finetune"
    epochs: PositiveInt = 10
    frozen_epochs: NonNegativeInt = 0
    base: dict[str, Any] = field(default_factory=dict)  # TrainConfig overrides for every run
    seed: NonNegativeInt = 0
    runs_dir: Optional[str] = None
    name: str = ""
    allow_transductive: bool = False  # the SSL encoder may have seen the test images (rows are marked)
    draws: PositiveInt = 3            # patient samples per fraction below 1 (3 or more give error bars)
    steps: Optional[PositiveInt] = None  # optimiser steps per run (epochs derived); None: ``epochs`` each

    @model_validator(mode="after")
    def _frozen_below_epochs(self) -> "LabelEfficiencyConfig":
        if self.mode == "finetune" and self.frozen_epochs >= self.epochs:
            raise ValueError(f"frozen_epochs ({self.frozen_epochs}) must be below epochs ({self.epochs}): "
                             "the encoder can be frozen for fewer epochs than the run has")
        return self

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form for the study's config.json."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "LabelEfficiencyConfig":
        """Build and validate a study config; ConfigError when a setting cannot work."""
        cfg = validate(cls, dict(data or {}), "label_efficiency")
        cfg.fractions = sorted(float(f) for f in cfg.fractions)
        if not cfg.fractions or not cfg.encoders:
            raise ConfigError("A label-efficiency study needs at least one label fraction and one encoder.")
        if "ssl" in cfg.encoders and not cfg.ssl_run:
            raise ConfigError("The 'ssl' encoder needs an SSL run (ssl_run).")
        if not cfg.dataset:
            raise ConfigError("Choose a labelled dataset for the study.")
        return cfg


def study_config(cfg: LabelEfficiencyConfig):
    """The study this label-efficiency config describes: one recipe per encoder, fractions x draws."""
    from engine.studies.config import StudyConfig

    base = dict(cfg.base)
    data, split = dict(base.pop("data", None) or {}), dict(base.pop("split", None) or {})
    seed = base.pop("seed", cfg.seed)
    importer, max_images = data.pop("importer", "auto"), data.pop("max_images", None)  # the study's catalog
    study_split = {k: split.pop(k) for k in ("mode", "ratios", "seed", "group_by", "file") if k in split}
    split["allow_transductive"] = split.get("allow_transductive", cfg.allow_transductive)
    overrides = deep_merge(base, {"data": data, "split": split})
    recipes = []
    for encoder in cfg.encoders:
        mine = overrides if encoder == "ssl" else deep_merge(overrides, {"model": {"pretrained": _PRETRAINED[encoder]}})
        if cfg.ssl_run:
            recipes.append({"name": encoder, "ssl_run": cfg.ssl_run, "downstream": cfg.mode,
                            "downstream_epochs": cfg.epochs, "frozen_epochs": cfg.frozen_epochs, "overrides": mine})
        else:
            from engine.ssl.downstream import downstream_phases

            phases = downstream_phases(cfg.mode, cfg.epochs, cfg.frozen_epochs, 1e-3, 1e-4)
            recipes.append({"name": encoder, "overrides": deep_merge({"epochs": cfg.epochs, "phases": phases}, mine)})
    return StudyConfig.from_dict({
        "kind": "label_efficiency", "name": cfg.name or f"label-efficiency-{cfg.mode}", "dataset": cfg.dataset,
        "importer": importer, "max_images": max_images, "recipes": recipes,
        "seeds": [seed], "split": study_split, "fractions": cfg.fractions, "draws": cfg.draws, "steps": cfg.steps,
        "runs_dir": cfg.runs_dir})


def label_efficiency(config: LabelEfficiencyConfig | dict, *, progress: ProgressFn = null_progress,
                     cancel: CancelToken | None = None) -> dict:
    """Run the study; returns (and writes to results.json) ``{"rows": [...], "skipped": [...], "path", ...}``.

    Rows carry ``encoder``, ``fraction``, ``draw``, ``n_train_images``, ``accuracy``, ``roc_auc``, ``f1``,
    ``epochs`` and optimiser steps; :func:`study_plot_data` / ``engine.studies.error_bars`` average the draws.
    """
    from engine.studies import run_study

    cfg = config if isinstance(config, LabelEfficiencyConfig) else LabelEfficiencyConfig.from_dict(config)
    results = run_study(study_config(cfg), progress=progress, cancel=cancel)
    results.setdefault("mode", cfg.mode)
    return results


def load_study(path: str | Path) -> dict:
    """A study's results.json (``path``: the study folder or the file), with ``"path"`` set to its folder."""
    from engine.studies import load_study as load

    return load(path)


def study_plot_data(results: dict) -> dict[str, dict[str, tuple[list[float], list]]]:
    """``{encoder: {"accuracy": (fractions, means), "roc_auc": ..., "f1": ...}}`` over the draws, fractions
    ascending (``engine.studies.error_bars`` adds the standard deviations)."""
    from engine.studies import plot_data

    return plot_data(results)


def format_study_table(results: dict) -> str:
    """Accuracy (mean +- std over draws) / AUC by fraction (columns) and encoder (rows), as aligned text."""
    from engine.studies import format_study_table as table

    return table(results)
