"""Image -> tensor transforms: augmentations of S1-S3 and evaluation transforms.

Input is the cache's uint8 H x W x 3 array (already resized to
``data.resize``); output is a float32 3 x S x S tensor. Geometry and colour
run on uint8 tensors with ``torchvision.transforms.v2`` (cheaper than
float); random erasing runs after normalisation. Each augmentation of
:class:`~engine.training.config.AugmentConfig` is switched on by its own
field, so an all-zero config gives a deterministic transform. Rotation,
shift and zoom run on a reflect-padded canvas that is centre-cropped back,
so no black corners appear: black corners exist only in training images
and would be a shortcut a model can learn (measured: a demo model reached
train accuracy 1.0 and validation accuracy 0.5 with them).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from torch import nn
from torchvision import tv_tensors
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

from engine.options import TTAMode
from engine.schema import check_value, validate
from engine.training.config import AugmentConfig, DataConfig

# timm.data.constants.IMAGENET_DEFAULT_MEAN / IMAGENET_DEFAULT_STD
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class FitSquare(nn.Module):
    """Resize the shorter side to ``size`` (if needed), then centre-crop a square."""

    def __init__(self, size: int):
        super().__init__()
        self.size = size

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        """Fit ``img`` (C x H x W) to size x size, keeping the aspect ratio."""
        h, w = img.shape[-2:]
        if min(h, w) != self.size:
            img = F.resize(img, [self.size], antialias=True)
        if img.shape[-2] != self.size or img.shape[-1] != self.size:
            img = F.center_crop(img, [self.size, self.size])
        return img


class RandomRot90(nn.Module):
    """Rotate by a random multiple of 90 degrees (0, 90, 180 or 270)."""

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        """``img`` rotated k * 90 degrees, k drawn from torch's generator."""
        k = int(torch.randint(0, 4, (1,)).item())
        if k == 0:
            return img
        out = torch.rot90(img.as_subclass(torch.Tensor), k, dims=(-2, -1))
        return tv_tensors.wrap(out, like=img) if isinstance(img, tv_tensors.TVTensor) else out


class ReflectAffine(nn.Module):
    """Random rotation/shift/zoom without empty corners.

    The image is reflect-padded by enough pixels to cover the largest
    rotation, shift and zoom-out, transformed with ``v2.RandomAffine`` and
    centre-cropped back to its size.
    """

    def __init__(self, degrees: float, shift: float, zoom: float):
        super().__init__()
        self.shift, self.zoom, self.degrees = shift, zoom, degrees

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        """``img`` (C x H x W) randomly transformed, same size, borders reflected."""
        h, w = img.shape[-2:]
        side = max(h, w)
        # half-diagonal growth from rotation, zoom-out and shift, in pixels
        reach = side * (0.5 * (abs(np.sin(np.radians(min(self.degrees, 45)))) + self.zoom) + self.shift)
        need = int(np.ceil(reach / max(1 - self.zoom, 0.5))) + 2
        padded = img
        while need > 0:  # a reflect pad is at most (size - 1) wide, so pad in steps
            step = min(need, min(padded.shape[-2:]) - 1)
            padded = F.pad(padded, [step, step, step, step], padding_mode="reflect")
            need -= step
        angle = float(torch.empty(1).uniform_(-self.degrees, self.degrees)) if self.degrees else 0.0
        tx = float(torch.empty(1).uniform_(-self.shift, self.shift)) * w if self.shift else 0.0
        ty = float(torch.empty(1).uniform_(-self.shift, self.shift)) * h if self.shift else 0.0
        scale = float(torch.empty(1).uniform_(1 - self.zoom, 1 + self.zoom)) if self.zoom else 1.0
        out = F.affine(padded, angle=angle, translate=[round(tx), round(ty)], scale=scale, shear=[0.0, 0.0],
                       interpolation=v2.InterpolationMode.BILINEAR)
        return F.center_crop(out, [h, w])


def check_input(image_size: int, normalize: str, where: str = "data") -> None:
    """``image_size`` and ``normalize`` checked by the data schema (:class:`DataConfig`'s rules);
    ConfigError naming the field, the value and what is allowed."""
    validate(DataConfig, {"image_size": image_size, "normalize": normalize}, where)


def _augmentations(aug: AugmentConfig, size: int) -> list[tuple[str, Callable]]:
    """(description, transform) of the enabled uint8 augmentations, in order."""
    steps: list[tuple[str, Callable]] = []
    if aug.hflip:
        steps.append(("random horizontal flip", v2.RandomHorizontalFlip(0.5)))
    if aug.vflip:
        steps.append(("random vertical flip", v2.RandomVerticalFlip(0.5)))
    if aug.rot90:
        steps.append(("random rotation by 0/90/180/270 degrees", RandomRot90()))
    if aug.rotation or aug.shift or aug.zoom:
        steps.append((f"random affine: rotation up to {aug.rotation:g} deg, shift up to "
                      f"{aug.shift:.0%}, zoom up to {aug.zoom:.0%}",
                      ReflectAffine(aug.rotation, aug.shift, aug.zoom)))
    if aug.color_jitter or aug.hue:
        cj = aug.color_jitter
        steps.append((f"colour jitter: brightness/contrast/saturation {cj:g}, hue {aug.hue:g}",
                      v2.ColorJitter(brightness=cj, contrast=cj, saturation=cj, hue=aug.hue)))
    if aug.blur:
        kernel = max(3, int(0.1 * size) // 2 * 2 + 1)  # about 10% of the image, odd (SimCLR)
        steps.append((f"Gaussian blur (p={aug.blur:g}, kernel {kernel}, sigma 0.1-2)",
                      v2.RandomApply([v2.GaussianBlur(kernel, sigma=(0.1, 2.0))], p=aug.blur)))
    return steps


def _steps(aug: AugmentConfig | None, train: bool, image_size: int,
           normalize: str) -> list[tuple[str, Callable]]:
    """(description, transform) pairs of the whole pipeline; "" = not worth listing."""
    aug = aug or AugmentConfig()
    check_input(image_size, normalize)  # the augmentations were checked by AugmentConfig's schema
    s = image_size
    steps: list[tuple[str, Callable]] = [("", v2.ToImage())]
    if train and aug.random_resized_crop:
        lo, hi = aug.crop_scale[:2]
        steps.append((f"random resized crop to {s}x{s} (area {lo:g}-{hi:g})",
                      v2.RandomResizedCrop(s, scale=(lo, hi), antialias=True)))
    elif train and aug.random_crop:
        steps.append((f"random crop {s}x{s}", v2.RandomCrop(s, pad_if_needed=True)))
    else:
        steps.append((f"resize to {s}x{s} (centre crop if not square)", FitSquare(s)))
    if train:
        steps += _augmentations(aug, s)
    steps.append(("scale pixels to [0, 1]", v2.ToDtype(torch.float32, scale=True)))
    if normalize == "imagenet":
        steps.append(("normalise with ImageNet mean/std", v2.Normalize(IMAGENET_MEAN, IMAGENET_STD)))
    if train and aug.random_erasing:
        steps.append((f"random erasing (p={aug.random_erasing:g})", v2.RandomErasing(p=aug.random_erasing)))
    steps.append(("", v2.ToPureTensor()))
    return steps


def build_transform(aug: AugmentConfig | None, *, train: bool, image_size: int,
                    normalize: str) -> Callable[[np.ndarray], torch.Tensor]:
    """uint8 H x W x 3 array -> float32 3 x image_size x image_size tensor.

    ``train=False`` (or a disabled ``aug``) gives the deterministic
    evaluation transform. Random draws use torch's global generator, so
    ``torch.manual_seed`` makes them repeatable.
    """
    return v2.Compose([t for _, t in _steps(aug, train, image_size, normalize)])


def describe_transform(aug: AugmentConfig | None, *, train: bool, image_size: int,
                       normalize: str) -> list[str]:
    """Human-readable steps of :func:`build_transform` for the GUI and review page."""
    return [d for d, _ in _steps(aug, train, image_size, normalize) if d]


def tta_views(x: torch.Tensor, mode: str = "s3") -> list[torch.Tensor]:
    """Test-time augmentation views of a batch ``x`` (B x C x H x W).

    ``"s3"``: the 7 views of S3 - original, h-flip, v-flip, h+v flip,
    rotations by 90/180/270 degrees. Note that h+v flip and 180 degrees are
    the same image, so S3's average counts that view twice. ``"d4"``: the 8
    distinct flips and rotations of the square (dihedral group).
    """
    mode = check_value(TTAMode, mode, "tta")
    rot = [torch.rot90(x, k, dims=(-2, -1)) for k in (1, 2, 3)]
    if mode == "s3":
        return [x, x.flip(-1), x.flip(-2), x.flip(-2, -1), *rot]
    t = x.transpose(-2, -1)
    return [x, x.flip(-1), x.flip(-2), *rot, t, t.flip(-2, -1)]
