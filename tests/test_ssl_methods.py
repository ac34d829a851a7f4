"""engine.ssl methods through the SSLMethod interface, parametrised over the "ssl" registry.

Tiny encoder (basic_cnn at 32 px, 8 images) so every method runs in about a second.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from engine import registry
from engine.errors import ConfigError
from engine.models import create_model
from engine.ssl.base import SSLMethod
from engine.ssl.methods import create_method
from engine.ssl.momentum import cosine_schedule
from engine.ssl.views import preview_pairs

SIZE, BATCH = 32, 8
METHODS = [n for n in registry.names("ssl") if not registry.meta("ssl", n).get("loop")]
# Narrow heads keep the tests fast on CPU (the paper widths are checked in test_default_head_widths).
SMALL = {"simclr": {"proj_hidden": 64, "proj_dim": 32},
         "byol": {"proj_hidden": 128, "proj_dim": 32, "pred_hidden": 128},
         "dino": {"out_dim": 64, "n_local_crops": 2, "hidden_dim": 128, "bottleneck_dim": 32},
         "mocov3": {"proj_hidden": 128, "proj_dim": 32, "pred_hidden": 128}}
S4 = {"simclr": (3e-4, 1e-6, 1e-3, 1e-3), "byol": (1e-4, 1e-4, 1e-3, 1e-4), "dino": (1e-4, 1e-6, 3e-3, 1e-4),
      "mocov3": (1e-3, 1e-4, 3e-3, 5e-4)}


def _method(name: str, seed: int = 0, encoder: str = "basic_cnn", **kw) -> SSLMethod:
    torch.manual_seed(seed)
    enc = create_model(encoder, 2, image_size=SIZE)
    return create_method(name, enc, **{**SMALL.get(name, {}), **kw})


def _images(n=BATCH, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (40, 48, 3), dtype=np.uint8) for _ in range(n)]


def _batch(method: SSLMethod, seed=0) -> list[torch.Tensor]:
    torch.manual_seed(seed)
    transform = method.view_transform(SIZE)
    per_image = [transform(img) for img in _images(seed=seed)]
    return [torch.stack(v) for v in zip(*per_image)]


def test_registry_and_s4_defaults():
    assert METHODS == ["simclr", "byol", "dino", "mocov3"]
    for name, (lr, wd, probe, finetune) in S4.items():
        meta = registry.meta("ssl", name)
        d = meta["defaults"]
        assert (d["lr"], d["weight_decay"], d["probe_lr"], d["finetune_lr"]) == (lr, wd, probe, finetune)
        assert d["optimizer"] == "adamw" and meta["label"] and meta["paper"]
    assert registry.meta("ssl", "simclr")["defaults"]["temperature"] == 0.5
    assert registry.meta("ssl", "mocov3")["defaults"]["temperature"] == 0.2
    assert registry.meta("ssl", "byol")["defaults"]["momentum"] == 0.996
    with pytest.raises(ConfigError, match="Unknown setting"):
        _method("simclr", temprature=0.1)


def test_default_head_widths():
    """Heads built with DEFAULTS have S4's widths (D = 256 for basic_cnn)."""
    def linears(module):
        return [(m.in_features, m.out_features) for m in module.modules() if isinstance(m, torch.nn.Linear)]

    torch.manual_seed(0)
    enc = create_model("basic_cnn", 2, image_size=SIZE)
    assert linears(create_method("simclr", enc).head) == [(256, 512), (512, 128)]
    byol = create_method("byol", enc)
    assert linears(byol.projector) == [(256, 4096), (4096, 256)]
    assert linears(byol.predictor) == [(256, 4096), (4096, 256)]
    moco = create_method("mocov3", enc)
    assert linears(moco.projector) == [(256, 4096), (4096, 4096), (4096, 256)]
    assert linears(moco.predictor) == [(256, 4096), (4096, 256)]
    dino = create_method("dino", enc)
    assert linears(dino.head.mlp) == [(256, 2048), (2048, 2048), (2048, 256)]
    assert tuple(dino.head.last_weight.shape) == (4096, 256) and dino.n_views == 8


@pytest.mark.parametrize("name", METHODS)
def test_views(name):
    m = _method(name)
    views = m.view_transform(SIZE)(_images(1)[0])
    assert len(views) == m.n_views
    assert all(v.dtype == torch.float32 for v in views)
    assert all(tuple(v.shape) == (3, SIZE, SIZE) for v in views)  # basic_cnn: fixed input size (DINO falls back)
    assert not torch.equal(views[0], views[1]), "two draws of the augmentation must differ"


def test_dino_multicrop_sizes():
    m = _method("dino", encoder="p4m_cnn", n_local_crops=3)  # accepts any input size
    views = m.view_transform(SIZE)(_images(1)[0])
    assert [tuple(v.shape[-2:]) for v in views] == [(32, 32)] * 2 + [(14, 14)] * 3  # round(32 * 3/7) = 14
    out = m.training_step([v.unsqueeze(0).repeat(4, 1, 1, 1) for v in views])
    assert torch.isfinite(out["loss"])


@pytest.mark.parametrize("name", METHODS)
def test_training_step_gradients_and_targets(name):
    m = _method(name).train()
    views = _batch(m)
    out = m.training_step(views)
    loss = out["loss"]
    assert loss.ndim == 0 and torch.isfinite(loss)
    loss.backward()
    trainable = {id(p) for p in m.trainable_parameters()}
    assert trainable and all(p.requires_grad for p in m.trainable_parameters())
    head = {id(p) for p in m.encoder.head.parameters()}
    assert not trainable & head, "the encoder's classifier is unused in pretraining"
    for pname, p in m.named_parameters():
        if id(p) in trainable:
            assert p.grad is not None and torch.isfinite(p.grad).all(), pname
        else:
            assert p.grad is None, pname
    targets = m.target_pairs()
    assert bool(targets) == (name != "simclr")
    modules = [mod for target, _ in targets for mod in target.modules()]
    for target, _ in targets:
        assert not any(id(p) in trainable or p.requires_grad for p in target.parameters())
    bns = [mod for mod in modules if isinstance(mod, torch.nn.modules.batchnorm._BatchNorm)]
    assert bool(bns) == bool(targets) and all(bn.training for bn in bns)  # target BatchNorm: batch statistics
    assert not any(mod.training for mod in modules if isinstance(mod, torch.nn.Dropout))


@pytest.mark.parametrize("name", [n for n in METHODS if n != "simclr"])
def test_ema_moves_target_toward_online(name):
    m = _method(name).train()
    opt = torch.optim.SGD(m.trainable_parameters(), lr=0.5)
    m.training_step(_batch(m))["loss"].backward()
    opt.step()
    target, online = m.target_pairs()[0]
    before = [t.clone() for t in target.parameters()]
    gap = sum(float((t - o).detach().abs().sum()) for t, o in zip(target.parameters(), online.parameters()))
    assert gap > 0
    m.on_train_batch_end(0, 100)
    mom = m.hparams["momentum"]
    assert m.last_momentum == pytest.approx(mom)
    for b, t, o in zip(before, target.parameters(), online.parameters()):
        assert torch.allclose(t, mom * b + (1 - mom) * o, atol=1e-6)
    gap_after = sum(float((t - o).detach().abs().sum()) for t, o in zip(target.parameters(), online.parameters()))
    assert gap_after == pytest.approx(mom * gap, rel=1e-4)
    assert float(m.progress) == pytest.approx(0.01)


def test_cosine_momentum_schedule():
    assert cosine_schedule(0, 100, 0.996) == pytest.approx(0.996)
    assert cosine_schedule(99, 100, 0.996) == pytest.approx(1.0)
    assert cosine_schedule(33, 67, 0.99) == pytest.approx(0.995)
    values = [cosine_schedule(s, 50, 0.9) for s in range(50)]
    assert values == sorted(values)


@pytest.mark.parametrize("name", METHODS)
def test_optimisation_lowers_loss_on_a_fixed_batch(name):
    # simple_cnn has no Dropout, so the loss of a fixed batch is a deterministic function of the weights.
    # DINO: teacher and centre held fixed (momentum 1) - with them moving, DINO's loss may rise early on.
    fixed = {"momentum": 1.0, "center_momentum": 1.0} if name == "dino" else {}
    m = _method(name, encoder="simple_cnn", **fixed).train()
    views = _batch(m)
    opt = torch.optim.Adam(m.trainable_parameters(), lr=1e-3)
    losses = []
    for step in range(6):
        loss = m.training_step(views)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        m.on_train_batch_end(step, 6)
        losses.append(float(loss.detach()))
    assert losses[-1] < losses[0], losses


@pytest.mark.parametrize("name", METHODS)
def test_state_dict_round_trip_and_encoder_weights(name, tmp_path):
    m = _method(name, seed=0)
    m.train()
    m.training_step(_batch(m))  # moves BatchNorm statistics and the DINO centre
    m.on_train_batch_end(3, 10)
    other = _method(name, seed=1)
    other.load_state_dict(m.state_dict())
    for (k, a), b in zip(m.state_dict().items(), other.state_dict().values()):
        assert torch.equal(a, b), k
    m.eval(), other.eval()
    views = _batch(m, seed=2)
    with torch.no_grad():
        assert torch.allclose(m.training_step(views)["loss"], other.training_step(views)["loss"])
    path = tmp_path / "encoder.safetensors"
    save_file({k: v.contiguous() for k, v in m.encoder_state_dict().items()}, str(path))
    enc = create_model("basic_cnn", 2, image_size=SIZE, pretrained=str(path)).eval()
    x = views[0][:2]
    assert torch.allclose(enc.forward_features(x), m.embed(x), atol=1e-6)
    assert m.embed(x).shape == (2, m.encoder.feature_dim) and not m.embed(x).requires_grad


@pytest.mark.parametrize("name", METHODS)
def test_preview_pairs(name):
    image = _images(1)[0]
    samples = preview_pairs(name, image, n=3, image_size=24, seed=5)
    assert len(samples) == 3
    n_views = len(samples[0])
    assert n_views == (8 if name == "dino" else 2)  # DINO default: 2 global + 6 local
    for views in samples:
        assert all(v.dtype == np.uint8 and v.ndim == 3 and v.shape[2] == 3 for v in views)
        assert views[0].shape == (24, 24, 3)
    again = preview_pairs(name, image, n=3, image_size=24, seed=5)
    assert all(np.array_equal(a, b) for s, t in zip(samples, again) for a, b in zip(s, t))
    other = preview_pairs(name, image, n=1, image_size=24, seed=6)
    assert not np.array_equal(other[0][0], samples[0][0])
    if name == "dino":
        assert samples[0][2].shape == (10, 10, 3)  # round(24 * 3 / 7)
