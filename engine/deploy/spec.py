"""The model input a package declares, and the numpy preprocessing it implies.

:class:`InputSpec` is the ``input`` block of package.json plus the loader's
``resize``/``keep_aspect``. :meth:`InputSpec.preprocess` turns a decoded
uint8 RGB image into the float32 C x H x W array the model takes, equal to a
run's evaluation pipeline (``DirectLoader`` + ``build_transform(train=False)``)
without needing torch when the loader already gives the model size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.errors import ConfigError

IMAGENET_MEAN = (0.485, 0.456, 0.406)  # = engine.data.transforms.IMAGENET_MEAN (no torch import here)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass
class InputSpec:
    """Size, normalisation and resize mode of a model's input (NCHW float32, 3 channels)."""

    size: int
    normalize: str = "imagenet"
    resize: int | None = None
    keep_aspect: bool = False

    @property
    def mean(self) -> tuple[float, float, float]:
        """Per-channel mean subtracted after scaling pixels to [0, 1]."""
        return IMAGENET_MEAN if self.normalize == "imagenet" else (0.0, 0.0, 0.0)

    @property
    def std(self) -> tuple[float, float, float]:
        """Per-channel standard deviation divided by after subtracting the mean."""
        return IMAGENET_STD if self.normalize == "imagenet" else (1.0, 1.0, 1.0)

    @property
    def load_size(self) -> int:
        """Size the decoded image is resized to before the centre square (``data.resize``)."""
        return int(self.resize or self.size)

    @classmethod
    def from_train_config(cls, config) -> "InputSpec":
        """The spec of a run's evaluation pipeline (``config`` is a TrainConfig)."""
        d = config.data
        return cls(size=int(d.image_size), normalize=d.normalize, resize=d.resize, keep_aspect=bool(d.keep_aspect))

    def input_dict(self) -> dict[str, Any]:
        """The ``input`` block of package.json."""
        return {"size": self.size, "channels": 3, "dtype": "float32", "layout": "NCHW",
                "normalize": self.normalize, "mean": list(self.mean), "std": list(self.std)}

    @classmethod
    def from_package(cls, manifest: dict) -> "InputSpec":
        """The spec declared by a (validated) package.json."""
        inp = manifest["input"]
        return cls(size=int(inp["size"]), normalize=inp["normalize"], resize=manifest.get("resize"),
                   keep_aspect=bool(manifest.get("keep_aspect", False)))

    def load(self, path: str, page: int = 0) -> np.ndarray:
        """Decode ``path`` (page ``page`` of a multi-page TIFF), resized as the run's loader does (uint8 H x W x 3)."""
        from engine.data.cache import resize_image
        from engine.data.imageio import read_image

        return resize_image(read_image(path, page=page), self.load_size, self.keep_aspect)

    def square(self, image: np.ndarray) -> np.ndarray:
        """The size x size uint8 image the model sees (FitSquare of the eval transform)."""
        h, w = image.shape[:2]
        if min(h, w) != self.size:  # resize > image size: reuse the eval transform's own resize
            from engine.data.transforms import FitSquare
            import torch

            t = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)
            return FitSquare(self.size)(t).permute(1, 2, 0).numpy()
        top = int(round((h - self.size) / 2.0))  # torchvision's center_crop offsets
        left = int(round((w - self.size) / 2.0))
        return np.ascontiguousarray(image[top:top + self.size, left:left + self.size])

    def normalise(self, square: np.ndarray) -> np.ndarray:
        """uint8 H x W x 3 -> float32 3 x H x W, scaled to [0, 1] and normalised."""
        if square.dtype != np.uint8 or square.ndim != 3 or square.shape[2] != 3:
            raise ConfigError(f"Expected a uint8 H x W x 3 RGB image, got {square.dtype} {square.shape}.")
        x = square.transpose(2, 0, 1).astype(np.float32) / np.float32(255.0)
        if self.normalize == "imagenet":
            mean = np.asarray(self.mean, np.float32)[:, None, None]
            std = np.asarray(self.std, np.float32)[:, None, None]
            x = (x - mean) / std
        return np.ascontiguousarray(x, dtype=np.float32)

    def preprocess(self, rgb_uint8: np.ndarray) -> np.ndarray:
        """A loaded (already resized) uint8 RGB image -> float32 3 x size x size."""
        return self.normalise(self.square(rgb_uint8))


def tta_views_np(x: np.ndarray, mode: str = "s3") -> list[np.ndarray]:
    """numpy twin of :func:`engine.data.transforms.tta_views` for an N x C x H x W batch."""
    rot = [np.rot90(x, k, axes=(-2, -1)) for k in (1, 2, 3)]
    if mode == "s3":
        views = [x, np.flip(x, -1), np.flip(x, -2), np.flip(x, (-2, -1)), *rot]
    elif mode == "d4":
        t = np.swapaxes(x, -2, -1)
        views = [x, np.flip(x, -1), np.flip(x, -2), *rot, t, np.flip(t, (-2, -1))]
    else:
        raise ConfigError(f"Unknown TTA mode '{mode}'; use 's3' (7 views) or 'd4' (8 views).")
    return [np.ascontiguousarray(v) for v in views]
