"""The training wizard: dataset -> split -> model -> recipe -> review, producing a TrainConfig."""

from gui.wizard.train_wizard import TrainWizard

__all__ = ["TrainWizard"]
