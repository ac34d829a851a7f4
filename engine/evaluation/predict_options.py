"""The validated options of a folder classification (``python main.py predict`` and File > Classify folder).

Both the CLI and the GUI build a :class:`PredictOptions` through
:func:`predict_options` before anything is read or written, so a bad value
(``batch_size=0``, an unknown TTA mode...) stops with a
:class:`~engine.errors.ConfigError` naming the option and what is allowed.
The CLI's choice lists come from this schema (:func:`engine.schema.choices`).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator
from pydantic.dataclasses import dataclass

from engine.options import CamMethod, Device, TTAMode
from engine.schema import SCHEMA_CONFIG, validate

#: Largest batch accepted (images decoded and stacked at once).
MAX_BATCH_SIZE = 4096


@dataclass(config=SCHEMA_CONFIG)
class PredictOptions:
    """How to classify a folder; every field is checked before any file is read or written."""

    tta: Literal["none", TTAMode] = "none"  # test-time augmentation: none, 7 views (s3) or 8 (d4)
    heatmaps: bool = False
    cam_method: CamMethod = "gradcam"
    backend: Literal["auto", "onnx", "torch"] = "auto"
    variant: Literal["fp32", "int8"] = "fp32"
    device: Device = "auto"  # also cuda:N
    batch_size: Annotated[int, Field(ge=1, le=MAX_BATCH_SIZE)] = 32
    recursive: bool = True
    out: str | None = None  # destination folder; None: a new folder under engine.paths.outputs_dir()
    overwrite: bool = False  # replace an existing predictions.csv at ``out``
    resume: bool = False  # continue the batch at ``out``: files already in its CSV are skipped
    allow_inside_source: bool = False  # confirmed: ``out`` may be inside the folder being classified

    @field_validator("tta", mode="before")
    @classmethod
    def _tta(cls, value: Any) -> Any:
        """Accept the older spellings: False/None -> "none", True -> "s3"; any case."""
        if value is None or value is False:
            return "none"
        if value is True:
            return "s3"
        return value.lower() if isinstance(value, str) else value

    @field_validator("out", mode="before")
    @classmethod
    def _out(cls, value: Any) -> Any:
        """Paths become strings; an empty path means the default location."""
        import os

        if isinstance(value, os.PathLike):
            value = os.fspath(value)
        return value or None

    @model_validator(mode="after")
    def _one_way_to_reuse(self) -> "PredictOptions":
        """An existing batch is either replaced or continued, not both."""
        if self.overwrite and self.resume:
            raise ValueError("overwrite and resume exclude each other: replace the old results or continue them")
        return self

    @property
    def tta_mode(self) -> str | None:
        """The TTA mode as the predictors take it: None, "s3" or "d4"."""
        return None if self.tta == "none" else self.tta

    def as_dict(self) -> dict:
        """The options as a plain dict (for batch.json)."""
        from dataclasses import asdict

        return asdict(self)


def predict_options(where: str = "predict", **values: Any) -> PredictOptions:
    """``PredictOptions(**values)`` validated; :class:`~engine.errors.ConfigError` names each bad option."""
    return validate(PredictOptions, values, where)
