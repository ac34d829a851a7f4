"""Rebuild a run's trained model from its folder (config + weights)."""

from __future__ import annotations

import torch

from engine.errors import HistoDeskError
from engine.runs import Run
from engine.training.checkpoint import load_weights
from engine.training.config import TrainConfig


def build_model(config: TrainConfig, num_classes: int, pretrained: str | None = None):
    """The registry model a config describes (``pretrained`` overrides the config)."""
    from engine.models import create_model

    m = config.model
    return create_model(
        m.name, num_classes,
        pretrained=m.pretrained if pretrained is None else pretrained,
        binary_single_logit=m.binary_single_logit, head_hidden=m.head_hidden,
        dropout=m.dropout, image_size=config.data.image_size,
    )


def load_run_model(run: Run, device: torch.device | str = "cpu", weights: str = "final"):
    """(model, classes, config) of a run; ``weights`` is 'final' or 'best'."""
    config = TrainConfig.from_dict(run.config)
    classes = run.summary.get("classes")
    if not classes:
        raise HistoDeskError(f"Run {run.id} has no class list in summary.json; was it started?")
    path = run.model_weights if weights == "final" else run.best_weights
    if not path.exists():
        alt = run.best_weights if path == run.model_weights else run.model_weights
        if not alt.exists():
            raise HistoDeskError(f"Run {run.id} has no saved weights yet (no epoch finished).")
        path = alt
    model = build_model(config, len(classes), pretrained="none")
    model.to(device)
    load_weights(model, path)
    model.eval()
    return model, classes, config
