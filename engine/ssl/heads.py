"""Projection and prediction heads of the SSL methods (lightly's ``models/modules/heads.py``).

Widths follow methods.md S4 (SimCLR D->512->128; BYOL projector D->4096->256
and predictor 256->4096->256; DINO 3-layer MLP hidden 2048, bottleneck 256;
MoCo v3 3-layer projector hidden 4096 out 256 and 2-layer predictor); S1's
SimCLR head is D->256->128 (``hidden=256``). ``D`` is the encoder's
``feature_dim``.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from engine.errors import ConfigError

_ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {"relu": lambda: nn.ReLU(inplace=True), "gelu": nn.GELU}


class ProjectionHead(nn.Module):
    """MLP ``dims[0] -> dims[1] -> ... -> dims[-1]``.

    Hidden layers are ``Linear -> [BatchNorm1d] -> activation``; the last
    layer is ``Linear`` followed by a BatchNorm without affine parameters when
    ``last_bn`` (MoCo v3's projector). Linear layers followed by BatchNorm
    have no bias (BatchNorm removes it).
    """

    def __init__(self, dims: Sequence[int], *, batch_norm: bool = True, last_bn: bool = False,
                 activation: str = "relu") -> None:
        super().__init__()
        dims = [int(d) for d in dims]
        if len(dims) < 2 or min(dims) < 1:
            raise ConfigError(f"A projection head needs at least two positive widths, got {dims}.")
        if activation not in _ACTIVATIONS:
            raise ConfigError(f"Unknown head activation '{activation}'; use relu or gelu.")
        layers: list[nn.Module] = []
        for i, (d_in, d_out) in enumerate(zip(dims[:-1], dims[1:])):
            last = i == len(dims) - 2
            bn = last_bn if last else batch_norm
            layers.append(nn.Linear(d_in, d_out, bias=not bn))
            if bn:
                layers.append(nn.BatchNorm1d(d_out, affine=not last))
            if not last:
                layers.append(_ACTIVATIONS[activation]())
        self.layers = nn.Sequential(*layers)
        self.dims = dims

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, dims[0]] -> [B, dims[-1]]``."""
        return self.layers(x)


def simclr_head(in_dim: int, hidden: int = 512, out_dim: int = 128, batch_norm: bool = False) -> ProjectionHead:
    """SimCLR projection g(.) (Chen et al. 2020): ``D -> hidden -> ReLU -> out_dim`` (S4: 512/128; S1: 256/128)."""
    return ProjectionHead([in_dim, hidden, out_dim], batch_norm=batch_norm)


def byol_projector(in_dim: int, hidden: int = 4096, out_dim: int = 256) -> ProjectionHead:
    """BYOL projector (Grill et al. 2020): ``D -> 4096 (BN, ReLU) -> 256``."""
    return ProjectionHead([in_dim, hidden, out_dim], batch_norm=True)


def byol_predictor(dim: int = 256, hidden: int = 4096) -> ProjectionHead:
    """BYOL predictor q(.): ``256 -> 4096 (BN, ReLU) -> 256``."""
    return ProjectionHead([dim, hidden, dim], batch_norm=True)


def mocov3_projector(in_dim: int, hidden: int = 4096, out_dim: int = 256) -> ProjectionHead:
    """MoCo v3 projector (Chen, Xie, He 2021): 3 layers, BN on every layer (the last without affine)."""
    return ProjectionHead([in_dim, hidden, hidden, out_dim], batch_norm=True, last_bn=True)


def mocov3_predictor(dim: int = 256, hidden: int = 4096) -> ProjectionHead:
    """MoCo v3 predictor: 2 layers ``dim -> hidden (BN, ReLU) -> dim``, no final BN."""
    return ProjectionHead([dim, hidden, dim], batch_norm=True, last_bn=False)


class DINOHead(nn.Module):
    """DINO head (Caron et al. 2021): 3-layer MLP (GELU, hidden 2048) to a bottleneck (256), L2-normalise,
    then a weight-normalised linear layer to ``out_dim`` prototypes.

    The last layer is ``weight_norm`` with the norm fixed to 1 (DINO's
    ``norm_last_layer=True``), written directly as ``F.linear(x, normalize(W))``.
    The paper uses 65,536 prototypes; the default here is smaller.
    """

    def __init__(self, in_dim: int, out_dim: int = 4096, hidden: int = 2048, bottleneck: int = 256,
                 batch_norm: bool = False) -> None:
        super().__init__()
        self.mlp = ProjectionHead([in_dim, hidden, hidden, bottleneck], batch_norm=batch_norm, activation="gelu")
        self.last_weight = nn.Parameter(torch.empty(int(out_dim), int(bottleneck)))
        nn.init.trunc_normal_(self.last_weight, std=0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, D] -> [B, out_dim]`` logits (before the temperature softmax)."""
        z = F.normalize(self.mlp(x), dim=-1, eps=1e-6)
        return F.linear(z, F.normalize(self.last_weight, dim=-1, eps=1e-6))
