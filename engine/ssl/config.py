"""Self-supervised pretraining configuration: :class:`SSLConfig`.

Like :class:`engine.training.config.TrainConfig` it round-trips through JSON
(``config.json`` of an SSL run, with ``"kind": "ssl"``). Method
hyper-parameters (``hparams``) override the method's defaults (registry meta
``"defaults"``, i.e. the ``DEFAULTS`` of S4's table); :meth:`SSLConfig.method_hparams`
gives the merged dict.
"""

from __future__ import annotations

import dataclasses
from dataclasses import field
from typing import Annotated, Any, Literal, Optional

from pydantic import Field

from engine.errors import ConfigError
from engine.options import DeviceName
from engine.schema import (
    NonNegativeFiniteFloat, NonNegativeInt, PositiveFiniteFloat, PositiveInt, schema, validate,
)
from engine.training.config import DataConfig, SplitConfig

@schema
class DeepClusterConfig:
    """DeepCluster settings (Caron et al. 2018; methods.md S5)."""

    k: Annotated[int, Field(ge=2)] = 200  # clusters (S5: 200); clipped to n_images // 2 for tiny data
    pca_dim: PositiveInt = 256     # PCA (whitened) dimension; clipped to min(n, feature_dim)
    whiten: bool = True
    reassign_every: PositiveInt = 1  # epochs between re-clusterings (paper: every epoch)
    uniform_sampling: bool = True  # sample images uniformly over clusters (paper)
    kmeans_iters: PositiveInt = 20
    kmeans_device: Literal["auto", "cpu"] = "auto"  # "auto" (GPU when available, CPU fallback), "cpu"


@schema
class SSLConfig:
    """Everything a self-supervised pretraining run needs.

    On a dataset with labels or patients, ``split`` describes the downstream
    train / val / test split (the same split file probe, fine-tune and
    label-efficiency use) and ``scope`` which of its parts the encoder sees:
    ``"train"`` (default), ``"train+val"`` or ``"all"`` (transductive: the
    run is marked, and downstream runs that test on those images are flagged).
    """

    kind: Literal["ssl"] = "ssl"
    name: str = ""
    seed: NonNegativeInt = 0
    method: str = "simclr"         # "ssl" registry name: simclr, byol, dino, mocov3, deepcluster
    backbone: str = "resnet18"     # model registry name of the encoder
    pretrained: str = "none"       # encoder initialisation: none, imagenet or a weights file
    in_chans: Literal[1, 3] = 3
    hparams: dict[str, Any] = field(default_factory=dict)  # overrides of the method's defaults
    epochs: PositiveInt = 100
    batch_size: Annotated[int, Field(ge=2)] = 32  # contrastive losses compare images
    schedule: Literal["cosine", "none"] = "cosine"  # "cosine" (per step, after warmup) or "none"
    warmup_epochs: NonNegativeInt = 0
    min_lr: NonNegativeFiniteFloat = 0.0
    amp: Literal["auto", "on", "off"] = "auto"  # fp16 mixed precision on CUDA
    device: DeviceName = "auto"
    deterministic: bool = True
    val_fraction: Annotated[float, Field(ge=0, lt=0.9, allow_inf_nan=False)] = 0.1  # held out for the val SSL loss
    patience: NonNegativeInt = 15  # early stopping on the validation SSL loss (S1); 0 = off
    restore_best: bool = True      # encoder.safetensors = encoder of the best validation loss
    knn_every: NonNegativeInt = 1  # weighted kNN accuracy every N epochs on labelled data (0 = off)
    knn_k: PositiveInt = 20
    knn_temperature: PositiveFiniteFloat = 0.07
    scope: Literal["train", "train+val", "all"] = "train"  # images of the downstream split the encoder sees
    runs_dir: Optional[str] = None
    preset: Optional[str] = None
    data: DataConfig = field(default_factory=DataConfig)
    split: SplitConfig = field(default_factory=SplitConfig)
    deepcluster: DeepClusterConfig = field(default_factory=DeepClusterConfig)

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form for config.json."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "SSLConfig":
        """Build and validate a config from a (possibly partial, nested) dict; ConfigError names each bad field."""
        data = dict(data or {})
        if data.get("kind", "ssl") != "ssl":
            raise ConfigError(f"Not a self-supervised config (kind {data.get('kind')!r}).")
        return validate(cls, data, "ssl")

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


def build_ssl_config(preset: str | None = None, *overrides: dict[str, Any]) -> SSLConfig:
    """Defaults, then an SSL preset (:func:`engine.presets.preset_dict`, kind ``"ssl"``), then each override
    dict merged in order, validated once."""
    from engine.presets import preset_dict
    from engine.training.config import deep_merge

    data: dict[str, Any] = preset_dict("ssl", preset) if preset else {}
    for ov in overrides:
        data = deep_merge(data, ov)
    return SSLConfig.from_dict(data)
