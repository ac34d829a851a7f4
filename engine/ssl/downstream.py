"""From an SSL run to a classifier: linear probe or fine-tuning (S1, S4).

``downstream_config(ssl_run, dataset, mode="probe")`` returns an ordinary
:class:`~engine.training.config.TrainConfig` whose model starts from the SSL
run's ``encoder.safetensors`` (recorded in ``model.pretrained`` of the new
run's config.json), so the usual ``engine.training.job.train`` runs it and the
run shows in the Runs list like any other.

* ``probe``: the encoder stays frozen, only a linear head trains (lr = the
  method's ``probe_lr``; S4 "linear evaluation").
* ``finetune``: the head alone for ``frozen_epochs`` (lr ``probe_lr``), then
  every layer for the rest (lr ``finetune_lr``), as S1's "optionally freeze
  the encoder for the first epochs, fine-tune with BCE".

On the dataset the SSL run pretrained on, the run's ``split.json`` (the
downstream split whose training part the encoder saw) becomes
``split.file``, so the probe tests on images the encoder never saw. A split
whose test images the encoder saw is refused unless ``allow_transductive``
(:mod:`engine.ssl.exposure`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine.errors import ConfigError, HistoDeskError
from engine.runs import Run
from engine.ssl.config import SSLConfig
from engine.training.config import TrainConfig, deep_merge

MODES = ("probe", "finetune")


def ssl_source(ssl_run_dir: str | Path) -> tuple[SSLConfig, Path]:
    """(the SSL run's config, its encoder.safetensors); HistoDeskError when it is not a usable SSL run."""
    run = Run.open(ssl_run_dir)
    if run.config.get("kind") != "ssl":
        raise HistoDeskError(f"{run.path} is not a self-supervised pretraining run; choose an SSL run folder.")
    encoder = run.file("encoder.safetensors")
    if not encoder.exists():
        raise HistoDeskError(f"{run.path} has no encoder.safetensors yet (it never finished); resume or finish "
                             "the pretraining first.")
    return SSLConfig.from_dict(run.config), encoder


def downstream_lrs(config: SSLConfig) -> tuple[float, float]:
    """(probe lr, fine-tune lr) of the run's method (S4's table; 1e-3 / 1e-4 when not given)."""
    hp = config.method_hparams()
    return float(hp.get("probe_lr", 1e-3)), float(hp.get("finetune_lr", 1e-4))


def downstream_phases(mode: str, epochs: int, frozen_epochs: int, probe_lr: float, finetune_lr: float) -> list[dict]:
    """The training phases of a probe or a fine-tune."""
    if mode not in MODES:
        raise ConfigError(f"Unknown downstream mode '{mode}'; use 'probe' or 'finetune'.")
    if epochs < 1:
        raise ConfigError("Downstream training needs at least one epoch.")
    if mode == "probe":
        return [{"epochs": epochs, "trainable": "head", "lr": probe_lr, "name": "linear probe"}]
    if not 0 <= frozen_epochs < epochs:
        raise ConfigError(f"frozen_epochs ({frozen_epochs}) must be at least 0 and below epochs ({epochs}).")
    phases: list[dict[str, Any]] = [
        {"epochs": frozen_epochs, "trainable": "head", "lr": probe_lr, "name": "frozen encoder"}]
    phases.append({"epochs": epochs - frozen_epochs, "trainable": "all", "lr": finetune_lr, "name": "fine-tune"})
    return [p for p in phases if p["epochs"] > 0]


def same_dataset(a: str, b: str) -> bool:
    """Whether two ``data.path`` values name the same dataset ("demo" is the built-in demo's folder)."""
    from engine.data.demo import demo_path

    def where(path: str) -> Path:
        return demo_path().resolve() if path == "demo" else Path(path).expanduser().resolve()

    return bool(a) and bool(b) and where(str(a)) == where(str(b))


def shared_split(ssl_run_dir: str | Path, ssl: SSLConfig, dataset_path: str) -> Path | None:
    """The SSL run's split.json when ``dataset_path`` is the dataset it pretrained on (and that file is a
    downstream train/val/test split), else None."""
    from engine.ssl.exposure import read_encoder_images

    run_dir = Path(ssl_run_dir)
    seen = read_encoder_images(run_dir)
    if not (seen and seen.get("downstream_split") and (run_dir / "split.json").exists()):
        return None
    return run_dir / "split.json" if same_dataset(ssl.data.path, str(dataset_path)) else None


def downstream_config(ssl_run_dir: str | Path, dataset_path: str, *, mode: str = "probe", frozen_epochs: int = 0,
                      epochs: int = 10, allow_transductive: bool = False, **overrides: Any) -> TrainConfig:
    """A TrainConfig that probes or fine-tunes the encoder of ``ssl_run_dir`` on labelled ``dataset_path``.

    ``overrides`` are merged last (nested dicts allowed: ``data={"train_fraction": 0.1}``, ``batch_size=16``).
    On the SSL run's own dataset its split.json is reused (``split.file``). ConfigError, before anything
    is scanned, when that split's test images were seen by the encoder and ``allow_transductive`` is False.
    """
    from engine.ssl.exposure import check_split_file_exposure

    ssl, encoder = ssl_source(ssl_run_dir)
    probe_lr, finetune_lr = downstream_lrs(ssl)
    base: dict[str, Any] = {
        "name": f"{mode}-{ssl.method}-{ssl.backbone}", "seed": ssl.seed, "epochs": epochs,
        "batch_size": ssl.batch_size, "device": ssl.device, "runs_dir": ssl.runs_dir,
        "data": {"path": str(dataset_path), "image_size": ssl.data.image_size, "normalize": ssl.data.normalize,
                 "resize": ssl.data.resize, "keep_aspect": ssl.data.keep_aspect},
        "model": {"name": ssl.backbone, "pretrained": str(Path(encoder).resolve())},
        "optim": {"name": "adamw", "lr": probe_lr if mode == "probe" else finetune_lr},  # S4: AdamW downstream
        "early_stopping": {"monitor": "val_loss", "patience": 10, "restore_best": True},  # S4: patience 10
        "phases": downstream_phases(mode, epochs, frozen_epochs, probe_lr, finetune_lr),
        "split": {"allow_transductive": bool(allow_transductive)},
    }
    split_file = shared_split(encoder.parent, ssl, dataset_path)
    if split_file is not None:  # the same images and cap as the pretraining, so the split covers them
        base["split"]["file"] = str(split_file)
        base["data"]["max_images"] = ssl.data.max_images
    config = TrainConfig.from_dict(deep_merge(base, overrides))
    check_split_file_exposure(config)
    return config
