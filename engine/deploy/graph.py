"""The exported graph: a model followed by its sigmoid/softmax, as ONNX.

The graph takes ``input`` (N x 3 x S x S float32, N dynamic) and returns
``probs`` (N x C class probabilities; a single-logit binary model gives
``[1 - p, p]``) and ``logits`` (the raw outputs, which test-time
augmentation averages exactly as the PyTorch path does).

torch 2.14's ``torch.onnx.export`` defaults to the dynamo exporter, which
needs the ``onnxscript`` package (not a HistoDesk dependency); the
TorchScript exporter (``dynamo=False``) handles every registry model at
opset 17 and is used here.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import nn

OPSET = 17
INPUT_NAME = "input"
OUTPUT_NAMES = ("probs", "logits")


class ProbabilityModel(nn.Module):
    """Wraps a classifier so its forward returns (probabilities, logits)."""

    def __init__(self, model: nn.Module, binary_single_logit: bool):
        super().__init__()
        self.model = model
        self.binary_single_logit = bool(binary_single_logit)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(N x C probabilities, raw logits) of the batch ``x``."""
        logits = self.model(x)
        if self.binary_single_logit:
            p = torch.sigmoid(logits.reshape(-1, 1))
            return torch.cat([1.0 - p, p], dim=1), logits
        return torch.softmax(logits, dim=1), logits


def export_onnx(model: nn.Module, path: str | Path, *, image_size: int, binary_single_logit: bool,
                opset: int = OPSET) -> Path:
    """Write ``model`` (in eval mode, on the CPU) with its probability head to ``path``."""
    path = Path(path)
    wrapped = ProbabilityModel(model, binary_single_logit).eval().cpu()
    example = torch.zeros(2, 3, image_size, image_size)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and tracer notes
        torch.onnx.export(wrapped, (example,), str(path), dynamo=False, opset_version=opset,
                          input_names=[INPUT_NAME], output_names=list(OUTPUT_NAMES), do_constant_folding=True,
                          dynamic_axes={INPUT_NAME: {0: "batch"}, "probs": {0: "batch"}, "logits": {0: "batch"}})
    return path
