"""Precise BatchNorm: running stats equal the statistics of the training data."""

from __future__ import annotations

import torch
from torch import nn

from engine.training.batchnorm import recalibrate_batchnorm


def test_running_stats_match_data_and_frozen_layers_are_kept():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Conv2d(4, 2, 1), nn.BatchNorm2d(2))
    frozen = model[4]
    frozen.running_mean.fill_(7.0)
    x = torch.randn(40, 3, 8, 8) * 3 + 1
    loader = [(x[i:i + 8], torch.zeros(8), torch.zeros(8)) for i in range(0, 40, 8)]

    class Partial(nn.Module):  # stands in for HistoModel keeping frozen BN in eval mode
        def __init__(self):
            super().__init__()
            self.net = model

        def forward(self, t):
            return self.net(t)

        def train(self, mode=True):
            super().train(mode)
            frozen.eval()
            return self

    wrapper = Partial()
    assert recalibrate_batchnorm(wrapper, loader, torch.device("cpu")) == 1
    with torch.no_grad():
        feats = model[0](x)
    assert torch.allclose(model[1].running_mean, feats.mean(dim=(0, 2, 3)), atol=1e-4)
    assert torch.allclose(model[1].running_var, feats.var(dim=(0, 2, 3), unbiased=True), rtol=2e-2)
    assert torch.all(frozen.running_mean == 7.0)
    assert model[1].momentum == 0.1
