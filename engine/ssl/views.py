"""Multi-view augmentations for self-supervised pretraining (lightly's ``transforms/``).

Input: a uint8 H x W x 3 image (numpy or tensor); output: a list of float
tensors C x S x S, one per view. Every view is an independent draw of
:func:`view_pipeline` (random resized crop, flips, rotation/shift/zoom on a
reflect-padded canvas, colour jitter, blur), built from
``torchvision.transforms.v2`` on uint8 tensors. Two presets:

- ``"s4"`` (methods.md S4, the default): rotation +-20 deg, shifts 10%, zoom
  10%, horizontal flip, brightness 0.8-1.2, random resized crop, Gaussian blur.
- ``"s1"`` (S1's SimCLR, after Chen et al. 2020): random resized crop,
  horizontal flip, colour jitter (0.4/0.4/0.4/0.1, p 0.8), Gaussian blur.

DINO's multi-crop (Caron et al. 2021): 2 global crops at ``image_size``
(area 0.4-1) and K local crops at ``round(image_size * 3/7)`` (area 0.05-0.4);
224 -> 96 as in the paper.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch
from torchvision.transforms import v2

from engine.data.transforms import IMAGENET_MEAN, IMAGENET_STD, ReflectAffine, check_input
from engine.errors import ConfigError


@dataclass
class ViewAugment:
    """Strengths of the SSL augmentations (0 / False = off)."""

    crop_scale: tuple[float, float] = (0.2, 1.0)  # random resized crop, area fraction
    hflip: bool = True
    vflip: bool = False
    rotation: float = 0.0          # degrees, +-
    shift: float = 0.0             # fraction of the side
    zoom: float = 0.0              # fraction
    brightness: float = 0.0        # factor range 1 +- brightness
    contrast: float = 0.0
    saturation: float = 0.0
    hue: float = 0.0
    jitter_p: float = 1.0          # probability of the colour jitter
    grayscale_p: float = 0.0
    blur_p: float = 0.5            # probability of the Gaussian blur (sigma 0.1-2, kernel ~10% of the side)

    @classmethod
    def from_value(cls, value: "str | dict | ViewAugment | None") -> "ViewAugment":
        """A preset name (``"s4"``, ``"s1"``), a dict of fields (over the S4 preset) or an instance."""
        if isinstance(value, ViewAugment):
            return value
        if value is None:
            return dataclasses.replace(PRESETS["s4"])
        if isinstance(value, str):
            if value.lower() not in PRESETS:
                raise ConfigError(f"Unknown SSL augmentation preset '{value}'; use one of {sorted(PRESETS)}.")
            return dataclasses.replace(PRESETS[value.lower()])
        if isinstance(value, dict):
            fields = {f.name for f in dataclasses.fields(cls)}
            base = dict(value)
            preset = base.pop("preset", "s4")
            unknown = set(base) - fields
            if unknown:
                raise ConfigError(f"Unknown SSL augmentation setting(s) {sorted(unknown)}; known: {sorted(fields)}.")
            if "crop_scale" in base:
                base["crop_scale"] = tuple(float(v) for v in base["crop_scale"])
            return dataclasses.replace(cls.from_value(preset), **base)
        raise ConfigError(f"augment must be a preset name or a dict, got {value!r}.")


PRESETS = {
    "s4": ViewAugment(crop_scale=(0.2, 1.0), rotation=20.0, shift=0.1, zoom=0.1, brightness=0.2, blur_p=0.5),
    "s1": ViewAugment(crop_scale=(0.2, 1.0), brightness=0.4, contrast=0.4, saturation=0.4, hue=0.1, jitter_p=0.8,
                      blur_p=0.5),
}


def _check_scale(scale: Any, what: str) -> tuple[float, float]:
    lo, hi = (float(v) for v in scale)
    if not 0 < lo <= hi <= 1:
        raise ConfigError(f"{what} = {list(scale)} must be [min, max] with 0 < min <= max <= 1.")
    return lo, hi


def view_pipeline(size: int, aug: ViewAugment, *, scale: tuple[float, float] | None = None,
                  normalize: str = "imagenet", in_chans: int = 3) -> v2.Compose:
    """One random view: uint8 image -> float tensor ``in_chans x size x size``."""
    size = int(size)
    check_input(size, normalize, "ssl view")
    steps: list[Callable] = [v2.ToImage(), v2.RandomResizedCrop(
        size, scale=_check_scale(scale or aug.crop_scale, "crop_scale"), antialias=True)]
    if aug.hflip:
        steps.append(v2.RandomHorizontalFlip(0.5))
    if aug.vflip:
        steps.append(v2.RandomVerticalFlip(0.5))
    if aug.rotation or aug.shift or aug.zoom:
        steps.append(ReflectAffine(aug.rotation, aug.shift, aug.zoom))
    if aug.brightness or aug.contrast or aug.saturation or aug.hue:
        jitter = v2.ColorJitter(aug.brightness, aug.contrast, aug.saturation, aug.hue)
        steps.append(v2.RandomApply([jitter], p=aug.jitter_p) if aug.jitter_p < 1 else jitter)
    if aug.grayscale_p:
        steps.append(v2.RandomGrayscale(aug.grayscale_p))
    if aug.blur_p:
        kernel = max(3, int(0.1 * size) // 2 * 2 + 1)  # about 10% of the side, odd (SimCLR)
        steps.append(v2.RandomApply([v2.GaussianBlur(kernel, sigma=(0.1, 2.0))], p=aug.blur_p))
    if in_chans == 1:
        steps.append(v2.Grayscale(1))
    steps.append(v2.ToDtype(torch.float32, scale=True))
    if normalize == "imagenet":
        mean: tuple[float, ...] = IMAGENET_MEAN
        std: tuple[float, ...] = IMAGENET_STD
        if in_chans == 1:
            mean, std = (float(np.mean(mean)),), (float(np.mean(std)),)
        steps.append(v2.Normalize(mean, std))
    steps.append(v2.ToPureTensor())
    return v2.Compose(steps)


class MultiViewTransform:
    """Applies each of ``transforms`` to the same image: ``image -> [t(image) for t]`` (picklable)."""

    def __init__(self, transforms: list[Callable]) -> None:
        self.transforms = list(transforms)

    def __call__(self, image: np.ndarray | torch.Tensor) -> list[torch.Tensor]:
        """The views of one uint8 H x W x 3 image."""
        if isinstance(image, np.ndarray):
            array = np.ascontiguousarray(image)
            if not array.flags.writeable:  # e.g. a cached, read-only decode: torch needs its own copy
                array = array.copy()
            image = torch.from_numpy(array).permute(2, 0, 1)
        elif isinstance(image, torch.Tensor) and image.ndim == 3 and image.shape[-1] in (1, 3) \
                and image.shape[0] not in (1, 3):
            image = image.permute(2, 0, 1)
        return [t(image) for t in self.transforms]

    def __len__(self) -> int:
        return len(self.transforms)


def two_view_transform(image_size: int, augment: Any = "s4", *, normalize: str = "imagenet",
                       in_chans: int = 3) -> MultiViewTransform:
    """SimCLR/BYOL/MoCo v3: two independent views at ``image_size``."""
    aug = ViewAugment.from_value(augment)
    return MultiViewTransform([view_pipeline(image_size, aug, normalize=normalize, in_chans=in_chans)
                               for _ in range(2)])


def local_crop_size(image_size: int) -> int:
    """DINO's local crop side: ``round(image_size * 3 / 7)`` (224 -> 96), at least 8."""
    return max(8, int(round(image_size * 3 / 7)))


def multi_crop_transform(image_size: int, augment: Any = "s4", *, n_local: int = 6, local_size: int | None = None,
                         global_scale=(0.4, 1.0), local_scale=(0.05, 0.4), normalize: str = "imagenet",
                         in_chans: int = 3) -> MultiViewTransform:
    """DINO multi-crop: 2 global views (area ``global_scale``) then ``n_local`` local views."""
    if int(n_local) < 0:
        raise ConfigError(f"n_local_crops must be >= 0, got {n_local}.")
    aug = ViewAugment.from_value(augment)
    g_scale, l_scale = _check_scale(global_scale, "global_crop_scale"), _check_scale(local_scale, "local_crop_scale")
    glob = [view_pipeline(image_size, aug, scale=g_scale, normalize=normalize, in_chans=in_chans) for _ in range(2)]
    side = local_size or local_crop_size(image_size)
    local = [view_pipeline(side, aug, scale=l_scale, normalize=normalize, in_chans=in_chans)
             for _ in range(int(n_local))]
    return MultiViewTransform(glob + local)


def to_uint8(view: torch.Tensor, normalize: str = "imagenet") -> np.ndarray:
    """Undo :func:`view_pipeline`'s normalisation: float C x H x W -> uint8 H x W x 3 for display."""
    x = view.detach().float().cpu()
    if normalize == "imagenet":
        c = x.shape[0]
        mean = torch.tensor(IMAGENET_MEAN if c == 3 else (float(np.mean(IMAGENET_MEAN)),) * c).view(-1, 1, 1)
        std = torch.tensor(IMAGENET_STD if c == 3 else (float(np.mean(IMAGENET_STD)),) * c).view(-1, 1, 1)
        x = x * std + mean
    if x.shape[0] == 1:
        x = x.expand(3, -1, -1)
    return (x.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()


def preview_pairs(method_name: str, image_uint8: np.ndarray, *, n: int = 4, image_size: int = 96, seed: int = 0,
                  hparams: dict | None = None) -> list[list[np.ndarray]]:
    """``n`` samples of the views ``method_name`` trains on, as uint8 H x W x 3 images.

    Each sample is the method's list of views (2 for SimCLR/BYOL/MoCo v3;
    2 global + K smaller local crops for DINO). ``hparams`` override the
    method's defaults (e.g. ``{"augment": "s1"}``). Torch's global RNG is
    left untouched (a private seed is used).
    """
    from engine import registry

    cls = registry.get("ssl", method_name)
    settings = {**(registry.meta("ssl", method_name).get("defaults") or {}), **(hparams or {})}
    if hasattr(cls, "make_views"):
        transform = cls.make_views(image_size, "imagenet", **settings)
    else:  # a method without the class-level hook (e.g. DeepCluster): build it around a stand-in encoder
        transform = cls(encoder=_StandInEncoder(), **(hparams or {})).view_transform(image_size, "imagenet")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return [[to_uint8(v) for v in transform(image_uint8)] for _ in range(int(n))]


class _StandInEncoder(torch.nn.Module):
    """Minimal encoder for building a method only to get its view transform."""

    feature_dim = 8

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1)[:, :8]
