"""Turn CLI flags and ``--set key.path=value`` pairs into config override dicts."""

from __future__ import annotations

from typing import Any

import yaml

from engine.errors import ConfigError


def parse_set(pairs: list[str] | None) -> dict[str, Any]:
    """``["optim.lr=1e-4", "augment.hflip=true"]`` -> nested dict (values as YAML)."""
    out: dict[str, Any] = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise ConfigError(f"--set expects key=value, got '{pair}'.")
        key, raw = pair.split("=", 1)
        value = yaml.safe_load(raw) if raw else ""
        node = out
        parts = key.strip().split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return out


#: train flag -> path in the training config.
TRAIN_FLAGS = {
    "data": ("data", "path"), "importer": ("data", "importer"), "image_size": ("data", "image_size"),
    "max_images": ("data", "max_images"), "workers": ("data", "num_workers"),
    "model": ("model", "name"), "pretrained": ("model", "pretrained"),
    "split_mode": ("split", "mode"), "k_folds": ("split", "k_folds"), "fold": ("split", "fold"),
    "split_file": ("split", "file"), "split_seed": ("split", "seed"), "group_by": ("split", "group_by"),
    "lr": ("optim", "lr"),
    "epochs": ("epochs",), "batch_size": ("batch_size",), "seed": ("seed",), "device": ("device",),
    "runs_dir": ("runs_dir",), "name": ("name",),
}


def flags_to_overrides(args, mapping: dict[str, tuple[str, ...]] | None = None) -> dict[str, Any]:
    """The flags given on the command line (``mapping``: flag -> config path; train flags by default)
    as a nested override dict."""
    out: dict[str, Any] = {}
    for attr, path in (TRAIN_FLAGS if mapping is None else mapping).items():
        value = getattr(args, attr, None)
        if value is None:
            continue
        node = out
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = value
    if mapping is None and getattr(args, "ratios", None):
        out.setdefault("split", {})["ratios"] = parse_ratios(args.ratios)
    return out


def parse_ratios(text: str) -> list[float]:
    """'70/15/15' or '0.7,0.15,0.15' -> [0.7, 0.15, 0.15]."""
    parts = [p for p in text.replace(",", "/").split("/") if p.strip()]
    try:
        values = [float(p) for p in parts]
    except ValueError as exc:
        raise ConfigError(f"Ratios must be numbers like 70/15/15, got '{text}'.") from exc
    if len(values) != 3:
        raise ConfigError(f"Give three ratios train/val/test, got '{text}'.")
    total = sum(values)
    return [v / total for v in values] if total > 1.5 else values
