"""Validated options of the evaluation, export, explain and embed jobs, and the allowed values every job shares.

The allowed values (devices, TTA modes, split names, CAM methods, colour maps,
int8 methods, threshold rules) are ``Literal`` types written here once; the
training, SSL, study and prediction schemas use them too. argparse choices
and GUI lists read them with :func:`engine.schema.choices`, for example
``choices(ExplainOptions, "colormap")``. Each job validates its options
before it reads or writes anything, so a wrong value stops with a
:class:`~engine.errors.ConfigError` naming the option, the value and what is
allowed (the CLI prints it and exits with code 2).
"""

from __future__ import annotations

import re
import typing
from dataclasses import field
from typing import Annotated, Any, Literal, Optional

from pydantic import Field, WrapValidator, field_validator

from engine.schema import PositiveInt, Probability, schema

#: Compute devices by name (prediction, evaluation and explain also take ``cuda:N``).
DeviceName = Literal["auto", "cpu", "cuda", "mps"]
#: Test-time augmentation: s3 (7 flip/rotation views, methods.md S3) or d4 (the 8 dihedral views).
TTAMode = Literal["s3", "d4"]
#: The parts of a run's own split.
SplitName = Literal["train", "val", "test"]
#: The built-in CAM methods (registry kind "cam", engine.explain.cams).
CamMethod = Literal["gradcam", "gradcam++", "eigencam", "scorecam", "layercam"]
#: Heatmap colour maps (OpenCV's COLORMAP_<NAME>).
Colormap = Literal["jet", "turbo", "viridis", "inferno", "magma", "plasma", "hot", "bone"]
#: int8 quantisation: static (calibrated on training images), dynamic, or auto (static when images exist).
Int8Method = Literal["auto", "static", "dynamic"]
#: Pixel scaling: ImageNet mean/std (for pretrained models) or pixels / 255.
Normalization = Literal["imagenet", "unit"]
#: Binary decision rules fitted on the validation split (engine.evaluation.thresholds).
ThresholdMethod = Literal["argmax", "youden", "sensitivity"]

_CUDA_INDEX = re.compile(r"^cuda:\d+$")


def _device(value: Any, handler) -> Any:
    """``cuda:N`` passes as is; anything else must be one of :data:`DeviceName`."""
    if isinstance(value, str) and _CUDA_INDEX.match(value):
        return value
    return handler(value)


#: A device name, or ``cuda:N``.
Device = Annotated[DeviceName, WrapValidator(_device)]


def literal_values(literal: Any) -> tuple:
    """The values of a ``Literal`` type, e.g. ``literal_values(TTAMode) == ("s3", "d4")``."""
    return typing.get_args(literal)


def _split_list(value: Any) -> Any:
    """``"val,test"`` (the CLI's spelling) as ``["val", "test"]``; lists pass as they are."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return list(value) if isinstance(value, tuple) else value


def _non_empty_list(value: Any, what: str) -> Any:
    """:func:`_split_list`, refusing an empty list with ``give at least one <what>``."""
    value = _split_list(value)
    if isinstance(value, list) and not value:
        raise ValueError(f"give at least one {what}")
    return value


@schema
class EvaluateOptions:
    """How a finished run is re-evaluated (``python main.py evaluate``, Evaluate in the GUI)."""

    splits: list[SplitName] = field(default_factory=lambda: ["test"])  # of the run's own split
    tta: Optional[TTAMode] = None
    device: Device = "auto"

    @field_validator("splits", mode="before")
    @classmethod
    def _splits(cls, value: Any) -> Any:
        return _non_empty_list(value, "split (train, val or test)")


@schema
class ExportOptions:
    """How a run becomes a model package (``python main.py export``, Deploy > Export)."""

    int8: bool = False
    int8_method: Int8Method = "auto"
    parity_images: Annotated[int, Field(ge=1, le=10_000)] = 16  # test images compared with PyTorch


@schema
class ExplainOptions:
    """How a heatmap is made (``explain``, ``occlusion`` and the GUI's explain views)."""

    method: CamMethod = "gradcam"
    methods: list[CamMethod] = field(default_factory=lambda: ["gradcam", "gradcam++", "eigencam"])  # misclassified
    split: SplitName = "test"
    tta: Optional[TTAMode] = None
    alpha: Probability = 0.5      # heatmap opacity
    colormap: Colormap = "jet"
    device: Device = "auto"
    patch: Optional[PositiveInt] = None   # occlusion patch side in pixels (None: 1/8 of the input)
    stride: Optional[PositiveInt] = None  # occlusion step (None: half the patch)

    @field_validator("methods", mode="before")
    @classmethod
    def _methods(cls, value: Any) -> Any:
        return _non_empty_list(value, "CAM method")


@schema
class EmbedOptions:
    """How embeddings are computed (``embed``, ``retrieve``, the GUI's embedding view)."""

    split: Optional[SplitName] = None  # only this part of the run's own split (None: every image)
    pretrained: str = "none"  # for a registry model name: none, imagenet or a local weights file
    image_size: Annotated[int, Field(ge=8, le=4096)] = 224
    device: Device = "auto"
    batch_size: PositiveInt = 64
    k: PositiveInt = 8  # retrieval: number of neighbours
