"""Image cache, direct loader, transforms, TTA views, dataset, sampler, class weights."""

from __future__ import annotations

import hashlib
import os
import pickle
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import engine.data.imageio as imageio
from engine.data.cache import DirectLoader, ImageCache, resize_image
from engine.data.catalog import ImageRecord
from engine.data.dataset import HistoDataset, class_weights_balanced, make_weighted_sampler
from engine.data.transforms import IMAGENET_MEAN, IMAGENET_STD, build_transform, describe_transform, tta_views
from engine.errors import CancelledError, ConfigError, DataError
from engine.jobs import CancelToken
from engine.training.config import AugmentConfig


def _record(path: Path, image: np.ndarray, label: str = "a") -> ImageRecord:
    Image.fromarray(image).save(path)
    sha = hashlib.sha1(path.read_bytes()).hexdigest()
    return ImageRecord(path=str(path), label=label, sha1=sha, width=image.shape[1], height=image.shape[0])


def _image(h: int = 60, w: int = 90, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


@pytest.fixture
def reads(monkeypatch):
    """Count calls of engine.data.imageio.read_image (the only decoder)."""
    calls = []
    real = imageio.read_image

    def counting(path, page=0, *args, **kw):
        calls.append(path)
        return real(path, page, *args, **kw)

    monkeypatch.setattr(imageio, "read_image", counting)
    return calls


def test_cache_decodes_once_across_instances(tmp_path, reads):
    rec = _record(tmp_path / "a.png", _image())
    root = tmp_path / "cache"
    cache = ImageCache(root, resize=32)
    first = cache.load(rec)
    assert first.shape == (32, 32, 3) and first.dtype == np.uint8
    assert (cache.stats.hits, cache.stats.misses, len(reads)) == (0, 1, 1)
    np.testing.assert_array_equal(cache.load(rec), first)
    assert (cache.stats.hits, cache.stats.misses, len(reads)) == (1, 1, 1)
    again = ImageCache(root, resize=32)
    np.testing.assert_array_equal(again.load(rec), first)
    assert (again.stats.hits, len(reads)) == (1, 1)
    other = ImageCache(root, resize=48)  # keyed by size
    assert other.load(rec).shape == (48, 48, 3) and (other.stats.misses, len(reads)) == (1, 2)
    aspect = ImageCache(root, resize=30, keep_aspect=True)
    assert aspect.load(rec).shape == (30, 45, 3)
    assert not list(root.rglob("*.tmp"))
    assert pickle.loads(pickle.dumps(again)).load(rec).shape == (32, 32, 3)  # DataLoader workers


def test_cache_default_root_and_records_without_hash(tmp_path, reads):
    rec = _record(tmp_path / "b.png", _image(seed=1))
    rec.sha1 = ""
    cache = ImageCache(resize=16)
    assert Path(os.environ["HISTODESK_HOME"]) in cache.path_for(rec).parents
    cache.load(rec)
    assert ImageCache(resize=16).contains(rec)


def test_cache_writes_are_atomic_and_damage_is_repaired(tmp_path, reads, monkeypatch):
    rec = _record(tmp_path / "a.png", _image())
    cache = ImageCache(tmp_path / "cache", resize=32)
    path = cache.path_for(rec)

    def failing_replace(src, dst):
        raise OSError("disk full")

    with monkeypatch.context() as m:
        m.setattr(os, "replace", failing_replace)
        image = cache.load(rec)  # the image still comes back
    assert image.shape == (32, 32, 3)
    assert not path.exists() and not list(path.parent.glob("*.tmp"))
    cache.load(rec)
    path.write_bytes(path.read_bytes()[:40])  # torn file
    np.testing.assert_array_equal(ImageCache(tmp_path / "cache", resize=32).load(rec), image)
    assert len(reads) == 3


def test_warm_reports_progress_skips_cached_and_lists_failures(tmp_path, reads):
    recs = [_record(tmp_path / f"{i}.png", _image(seed=i)) for i in range(5)]
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    recs.append(ImageRecord(path=str(bad), label="a", sha1="deadbeef"))
    recs.append(ImageRecord(path=str(tmp_path / "gone.png"), label="a"))  # no hash, no file
    cache = ImageCache(tmp_path / "cache", resize=24)
    events = []
    out = cache.warm(recs, progress=events.append)
    assert out["decoded"] == 5 and out["already_cached"] == 0
    assert sorted(f["path"] for f in out["failed"]) == [str(bad), str(tmp_path / "gone.png")]
    assert events[-1].stage == "cache" and events[-1].step == events[-1].total == 6
    assert events[-1].eta_s is not None
    n = len(reads)
    assert cache.warm(recs[:5])["already_cached"] == 5 and len(reads) == n
    token = CancelToken()
    token.cancel()
    with pytest.raises(CancelledError):
        ImageCache(tmp_path / "other", resize=24).warm(recs, cancel=token)


def test_direct_loader_decodes_every_time(tmp_path, reads):
    rec = _record(tmp_path / "a.png", _image(50, 80))
    loader = DirectLoader(40, keep_aspect=True)
    assert loader.load(rec).shape == (40, 64, 3)
    loader.load(rec)
    assert len(reads) == 2
    with pytest.raises(ConfigError):
        DirectLoader(0)
    assert resize_image(_image(80, 50), 40, keep_aspect=True).shape == (64, 40, 3)


# --- transforms ------------------------------------------------------------------------------------
def _smooth(size: int = 72, seed: int = 0) -> np.ndarray:
    """An asymmetric, textured picture so every augmentation is visible."""
    img = _image(size, size, seed).astype(np.float32)
    img[: size // 3] *= 0.4
    img[:, : size // 4, 0] = 255
    return img.astype(np.uint8)


@pytest.mark.parametrize("normalize", ["imagenet", "unit"])
def test_transform_shape_dtype_and_normalisation(normalize):
    tf = build_transform(None, train=False, image_size=64, normalize=normalize)
    x = tf(_smooth(72))
    assert type(x) is torch.Tensor and x.shape == (3, 64, 64) and x.dtype == torch.float32
    if normalize == "unit":
        assert 0.0 <= x.min() and x.max() <= 1.0
    else:
        white = tf(np.full((64, 64, 3), 255, np.uint8))
        expected = [(1 - m) / s for m, s in zip(IMAGENET_MEAN, IMAGENET_STD)]
        assert torch.allclose(white[:, 0, 0], torch.tensor(expected))
    assert tf(_smooth(72)[:, :50]).shape == (3, 64, 64)  # keep-aspect input: centre crop


def test_imagenet_constants_match_timm():
    from timm.data.constants import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD

    assert (IMAGENET_MEAN, IMAGENET_STD) == (IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD)


def test_bad_settings_raise():
    with pytest.raises(ConfigError, match="data.normalize: got 'zscore'; allowed values are 'imagenet' or 'unit'"):
        build_transform(None, train=False, image_size=64, normalize="zscore")
    for bad in ({"hue": 0.9}, {"blur": 2.0}, {"rotation": -5}, {"random_resized_crop": True, "crop_scale": [0.9, 0.5]}):
        with pytest.raises(ConfigError):
            build_transform(AugmentConfig(**bad), train=True, image_size=64, normalize="unit")


def test_eval_and_disabled_augmentation_are_deterministic():
    img = _smooth()
    ev = build_transform(AugmentConfig(hflip=True, rotation=30), train=False, image_size=64, normalize="imagenet")
    off = build_transform(AugmentConfig(), train=True, image_size=64, normalize="imagenet")
    outs = []
    for seed in range(3):
        torch.manual_seed(seed)
        outs += [ev(img), off(img)]
    assert all(torch.equal(outs[0], o) for o in outs)


AUGMENTATIONS = {"hflip": {"hflip": True}, "vflip": {"vflip": True}, "rot90": {"rot90": True},
                 "rotation": {"rotation": 30.0}, "shift": {"shift": 0.2}, "zoom": {"zoom": 0.3},
                 "color_jitter": {"color_jitter": 0.4}, "hue": {"hue": 0.2},
                 "random_resized_crop": {"random_resized_crop": True}, "random_crop": {"random_crop": True},
                 "blur": {"blur": 1.0}, "random_erasing": {"random_erasing": 1.0}}


@pytest.mark.parametrize("name", AUGMENTATIONS)
def test_each_augmentation_changes_the_output(name):
    img = _smooth(72)
    reference = build_transform(None, train=False, image_size=64, normalize="imagenet")(img)
    tf = build_transform(AugmentConfig(**AUGMENTATIONS[name]), train=True, image_size=64, normalize="imagenet")
    outs = []
    for seed in range(4):
        torch.manual_seed(seed)
        out = tf(img)
        assert out.shape == (3, 64, 64) and out.dtype == torch.float32
        outs.append(out)
    assert any(not torch.equal(o, reference) for o in outs)
    torch.manual_seed(0)
    assert torch.equal(tf(img), outs[0])  # repeatable under a fixed torch seed
    steps = describe_transform(AugmentConfig(**AUGMENTATIONS[name]), train=True, image_size=64, normalize="imagenet")
    assert steps != describe_transform(None, train=True, image_size=64, normalize="imagenet")


def test_describe_transform_lists_steps():
    aug = AugmentConfig(hflip=True, color_jitter=0.2, random_crop=True)
    steps = describe_transform(aug, train=True, image_size=224, normalize="imagenet")
    assert any("horizontal flip" in s for s in steps) and any("colour jitter" in s for s in steps)
    assert any("random crop 224x224" in s for s in steps) and any("ImageNet" in s for s in steps)
    assert not any("random" in s for s in describe_transform(aug, train=False, image_size=224, normalize="unit"))


def test_tta_views():
    x = torch.rand(2, 3, 16, 16)
    views = tta_views(x)
    assert len(views) == 7 and all(v.shape == x.shape for v in views)
    same = {(i, j) for i in range(7) for j in range(i + 1, 7) if torch.equal(views[i], views[j])}
    assert same == {(3, 5)}  # S3's h+v flip is the 180-degree rotation
    d4 = tta_views(x, "d4")
    assert len(d4) == 8 and all(not torch.equal(d4[i], d4[j]) for i in range(8) for j in range(i + 1, 8))
    with pytest.raises(ConfigError):
        tta_views(x, "d8")


# --- dataset, sampler, class weights ---------------------------------------------------------------
class _MemoryLoader:
    def load(self, record: ImageRecord) -> np.ndarray:
        return np.full((40, 40, 3), int(record.path), np.uint8)


def test_dataset_items_and_weighted_sampler():
    records = [ImageRecord(path=str(i), label="minor" if i < 10 else "major") for i in range(100)]
    tf = build_transform(None, train=False, image_size=32, normalize="unit")
    ds = HistoDataset(records, ["major", "minor"], _MemoryLoader(), tf)
    x, y, i = ds[3]
    assert x.shape == (3, 32, 32) and y.dtype == torch.int64 and int(y) == 1 and i == 3
    assert ds.targets.count(1) == 10 and len(ds) == 100
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=8)))
    assert batch[0].shape == (8, 3, 32, 32) and batch[1].dtype == torch.int64
    sampler = make_weighted_sampler(ds.targets, seed=0)
    drawn = [ds.targets[j] for _ in range(20) for j in sampler]
    assert 0.4 < Counter(drawn)[1] / len(drawn) < 0.6  # minority oversampled from 10% to ~50%
    assert list(make_weighted_sampler(ds.targets, 0)) == list(make_weighted_sampler(ds.targets, 0))
    assert list(make_weighted_sampler(ds.targets, 0)) != list(make_weighted_sampler(ds.targets, 1))
    with pytest.raises(DataError):
        HistoDataset(records, ["major"], _MemoryLoader(), tf)


@pytest.mark.parametrize("targets", [[0] * 70 + [1] * 30, [0] * 5 + [1] * 50 + [2] * 13, [2, 1, 0, 0]])
def test_balanced_class_weights_match_sklearn(targets):
    from sklearn.utils.class_weight import compute_class_weight

    expected = compute_class_weight("balanced", classes=np.unique(targets), y=np.array(targets))
    got = class_weights_balanced(targets, len(set(targets)))
    assert got.dtype == torch.float32 and np.allclose(got.numpy(), expected)


def test_affine_augmentation_leaves_no_black_corners():
    """Black corners exist only in training images and are a learnable shortcut."""
    from engine.data.transforms import build_transform
    from engine.training.config import AugmentConfig

    img = np.full((64, 96, 3), 200, np.uint8)
    img[::5] = 120
    tf = build_transform(AugmentConfig(rotation=45, shift=0.3, zoom=0.3), train=True, image_size=64, normalize="unit")
    torch.manual_seed(0)
    lows = [float(tf(img).min()) for _ in range(50)]
    assert min(lows) >= 100 / 255
