"""Self-supervised pretraining configuration: :class:`SSLConfig`.

Like :class:`engine.training.config.TrainConfig` it round-trips through JSON
(``config.json`` of an SSL run, with ``"kind": "ssl"``). Method
hyper-parameters (``hparams``) override the method's defaults (registry meta
``"defaults"``, i.e. the ``DEFAULTS`` of S4's table); :meth:`SSLConfig.method_hparams`
gives the merged dict.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from engine.errors import ConfigError
from engine.training.config import DataConfig, _from_dict


@dataclass
class DeepClusterConfig:
    """DeepCluster settings (Caron et al. 2018; methods.md S5)."""

    k: int = 200                   # clusters (S5: 200); clipped to n_images // 2 for tiny data
    pca_dim: int = 256             # PCA (whitened) dimension; clipped to min(n, feature_dim)
    whiten: bool = True
    reassign_every: int = 1        # epochs between re-clusterings (paper: every epoch)
    uniform_sampling: bool = True  # sample images uniformly over clusters (paper)
    kmeans_iters: int = 20
    kmeans_device: str = "auto"    # "auto" (GPU when available, CPU fallback), "cpu"


@dataclass
class SSLConfig:
    """Everything a self-supervised pretraining run needs."""

    kind: str = "ssl"
    name: str = ""
    seed: int = 0
    method: str = "simclr"         # "ssl" registry name: simclr, byol, dino, mocov3, deepcluster
    backbone: str = "resnet18"     # model registry name of the encoder
    pretrained: str = "none"       # encoder initialisation: none, imagenet or a weights file
    in_chans: int = 3
    hparams: dict[str, Any] = field(default_factory=dict)  # overrides of the method's defaults
    epochs: int = 100
    batch_size: int = 32
    schedule: str = "cosine"       # "cosine" (per step, after warmup) or "none"
    warmup_epochs: int = 0
    min_lr: float = 0.0
    amp: str = "auto"              # fp16 mixed precision on CUDA
    device: str = "auto"
    deterministic: bool = True
    val_fraction: float = 0.1      # images held out for the validation SSL loss (0 = none)
    patience: int = 15             # early stopping on the validation SSL loss (S1); 0 = off
    restore_best: bool = True      # encoder.safetensors = encoder of the best validation loss
    knn_every: int = 1             # weighted kNN accuracy every N epochs on labelled data (0 = off)
    knn_k: int = 20
    knn_temperature: float = 0.07
    runs_dir: str | None = None
    preset: str | None = None
    data: DataConfig = field(default_factory=DataConfig)
    deepcluster: DeepClusterConfig = field(default_factory=DeepClusterConfig)

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form for config.json."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "SSLConfig":
        """Build a config from a (possibly partial, nested) dict; unknown keys fail."""
        data = dict(data or {})
        if data.get("kind", "ssl") != "ssl":
            raise ConfigError(f"Not a self-supervised config (kind {data.get('kind')!r}).")
        kwargs = {}
        for key, sub in (("data", DataConfig), ("deepcluster", DeepClusterConfig)):
            if key in data:
                kwargs[key] = _from_dict(sub, data.pop(key) or {}, f"ssl.{key}")
        config = _from_dict(cls, data, "ssl")
        for key, value in kwargs.items():
            setattr(config, key, value)
        config.validate()
        return config

    def validate(self) -> None:
        """Raise ConfigError for settings that cannot work."""
        if self.epochs < 1 or self.batch_size < 2:
            raise ConfigError("SSL needs epochs >= 1 and batch_size >= 2 (contrastive losses compare images).")
        if not 0.0 <= self.val_fraction < 0.9:
            raise ConfigError(f"val_fraction must be in [0, 0.9), got {self.val_fraction}.")
        if self.schedule not in ("cosine", "none"):
            raise ConfigError(f"schedule must be 'cosine' or 'none', got {self.schedule!r}.")
        if self.knn_every < 0 or self.patience < 0 or self.warmup_epochs < 0:
            raise ConfigError("knn_every, patience and warmup_epochs must be >= 0.")
        if not isinstance(self.hparams, dict):
            raise ConfigError("hparams must be a mapping of method hyper-parameters.")

    def method_defaults(self) -> dict[str, Any]:
        """The method's default hyper-parameters (registry meta ``defaults`` or its ``DEFAULTS``)."""
        return method_defaults(self.method)

    def method_hparams(self) -> dict[str, Any]:
        """The method's defaults with ``hparams`` merged over them."""
        return {**self.method_defaults(), **self.hparams}


def method_defaults(name: str) -> dict[str, Any]:
    """Default hyper-parameters of SSL method ``name`` (ConfigError if unknown)."""
    from engine import registry

    meta = registry.meta("ssl", name)
    defaults = meta.get("defaults")
    if defaults is None:
        defaults = getattr(registry.get("ssl", name), "DEFAULTS", {})
    return dict(defaults)


def ssl_presets_dir():
    """Folder of the SSL recipe presets (YAML), kept apart from the training presets."""
    from engine.paths import resources_dir

    return resources_dir() / "ssl_presets"


def ssl_preset_names() -> list[str]:
    """Names of the SSL presets, e.g. ``s1-simclr``."""
    return sorted(p.stem for p in ssl_presets_dir().glob("*.yaml"))


def ssl_preset_dict(name: str) -> dict[str, Any]:
    """Settings of SSL preset ``name`` (``description`` dropped, ``preset`` set)."""
    from engine.io_utils import load_config_file

    if name not in ssl_preset_names():
        raise ConfigError(f"Unknown SSL preset '{name}'. Available: {', '.join(ssl_preset_names())}.")
    settings = load_config_file(ssl_presets_dir() / f"{name}.yaml")
    return {**{k: v for k, v in settings.items() if k != "description"}, "preset": name}


def build_ssl_config(preset: str | None = None, *overrides: dict[str, Any]) -> SSLConfig:
    """Defaults, then an SSL preset, then each override dict merged in order."""
    from engine.training.config import deep_merge

    data: dict[str, Any] = ssl_preset_dict(preset) if preset else {}
    for ov in overrides:
        data = deep_merge(data, ov)
    return SSLConfig.from_dict(data)
