"""Small builders shared by the tests (tiny datasets and configs, folder snapshots)."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

from engine.training.config import TrainConfig


def tiny_demo(root: Path, patients_per_class: int = 3, images: int = 3) -> Path:
    """A tiny seeded demo dataset (BreaKHis layout) under ``root``."""
    from engine.data.demo import generate_demo

    return generate_demo(root / "demo", patients_per_class=patients_per_class, magnifications=("40X", "100X"),
                         images_per_patient_mag=images, size=(64, 48), seed=0)


def tiny_config(data_root: Path, runs: Path, **overrides) -> TrainConfig:
    """A config that trains the basic CNN at 32 px for a couple of epochs."""
    base = {
        "name": "tiny", "seed": 1, "epochs": 2, "batch_size": 8, "runs_dir": str(runs),
        "data": {"path": str(data_root), "image_size": 32, "normalize": "unit"},
        "model": {"name": "basic_cnn", "pretrained": "none", "head_hidden": 16},
        "augment": {"hflip": True, "rotation": 10},
    }
    from engine.training.config import deep_merge

    return TrainConfig.from_dict(deep_merge(base, overrides))


def tree_digest(folder: Path) -> dict:
    """Every entry under ``folder`` (by its relative path's bytes) with the SHA-256 of its bytes; other entries
    (folders, FIFOs...) by their kind only, as reading a FIFO would block. Equal before and after: untouched."""
    out = {}
    for p in sorted(folder.rglob("*")):
        mode = os.lstat(p).st_mode
        out[os.fsencode(p.relative_to(folder))] = (hashlib.sha256(p.read_bytes()).hexdigest()
                                                    if stat.S_ISREG(mode) else stat.S_IFMT(mode))
    return out


def pretrain_cancelled_after_first_epoch(cfg: dict, runs_dir: Path):
    """``pretrain(cfg)`` into ``runs_dir``, cancelled (by its token, from the progress callback) once its
    first epoch is reported; returns the cancelled run."""
    from engine.jobs import CancelToken
    from engine.ssl.job import pretrain

    token = CancelToken()

    def cancel_after_first_epoch(event):
        if event.stage == "epoch" and event.step == 1:
            token.cancel()

    return pretrain(dict(cfg, runs_dir=str(runs_dir)), progress=cancel_after_first_epoch, cancel=token)
