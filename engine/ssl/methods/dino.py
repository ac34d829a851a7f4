"""DINO: Caron et al., "Emerging Properties in Self-Supervised Vision Transformers", ICCV 2021.

Student: encoder -> DINO head (3-layer MLP hidden 2048, bottleneck 256,
weight-normalised prototypes). Teacher: EMA copy (0.996, cosine to 1) of
both. Multi-crop: 2 global + K local crops; the teacher sees the globals,
the student every crop. Loss: cross-entropy between the centred, sharpened
teacher (tau_t 0.04) and the student (tau_s 0.1) over pairs of different
views (:class:`~engine.ssl.losses.DINOLoss`).
"""

from __future__ import annotations

import logging

import torch

from engine.registry import register
from engine.ssl.base import SSLMethod, forward_views, input_channels, s4_defaults
from engine.ssl.heads import DINOHead
from engine.ssl.losses import DINOLoss
from engine.ssl.momentum import frozen_copy
from engine.ssl.views import MultiViewTransform, local_crop_size, multi_crop_transform

log = logging.getLogger(__name__)

DEFAULTS = s4_defaults(1e-4, 1e-6, 3e-3, 1e-4, momentum=0.996, student_temp=0.1, teacher_temp=0.04,
                       warmup_teacher_temp=0.04, teacher_temp_warmup=0.0, center_momentum=0.9, hidden_dim=2048,
                       bottleneck_dim=256, out_dim=4096, head_bn=False, n_local_crops=6,
                       global_crop_scale=[0.4, 1.0], local_crop_scale=[0.05, 0.4], local_size=None)


def accepts_size(encoder, size: int, in_chans: int) -> bool:
    """True when ``encoder.forward_features`` runs on ``size`` x ``size`` images (models with a fixed
    flatten size, like basic_cnn, do not accept other sizes)."""
    was_training = encoder.training
    encoder.eval()
    try:
        ref = next(encoder.parameters())
        with torch.no_grad():
            encoder.forward_features(torch.zeros(1, in_chans, size, size, device=ref.device, dtype=ref.dtype))
        return True
    except RuntimeError:
        return False
    finally:
        encoder.train(was_training)


@register("ssl", "dino", label="DINO", defaults=DEFAULTS, paper="Caron et al., ICCV 2021 (arXiv:2104.14294)",
          description="Self-distillation: a student matches an EMA teacher's centred, sharpened outputs "
                      "on multi-crop views (2 global + K local).")
class DINO(SSLMethod):
    """DINO around ``encoder`` (settings: ``DEFAULTS``)."""

    DEFAULTS = DEFAULTS

    def __init__(self, encoder, **hparams):
        super().__init__(encoder, **hparams)
        hp = self.hparams
        self.n_views = 2 + int(hp["n_local_crops"])
        self.head = DINOHead(encoder.feature_dim, int(hp["out_dim"]), int(hp["hidden_dim"]), int(hp["bottleneck_dim"]),
                             bool(hp["head_bn"]))
        self.teacher_encoder = frozen_copy(encoder)
        self.teacher_head = frozen_copy(self.head)
        self.criterion = DINOLoss(int(hp["out_dim"]), hp["student_temp"], hp["teacher_temp"], hp["center_momentum"],
                                  hp["warmup_teacher_temp"], hp["teacher_temp_warmup"])

    @classmethod
    def make_views(cls, image_size: int, normalize: str = "imagenet", *, in_chans: int = 3,
                   **hparams) -> MultiViewTransform:
        """Multi-crop: 2 global crops at ``image_size`` and ``n_local_crops`` local crops."""
        hp = {**cls.DEFAULTS, **hparams}
        return multi_crop_transform(image_size, hp["augment"], n_local=int(hp["n_local_crops"]),
                                    local_size=hp["local_size"], global_scale=hp["global_crop_scale"],
                                    local_scale=hp["local_crop_scale"], normalize=normalize, in_chans=in_chans)

    def view_transform(self, image_size: int, normalize: str = "imagenet") -> MultiViewTransform:
        """Multi-crop views; local crops fall back to ``image_size`` when the encoder needs a fixed size."""
        chans = input_channels(self.encoder)
        hp = dict(self.hparams)
        local = hp["local_size"] or local_crop_size(image_size)
        if hp["n_local_crops"] and local != image_size and not accepts_size(self.encoder, local, chans):
            log.warning("DINO: %s only accepts %d px inputs; local crops are resized to %d px.",
                        getattr(self.encoder, "name", "the encoder"), image_size, image_size)
            hp["local_size"] = image_size
        return self.make_views(image_size, normalize, in_chans=chans, **hp)

    def target_pairs(self):
        """Teacher encoder/head follow the student by EMA."""
        return [(self.teacher_encoder, self.encoder), (self.teacher_head, self.head)]

    def training_step(self, views: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        """DINO loss of the student on all views against the teacher on the 2 global views."""
        student = forward_views(lambda x: self.head(self.encoder.forward_features(x)), views)
        with torch.no_grad():
            teacher = forward_views(lambda x: self.teacher_head(self.teacher_encoder.forward_features(x)), views[:2])
        progress = self.progress_now if self.progress_now is not None else float(self.progress)
        loss = self.criterion(teacher, student, progress=progress)
        return {"loss": loss, "teacher_temp": torch.tensor(self.criterion.teacher_temp_at(progress))}
