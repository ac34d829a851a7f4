"""Expanding a study into cells (recipe x seed x fold, or x fraction x draw) and each cell into run configs.

Every run of a study uses the study's dataset, catalog and split file (one per
fold), so their test sets are exactly the ones the study planned; the
initialisation seed is the cell's, the split seed the study's. Run folders are
named after the cell (``<recipe>-s<seed>[-f<fold>][-<fraction>-d<draw>]``),
so a resumed study finds them again.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.errors import ConfigError, HistoDeskError
from engine.studies.config import RecipeConfig, StudyConfig
from engine.training.config import SplitConfig, TrainConfig, build_config, deep_merge, scale_phases


@dataclass(frozen=True)
class Cell:
    """One run of a study's grid."""

    recipe: str
    seed: int
    fold: int | None = None       # k-fold: the test fold
    fraction: float | None = None  # label efficiency: share of the training labels
    draw: int | None = None        # label efficiency: which patient sample (its train_fraction_seed)

    @property
    def key(self) -> str:
        """A stable id, e.g. ``basic-cnn/s0/f2`` or ``ssl/s0/0.1/d1``."""
        parts = [self.recipe, f"s{self.seed}"]
        if self.fold is not None:
            parts.append(f"f{self.fold}")
        if self.fraction is not None:
            parts.append(f"{self.fraction:g}")
        if self.draw is not None:
            parts.append(f"d{self.draw}")
        return "/".join(parts)

    @property
    def run_name(self) -> str:
        """The run folder's name under the study's ``runs/``."""
        return self.key.replace("/", "-")

    @property
    def ssl_run_name(self) -> str:
        """The folder of the SSL pretraining a pipeline cell starts from (shared by fractions and draws)."""
        fold = f"-f{self.fold}" if self.fold is not None else ""
        return f"{self.recipe}-ssl-s{self.seed}{fold}"

    @property
    def label(self) -> str:
        """Human-readable, e.g. ``basic-cnn seed 0 fold 2``."""
        text = f"{self.recipe} seed {self.seed}"
        if self.fold is not None:
            text += f" fold {self.fold}"
        if self.fraction is not None:
            text += f" {self.fraction:.0%} labels" + (f" draw {self.draw}" if self.draw is not None else "")
        return text


def expand(cfg: StudyConfig) -> list[Cell]:
    """The study's cells in run order: recipe-major, then seed, fold, fraction (ascending), draw.

    At a fraction of 1 every draw would train on the same images, so it gets one draw.
    """
    folds = list(range(cfg.folds)) if cfg.kind == "kfold" else [None]
    le = cfg.kind == "label_efficiency"
    cells: list[Cell] = []
    for recipe in cfg.recipes:
        for seed in cfg.seeds:
            for fold in folds:
                for fraction in (cfg.fractions if le else [None]):
                    draws = range(cfg.draws) if le and fraction is not None and fraction < 1.0 else [None]
                    cells.extend(Cell(recipe.name, seed, fold, fraction, d) for d in draws)
    return cells


def recipe(cfg: StudyConfig, name: str) -> RecipeConfig:
    """The recipe called ``name``."""
    return next(r for r in cfg.recipes if r.name == name)


def split_config(cfg: StudyConfig, fold: int | None = None) -> SplitConfig:
    """The training SplitConfig of the study (of fold ``fold`` for a k-fold study)."""
    s = cfg.split
    return SplitConfig(mode=s.mode, ratios=list(s.ratios), seed=s.seed, group_by=s.group_by, file=s.file,
                       k_folds=cfg.folds if fold is not None else 0, fold=fold or 0)


def inherited_split_file(cfg: StudyConfig) -> str | None:
    """The split.json of an ``ssl_run`` recipe's SSL run when it pretrained on the study's dataset (its test
    images are the ones that encoder never saw), else None."""
    from engine.ssl.downstream import shared_split, ssl_source

    for r in cfg.recipes:
        if r.kind == "ssl_run" and r.ssl_run:
            found = shared_split(r.ssl_run, ssl_source(r.ssl_run)[0], cfg.dataset)
            if found is not None:
                return str(found)
    return None


def split_file_name(fold: int | None) -> str:
    """``split.json``, or ``splits/fold-<i>.json`` for a k-fold study."""
    return "split.json" if fold is None else f"splits/fold-{fold}.json"


def _forced(cfg: StudyConfig, cell: Cell, split_file: str | None, runs_dir: Path) -> dict[str, Any]:
    """The settings every training run of ``cell`` takes from the study (last override); ``split_file`` None
    (a check before the split exists) leaves ``split.file`` to the recipe."""
    data: dict[str, Any] = {"path": cfg.dataset, "importer": cfg.importer, "max_images": cfg.max_images}
    if cell.fraction is not None:
        data.update(train_fraction=cell.fraction, train_fraction_seed=cell.draw)
    if cfg.image_size:
        data["image_size"] = cfg.image_size
    split = split_config(cfg, cell.fold)
    out: dict[str, Any] = {
        "name": cell.run_name, "seed": cell.seed, "runs_dir": str(runs_dir), "data": data,
        "split": {"mode": split.mode, "ratios": split.ratios, "seed": split.seed, "group_by": split.group_by,
                  "k_folds": split.k_folds, "fold": split.fold}}
    if split_file is not None:
        out["split"]["file"] = split_file
    out.update({k: v for k, v in (("batch_size", cfg.batch_size), ("device", cfg.device)) if v})
    return out


def train_config(cfg: StudyConfig, cell: Cell, *, split_file: str | None, runs_dir: Path, epochs: int | None = None,
                 ssl_run: str | Path | None = None) -> TrainConfig:
    """The TrainConfig of ``cell``: its recipe's preset or downstream config, the study's overrides, then the
    study's data, split and seed. ``epochs`` (a step budget's) beats the study's ``epochs``."""
    r = recipe(cfg, cell.recipe)
    epochs = epochs or cfg.epochs
    overrides = deep_merge(deep_merge(r.overrides, cfg.overrides), _forced(cfg, cell, split_file, runs_dir))
    if r.kind == "train":
        return build_config(r.preset, overrides, epochs=epochs)
    from engine.ssl.downstream import downstream_config

    total, frozen = epochs or r.downstream_epochs, r.frozen_epochs
    if epochs and frozen:  # the frozen share kept, as a preset's phases are (build_config's scale_phases)
        shares = [{"epochs": frozen}, {"epochs": max(1, r.downstream_epochs - frozen)}]
        frozen = scale_phases(shares, total)[0]["epochs"]
    encoder = ssl_run or r.ssl_run
    if not encoder:
        raise ConfigError(f"Recipe '{r.name}' fine-tunes an SSL run but names none (ssl_run).")
    return downstream_config(encoder, cfg.dataset, mode=r.downstream, epochs=total,
                             frozen_epochs=min(frozen, total - 1), **overrides)


def ssl_config(cfg: StudyConfig, cell: Cell, *, split_file: str | None, runs_dir: Path):
    """The SSLConfig pretraining the encoder of pipeline ``cell``: on the study's dataset with the study's
    split file and ``scope="train"`` (the encoder never sees val or test images of that split)."""
    from engine.ssl.config import build_ssl_config

    r = recipe(cfg, cell.recipe)
    forced = _forced(cfg, cell, split_file, runs_dir)
    data = {k: v for k, v in forced["data"].items() if not k.startswith("train_fraction")}
    ssl = {"name": cell.ssl_run_name, "seed": cell.seed, "runs_dir": str(runs_dir), "data": data,
           "split": forced["split"], "scope": "train"}
    ssl.update({k: v for k, v in (("epochs", cfg.epochs), ("batch_size", cfg.batch_size), ("device", cfg.device))
                if v})
    return build_ssl_config(r.ssl_preset, r.ssl, cfg.ssl_overrides, ssl)


def check_recipes(cfg: StudyConfig, runs_dir: Path) -> None:
    """Build every recipe's configs once (fold 0, first seed) so a bad preset or override fails before any
    folder exists; ConfigError / HistoDeskError naming the recipe."""
    fraction = cfg.fractions[0] if cfg.kind == "label_efficiency" else None
    for r in cfg.recipes:
        cell = Cell(r.name, cfg.seeds[0], 0 if cfg.kind == "kfold" else None, fraction)
        try:
            if r.kind == "ssl":
                ssl_config(cfg, cell, split_file=None, runs_dir=runs_dir)
                TrainConfig.from_dict(deep_merge(deep_merge(r.overrides, cfg.overrides),
                                                 _forced(cfg, cell, None, runs_dir)))
            else:
                train_config(cfg, cell, split_file=None, runs_dir=runs_dir)
        except HistoDeskError as exc:
            raise type(exc)(f"study recipe '{r.name}': {exc}") from None


def imagenet_problem(cfg: StudyConfig, name: str, runs_dir: Path) -> str | None:
    """Why recipe ``name`` cannot have the ImageNet weights it asks for (a model that has none), else None.

    Weights that exist but are not cached are tried when the run starts (their download may work); a
    :class:`~engine.errors.WeightsUnavailableError` then skips the recipe the same way.
    """
    from engine.models.weights import unavailable_message, weights_status

    r = recipe(cfg, name)
    if r.kind == "ssl":
        s = ssl_config(cfg, Cell(name, cfg.seeds[0]), split_file=None, runs_dir=runs_dir)
        model, pretrained = s.backbone, s.pretrained
    else:
        c = train_config(cfg, Cell(name, cfg.seeds[0]), split_file=None, runs_dir=runs_dir)
        model, pretrained = c.model.name, c.model.pretrained
    if pretrained != "imagenet":
        return None
    status = weights_status(model)
    return unavailable_message(model) if not status.available and status.source == "none" else None


def batches_per_epoch(n_images: int, batch_size: int, sampler: str = "none") -> int:
    """Optimiser steps per epoch of the training loader (build_run_data: drop_last when there is more than
    one batch, except with the weighted sampler)."""
    if n_images <= 0:
        raise ConfigError("The training split is empty: no optimiser steps can be taken.")
    if sampler == "weighted" or n_images <= batch_size:
        return -(-n_images // batch_size)
    return n_images // batch_size


def epochs_for_steps(steps: int, batches: int) -> int:
    """Whole epochs closest to ``steps`` optimiser steps without exceeding them (at least one epoch)."""
    return max(1, steps // batches)
