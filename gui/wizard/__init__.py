"""The training wizard: dataset -> split -> model -> recipe -> review, producing a TrainConfig.

``TrainWizard`` is loaded lazily: importing a light submodule such as ``gui.wizard.fields``
must not pull the model registry (and with it torch/timm) into an application start-up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gui.wizard.train_wizard import TrainWizard

__all__ = ["TrainWizard"]


def __getattr__(name: str) -> Any:
    if name == "TrainWizard":
        from gui.wizard.train_wizard import TrainWizard
        return TrainWizard
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
