"""CAM registry: every method on small CNNs, every model family with the fast methods.

Coverage (to keep the suite fast): all five methods on basic_cnn (single
logit) and simple_cnn (3 classes); every model family (resnet18, vgg16,
mobilenetv2, efficientnetv2_s, vit_b16, hybrid) with gradcam and eigencam on
one image (plus gradcam++ and layercam on resnet18 and mobilenetv2). Score-CAM
(one forward pass per channel) runs only on the small CNNs.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.errors import ConfigError
from engine.explain.cams import compute_cams
from engine.models import create_model
from engine.registry import meta, names

METHODS = ["gradcam", "gradcam++", "eigencam", "scorecam", "layercam"]
FAST = ["gradcam", "eigencam"]
ALL_FAST = ["gradcam", "gradcam++", "eigencam", "layercam"]
# smallest size with a CAM map of at least 2 x 2 (ViT at 32 px = 2 x 2 patches)
FAMILIES = {"resnet18": 64, "vgg16": 64, "mobilenetv2": 64, "efficientnetv2_s": 64, "vit_b16": 32,
            "hybrid_effnetv2s_vitb16": 64}
_MODELS: dict = {}


def model(name: str, size: int, num_classes: int = 2, single: bool = True):
    """A seeded random model, built once per test session."""
    key = (name, size, num_classes, single)
    if key not in _MODELS:
        torch.manual_seed(0)
        _MODELS[key] = create_model(name, num_classes, image_size=size, binary_single_logit=single).eval()
    return _MODELS[key]


def batch(size: int, n: int = 2, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, size, size, generator=g)
    x[:, :, : size // 2, : size // 2] += 2.0  # some structure, so maps are not flat
    return x


def check(cams: np.ndarray, n: int, size: int) -> None:
    assert cams.shape == (n, size, size) and cams.dtype == np.float32
    assert np.isfinite(cams).all() and cams.min() >= 0.0 and cams.max() <= 1.0


def test_registry_lists_the_five_methods_with_meta():
    assert names("cam") == METHODS
    for name in METHODS:
        info = meta("cam", name)
        assert info["label"] and info["description"] and "20" in info["paper"]
        assert info["needs_gradients"] == (name in ("gradcam", "gradcam++", "layercam"))


@pytest.mark.parametrize("method", METHODS)
def test_every_method_on_small_cnns_binary_and_multiclass(method):
    binary, multi = model("basic_cnn", 32), model("simple_cnn", 32, 3, single=False)
    x = batch(32)
    for m in (binary, multi):
        cams = compute_cams(m, x, method=method, batch_size=2)
        check(cams, 2, 32)
        assert cams.std(axis=(1, 2)).min() > 0.01, f"{method} gave a flat map"
        assert cams.max() > 0.99  # min-max scaled per image
    # an explicit target changes gradient/score-based maps (EigenCAM ignores targets)
    a = compute_cams(multi, x, method=method, targets=0, batch_size=2)
    b = compute_cams(multi, x, method=method, targets=[2, 2], batch_size=2)
    assert (np.abs(a - b).max() > 1e-3) == (method != "eigencam")


@pytest.mark.parametrize("name", list(FAMILIES))
def test_every_model_family_with_the_fast_methods(name):
    size = FAMILIES[name]
    m = model(name, size)
    x = batch(size, n=1)
    for method in ALL_FAST if name in ("resnet18", "mobilenetv2") else FAST:
        cams = compute_cams(m, x, method=method)
        check(cams, 1, size)
        if method == "eigencam":
            assert cams.std() > 0.01  # activations always have structure


def test_default_target_is_the_predicted_class_single_logit_and_multiclass():
    x = batch(32, n=6, seed=3)
    for m in (model("basic_cnn", 32), model("simple_cnn", 32, 3, single=False)):
        with torch.no_grad():
            logits = m(x)
        pred = (logits[:, 0] > 0).long().tolist() if logits.shape[1] == 1 else logits.argmax(1).tolist()
        np.testing.assert_allclose(compute_cams(m, x), compute_cams(m, x, targets=pred), atol=1e-6)
    # single logit: class 0 explains the negative logit, so its map differs from class 1's
    m = model("basic_cnn", 32)
    assert np.abs(compute_cams(m, x, targets=0) - compute_cams(m, x, targets=1)).max() > 0.1


def test_batching_and_layer_override():
    m = model("basic_cnn", 32)
    x = batch(32, n=5, seed=1)
    one, many = compute_cams(m, x, batch_size=1), compute_cams(m, x, batch_size=4)
    np.testing.assert_allclose(one, many, atol=1e-5)
    block2 = compute_cams(m, x, layer=m.backbone.block2)
    check(block2, 5, 32)
    assert np.abs(block2 - one).max() > 0.05
    both = compute_cams(m, x, layer=[m.backbone.block2, m.backbone.block3])  # several layers: input gradients
    check(both, 5, 32)


def test_model_state_is_restored_and_frozen_backbones_still_get_gradients():
    m = create_model("resnet18", 2, image_size=64)
    m.set_trainable("head")
    m.train()
    flags = [p.requires_grad for p in m.parameters()]
    head = next(m.head.parameters())
    head.grad = torch.ones_like(head)
    hooks = sum(len(mod._forward_hooks) for mod in m.modules())
    cams = compute_cams(m, batch(64), method="gradcam++")
    assert cams.max() > 0.99  # gradients reached the frozen layer4
    assert m.training and not m.backbone.bn1.training  # frozen BN stays in eval mode
    assert flags == [p.requires_grad for p in m.parameters()]
    assert torch.equal(head.grad, torch.ones_like(head)) and all(
        p.grad is None for p in m.backbone.parameters())
    assert sum(len(mod._forward_hooks) for mod in m.modules()) == hooks  # hooks released


def test_zero_activations_give_zero_maps_not_nan():
    m = model("basic_cnn", 32)
    handle = m.backbone.block3.register_forward_hook(lambda _m, _i, out: out * 0)
    try:
        for method in ("gradcam", "eigencam", "layercam"):
            cams = compute_cams(m, batch(32), method=method)
            assert np.isfinite(cams).all() and cams.max() == 0.0
    finally:
        handle.remove()


def test_bad_targets_and_methods_are_config_errors():
    m = model("basic_cnn", 32)
    with pytest.raises(ConfigError):
        compute_cams(m, batch(32), targets=2)
    with pytest.raises(ConfigError):
        compute_cams(m, batch(32), targets=[0, 1, 1])
    with pytest.raises(ConfigError):
        compute_cams(m, batch(32), method="nope")
