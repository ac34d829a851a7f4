"""S5 backbones: the P4M group-equivariant CNN and AlexNet on a fixed Sobel input."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from engine.models import create_model
from engine.models.p4m import GROUP_SIZE, INV, MUL, AntiAliasedPool, P4MCNN, P4MConv2d, act
from engine.models.sobel_alexnet import SobelFilter
from engine.ssl.methods import create_method


def _x(chans: int, size: int, batch: int = 2, dtype=torch.float64) -> torch.Tensor:
    return torch.randn(batch, chans, size, size, generator=torch.Generator().manual_seed(size), dtype=dtype)


def _orbit(x: torch.Tensor) -> torch.Tensor:
    """The 8 transformed copies of the batch ``x`` stacked in one batch (element-major)."""
    return torch.cat([act(x, g) for g in range(GROUP_SIZE)])


@pytest.mark.parametrize("size,chans", [(16, 3), (17, 1)])
def test_p4m_features_invariant_to_the_8_rotations_and_flips(size, chans):
    """Exact (float64) invariance for even and odd sizes, on a narrow P4M CNN."""
    torch.manual_seed(0)
    model = P4MCNN(3, in_chans=chans, widths=(4, 8, 8)).double().eval()
    x = _x(chans, size, batch=1)
    with torch.no_grad():
        feats = model.forward_features(_orbit(x)).view(GROUP_SIZE, 1, -1)
        assert feats.shape[-1] == model.feature_dim and feats.abs().max() > 1e-3
        for g in range(GROUP_SIZE):
            assert torch.allclose(feats[g], feats[0], atol=1e-10), f"element {g}"
        logits = model(_orbit(x)).view(GROUP_SIZE, 1, -1)
        assert torch.allclose(logits, logits[:1].expand_as(logits), atol=1e-10)


def test_p4m_default_config_is_invariant():
    """The registry's default p4m_cnn in float32 (rel 1e-3), via create_model."""
    torch.manual_seed(0)
    model = create_model("p4m_cnn", 2, image_size=24).eval()
    assert model.feature_dim == 64
    with torch.no_grad():
        feats = model.forward_features(_orbit(_x(3, 24, dtype=torch.float32))).view(GROUP_SIZE, 2, -1)
    assert torch.allclose(feats, feats[:1].expand_as(feats), rtol=1e-3, atol=1e-5)


def test_p4m_layers_are_equivariant_and_pooling_design_matters():
    """A group conv maps act(x, h) to act(y, h) with the group axis permuted; a naive stride-2 blur on an
    even-sized map (centre not kept) breaks the rotation invariance the parity-matched blur keeps."""
    torch.manual_seed(0)
    conv = P4MConv2d(2, 3, lifting=False).double()
    y = _x(2 * GROUP_SIZE, 9)
    out = conv(y)
    h = 1  # a quarter turn
    rotated_in = act(y.view(2, 2, GROUP_SIZE, 9, 9), h)
    perm_in = [MUL[INV[h]][g] for g in range(GROUP_SIZE)]
    rotated_in = rotated_in[:, :, perm_in].reshape(2, 2 * GROUP_SIZE, 9, 9)
    expected = act(out.view(2, 3, GROUP_SIZE, 9, 9), h)[:, :, perm_in].reshape(out.shape)
    assert torch.allclose(conv(rotated_in), expected, atol=1e-10)

    x = _x(1, 16)
    pool = AntiAliasedPool(1).double()
    assert torch.allclose(pool(act(x, 1)), act(pool(x), 1), atol=1e-12)
    naive = nn.functional.avg_pool2d(x, 3, stride=2, padding=1)  # samples rows 0, 2, ... of an even map
    assert not torch.allclose(nn.functional.avg_pool2d(act(x, 1), 3, stride=2, padding=1), act(naive, 1))


def test_ordinary_cnn_is_not_invariant():
    """Control: the invariance test can fail (a plain CNN's features change under rotation)."""
    torch.manual_seed(0)
    model = create_model("alexnet_sobel", 2, image_size=32, head_hidden=64).double().eval()
    x = _x(3, 32)
    with torch.no_grad():
        assert not torch.allclose(model.forward_features(act(x, 1)), model.forward_features(x), atol=1e-4)


def test_alexnet_sobel_fixed_filter_and_shapes():
    torch.manual_seed(0)
    model = create_model("alexnet_sobel", 2, image_size=64, head_hidden=128)
    sobel = model.backbone.sobel
    assert isinstance(sobel, SobelFilter) and not list(sobel.parameters())
    model.set_trainable("all")
    assert all(p.requires_grad for p in model.parameters()) and not list(sobel.parameters())
    # a horizontal ramp: constant x gradient (-8 * slope inside, Sobel x kernel), zero y gradient
    ramp = torch.arange(10.0).repeat(10, 1).expand(1, 3, 10, 10)
    grads = sobel(ramp)
    assert grads.shape == (1, 2, 10, 10)
    assert torch.allclose(grads[0, 0, 1:-1, 1:-1], torch.full((8, 8), -8.0))
    assert torch.allclose(grads[0, 1, 1:-1, 1:-1], torch.zeros(8, 8), atol=1e-5)
    before = sobel.weight.clone()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    model.train()
    model(torch.randn(2, 3, 64, 64)).sum().backward()
    opt.step()
    assert torch.equal(sobel.weight, before)
    assert model.feature_dim == 128 and model.forward_features(torch.randn(2, 3, 64, 64)).shape == (2, 128)
    assert "backbone.sobel.weight" not in model.state_dict()
    gray = create_model("alexnet_sobel", 4, image_size=32, in_chans=1, head_hidden=32).eval()
    assert gray(torch.randn(1, 1, 32, 32)).shape == (1, 4)
    big = create_model("alexnet_sobel", 2, image_size=224, head_hidden=64).eval()
    with torch.no_grad():  # AlexNet geometry at 224: 6x6x256 entering FC6
        assert big.backbone.fc6[1].in_features == 256 * 6 * 6
        assert big.backbone[:6](torch.randn(1, 3, 224, 224)).shape == (1, 256, 6, 6)


@pytest.mark.parametrize("backbone,chans", [("p4m_cnn", 1), ("alexnet_sobel", 3)])
def test_backbones_train_through_an_ssl_method(backbone, chans):
    torch.manual_seed(0)
    kw = {"head_hidden": 64} if backbone == "alexnet_sobel" else {}
    encoder = create_model(backbone, 2, image_size=32, in_chans=chans, **kw)
    method = create_method("byol", encoder, proj_hidden=64, proj_dim=16, pred_hidden=64).train()
    image = torch.randint(0, 256, (40, 40, 3), dtype=torch.uint8).numpy()
    transform = method.view_transform(32)
    views = [torch.stack(v) for v in zip(*[transform(image) for _ in range(4)])]
    assert [tuple(v.shape) for v in views] == [(4, chans, 32, 32)] * 2  # grayscale views for 1-channel encoders
    loss = method.training_step(views)["loss"]
    loss.backward()
    assert torch.isfinite(loss)
    assert all(p.grad is not None for p in method.trainable_parameters())
    method.on_train_batch_end(0, 10)


@pytest.mark.parametrize("backbone", ["p4m_cnn", "alexnet_sobel"])
def test_backbones_export_to_onnx(backbone, tmp_path):
    """Fixed-shape kernels and whole-factor pooling keep both exportable (TorchScript exporter, dynamic batch)."""
    ort = pytest.importorskip("onnxruntime")
    torch.manual_seed(0)
    model = create_model(backbone, 2, image_size=32, **({"head_hidden": 32} if backbone == "alexnet_sobel" else {}))
    model.eval()
    x = torch.randn(2, 3, 32, 32)
    path = tmp_path / "m.onnx"
    torch.onnx.export(model, (x,), str(path), dynamo=False, opset_version=17, input_names=["x"],
                      dynamic_axes={"x": {0: "batch"}})
    x3 = torch.randn(3, 3, 32, 32)
    got = ort.InferenceSession(str(path)).run(None, {"x": x3.numpy()})[0]
    with torch.no_grad():
        assert abs(got - model(x3).numpy()).max() < 1e-4
