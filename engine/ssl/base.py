"""The interface of every SSL method: :class:`SSLMethod` (a thin assembly of heads, losses, views, momentum).

The pretraining loop (:mod:`engine.ssl.loop`) only calls this interface:
``view_transform`` -> ``training_step`` -> backward/step over
``trainable_parameters`` -> ``on_train_batch_end`` (EMA updates); ``embed``
feeds the kNN monitor and ``encoder_state_dict`` becomes
``encoder.safetensors``. Target/teacher networks are submodules, so the
method's ``state_dict`` (checkpoint) carries them for resume. A method that
needs more of the loop (DeepCluster's clustering each epoch) says so here:
``loop_kwargs`` (constructor arguments from the run), ``needs_indices``,
``early_stopping`` and ``loop_callbacks``; the loop never names a method.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Iterable

import torch
from torch import nn

from engine.errors import ConfigError
from engine.ssl.momentum import cosine_schedule, update_momentum
from engine.ssl.views import MultiViewTransform, two_view_transform

if TYPE_CHECKING:
    from engine.models.base import HistoModel

#: Settings every method accepts (optimiser and downstream learning rates of S4, views).
COMMON_KEYS = ("optimizer", "lr", "weight_decay", "probe_lr", "finetune_lr", "augment")


def s4_defaults(lr: float, weight_decay: float, probe_lr: float, finetune_lr: float, **extra: Any) -> dict[str, Any]:
    """A method's ``DEFAULTS``: S4's AdamW settings and downstream learning rates, S4 views, then ``extra``."""
    return {"optimizer": "adamw", "lr": lr, "weight_decay": weight_decay, "probe_lr": probe_lr,
            "finetune_lr": finetune_lr, "augment": "s4", **extra}


def input_channels(encoder: nn.Module) -> int:
    """Channels ``encoder`` expects: its ``in_chans`` attribute, else its first Conv2d's input channels, else 3."""
    chans = getattr(encoder, "in_chans", None)
    if chans:
        return int(chans)
    conv = next((m for m in encoder.modules() if isinstance(m, nn.Conv2d)), None)
    return int(conv.in_channels) if conv is not None else 3


def forward_views(fn: Callable[[torch.Tensor], torch.Tensor], views: list[torch.Tensor]) -> list[torch.Tensor]:
    """``[fn(v) for v in views]``, running views of the same shape as one batch (one forward per crop size)."""
    out: list[torch.Tensor] = []
    i = 0
    while i < len(views):
        j = i + 1
        while j < len(views) and views[j].shape == views[i].shape:
            j += 1
        out.extend(fn(torch.cat(views[i:j])).chunk(j - i))
        i = j
    return out


class SSLMethod(nn.Module):
    """Base class of SimCLR, BYOL, DINO and MoCo v3.

    ``encoder`` is a registry model (:class:`~engine.models.HistoModel`)
    whose ``forward_features`` gives ``[B, D]``; ``hparams`` override
    ``DEFAULTS`` (unknown keys raise ConfigError). Subclasses build their
    heads in ``__init__``, implement :meth:`training_step` and list their
    (target, online) pairs in :meth:`target_pairs`.
    """

    DEFAULTS: dict[str, Any] = {}
    n_views: int = 2
    encoder: HistoModel  # the online encoder
    progress: torch.Tensor  # a buffer: the fraction of training done
    #: Whether :meth:`training_step` takes the batch's dataset ``indices`` (per-image pseudo-labels).
    needs_indices: bool = False
    #: Whether the validation loss of different epochs is comparable, so it may pick the best encoder and
    #: stop early (False for moving targets such as DeepCluster's re-clustered pseudo-labels).
    early_stopping: bool = True

    def __init__(self, encoder: HistoModel, **hparams: Any) -> None:
        super().__init__()
        unknown = set(hparams) - set(self.DEFAULTS)
        if unknown:
            raise ConfigError(f"Unknown setting(s) {sorted(unknown)} for {type(self).__name__}; "
                              f"known: {sorted(self.DEFAULTS)}.")
        self.hparams = {**self.DEFAULTS, **hparams}
        self.encoder = encoder
        self.register_buffer("progress", torch.zeros(()))  # fraction of training done (schedules; resumes)
        self.progress_now: float | None = None  # the same as a Python float (no GPU sync); None until a step
        self.last_momentum: float | None = None

    # -- the loop's extras ---------------------------------------------------
    @classmethod
    def loop_kwargs(cls, config: Any, num_images: int) -> dict[str, Any]:
        """Constructor arguments taken from the run (``config``: the SSLConfig; ``num_images``: images the
        encoder trains on); none by default."""
        return {}

    def loop_callbacks(self, config: Any) -> list[Any]:
        """Callbacks (:class:`~engine.training.callbacks.Callback`) this method adds to the pretraining loop."""
        return []

    # -- views ---------------------------------------------------------------
    @classmethod
    def make_views(cls, image_size: int, normalize: str = "imagenet", *, in_chans: int = 3,
                   **hparams: Any) -> MultiViewTransform:
        """The views of one image as this method trains on them (two views unless overridden)."""
        return two_view_transform(image_size, hparams.get("augment", "s4"), normalize=normalize, in_chans=in_chans)

    def view_transform(self, image_size: int, normalize: str = "imagenet") -> MultiViewTransform:
        """uint8 H x W x 3 image -> list of ``n_views`` float tensors (the encoder's channel count)."""
        return self.make_views(image_size, normalize, in_chans=input_channels(self.encoder), **self.hparams)

    # -- training --------------------------------------------------------------
    def training_step(self, views: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        """``{"loss": scalar, ...extras}`` for one batch of views (each ``[B, C, H, W]``)."""
        raise NotImplementedError

    def forward(self, views: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        """Same as :meth:`training_step`."""
        return self.training_step(views)

    def target_pairs(self) -> list[tuple[nn.Module, nn.Module]]:
        """(EMA target, online) module pairs updated after each step; none by default."""
        return []

    def momentum_at(self, step: int, total_steps: int) -> float:
        """EMA momentum at ``step``: cosine from ``hparams["momentum"]`` to 1 (BYOL section 3.2)."""
        return cosine_schedule(step, total_steps, float(self.hparams.get("momentum", 0.996)))

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        """As :meth:`torch.nn.Module.load_state_dict`; the cached progress is re-read from the buffer."""
        self.progress_now = None
        return super().load_state_dict(state_dict, strict=strict, assign=assign)

    @torch.no_grad()
    def on_train_batch_end(self, step: int, total_steps: int) -> None:
        """After optimizer step ``step`` (0-based) of ``total_steps``: schedules and EMA target updates."""
        self.progress_now = min(1.0, (step + 1) / max(int(total_steps), 1))
        self.progress.fill_(self.progress_now)
        pairs = self.target_pairs()
        if pairs:
            m = self.momentum_at(step, total_steps)
            for target, online in pairs:
                update_momentum(target, online, m)
            self.last_momentum = m

    def _excluded_parameters(self) -> set[int]:
        heads: list[nn.Module] = getattr(self.encoder, "head_modules", lambda: [])()  # the classifier: unused here
        modules: Iterable[nn.Module] = [t for t, _ in self.target_pairs()] + list(heads)
        return {id(p) for m in modules for p in m.parameters()}

    def trainable_parameters(self) -> list[nn.Parameter]:
        """Parameters the optimiser updates: encoder (without its classifier) and heads; no target networks."""
        excluded = self._excluded_parameters()
        return [p for p in self.parameters() if id(p) not in excluded]

    def train(self, mode: bool = True) -> "SSLMethod":
        """``nn.Module.train``; target networks follow ``mode`` too (their BatchNorm uses batch statistics
        like the online network's, although their parameters are frozen), except for Dropout, which stays
        off in targets (a target gives the regression/distillation targets; no noise is added to them)."""
        super().train(mode)
        for target, _ in self.target_pairs():
            for m in target.modules():
                m.training = mode and not isinstance(m, nn.Dropout)
        return self

    # -- features --------------------------------------------------------------
    @torch.no_grad()
    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Encoder features ``[B, D]`` (no gradient)."""
        return self.encoder.forward_features(x)

    def encoder_state_dict(self) -> dict[str, torch.Tensor]:
        """The online encoder's ``state_dict`` (``encoder.safetensors``; load with
        ``create_model(backbone, pretrained=path)``)."""
        return self.encoder.state_dict()

    def extra_repr(self) -> str:
        return f"n_views={self.n_views}"


class PredictorMethod(SSLMethod):
    """Online encoder -> projector -> predictor regressing/contrasting against an EMA target encoder ->
    projector of the other view (the shared shape of BYOL and MoCo v3).

    Subclasses implement :meth:`build_heads` returning ``(projector, predictor, criterion)``;
    ``criterion(p1, p2, z1, z2)`` compares online predictions with target projections.
    """

    def __init__(self, encoder: HistoModel, **hparams: Any) -> None:
        from engine.ssl.momentum import frozen_copy

        super().__init__(encoder, **hparams)
        self.projector, self.predictor, self.criterion = self.build_heads(self.encoder.feature_dim, self.hparams)
        self.target_encoder = frozen_copy(self.encoder)
        self.target_projector = frozen_copy(self.projector)

    def build_heads(self, feature_dim: int, hp: dict[str, Any]) -> tuple[nn.Module, nn.Module, nn.Module]:
        """``(projector, predictor, criterion)`` for encoder features of width ``feature_dim``."""
        raise NotImplementedError

    def target_pairs(self) -> list[tuple[nn.Module, nn.Module]]:
        """Target (momentum) encoder and projector follow the online ones by EMA."""
        return [(self.target_encoder, self.encoder), (self.target_projector, self.projector)]

    def training_step(self, views: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        """Symmetric loss: predictions of each view against target projections of the other."""
        p1, p2 = forward_views(lambda x: self.predictor(self.projector(self.encoder.forward_features(x))), views[:2])
        with torch.no_grad():
            z1, z2 = forward_views(lambda x: self.target_projector(self.target_encoder.forward_features(x)),
                                   views[:2])
        return {"loss": self.criterion(p1, p2, z1, z2)}
