"""engine.models: one interface for every registry model (timm's tests/test_models.py style).

Each registry model is built once (module-scoped fixture, small images) and
checked for shapes, the forward split, classifier reset, CAM target,
freezing and parameter groups; then S1, S2 and S3 structures are checked
layer by layer against shared/reference/methods.md.
"""

from __future__ import annotations

import pytest
import timm
import torch
from torch import nn

from engine.errors import ConfigError
from engine.models import HistoModel, create_model, model_info, model_names
from engine.registry import names

SIZE = 64  # every registry model accepts 64 px (ViT via img_size), which keeps the suite fast
ALL = names("model")
HYBRID = "hybrid_effnetv2s_vitb16"


@pytest.fixture(scope="module", params=ALL)
def model(request) -> HistoModel:
    """Each registry model once per module (pytest groups tests by this param)."""
    torch.manual_seed(0)
    m = create_model(request.param, 2, image_size=SIZE)
    m.eval()
    yield m
    del m


def _x(batch: int = 2) -> torch.Tensor:
    return torch.randn(batch, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(1))


def _trainable(module: nn.Module) -> set[int]:
    return {id(p) for p in module.parameters() if p.requires_grad}


def _ids(modules) -> set[int]:
    return {id(p) for m in modules for p in m.parameters()}


def test_registry_lists_every_model():
    expected = {"basic_cnn", "simple_cnn", "resnet18", "resnet50", "resnet101", "vgg16", "mobilenetv2",
                "mobilenetv3", "efficientnetv2_s", "vit_b16", HYBRID, "alexnet_sobel", "p4m_cnn"}
    assert set(ALL) == expected and model_names() == ALL
    pretrained = set(timm.list_pretrained())
    for name in ALL:
        info = model_info(name)
        assert info["family"] and info["default_size"] == 224 and info["description"]
        for tag in (info["pretrained_tag"] or "").split("+"):
            assert not tag or tag in pretrained, f"{name}: {tag} is not a timm pretrained tag"


def test_forward_shapes_and_split(model):
    x = _x()
    with torch.no_grad():
        feats = model.forward_features(x)
        out = model(x)
        assert torch.allclose(out, model.forward_head(feats), atol=1e-5)
    assert feats.shape == (2, model.feature_dim)
    assert out.shape == (2, 1) and model.num_outputs == 1 and model.num_classes == 2
    assert model.name in ALL and torch.isfinite(out).all()


def test_reset_classifier(model):
    x = _x()
    with torch.no_grad():
        before = model(x)
        model.reset_classifier(3)
        assert model(x).shape == (2, 3) and model.num_outputs == 3 and model.num_classes == 3
        model.reset_classifier(2, binary_single_logit=False)
        assert model(x).shape == (2, 2) and model.num_outputs == 2
        model.reset_classifier(4, head_hidden=16, dropout=0.1)
        assert model(x).shape == (2, 4)
        assert any(isinstance(m, nn.Linear) and m.out_features == 16 for m in model.head.modules())
        model.reset_classifier(2)
        assert model(x).shape == (2, 1)
        assert not torch.allclose(before, model(x)), "a fresh head must change the outputs"


def test_cam_target_layer(model):
    target = model.cam_target_layer()
    assert any(target is m for m in model.modules())
    seen = {}
    handle = target.register_forward_hook(lambda _m, _i, out: seen.setdefault("act", out))
    try:
        model(_x(1)).sum().backward()
    finally:
        handle.remove()
        model.zero_grad(set_to_none=True)
    act = seen["act"]
    assert act.requires_grad
    reshape = model.cam_reshape_transform
    if reshape is None:
        assert act.ndim == 4
    else:
        assert act.ndim == 3
        grid = reshape(act)
        assert grid.ndim == 4 and grid.shape[:2] == (1, act.shape[-1])
        assert grid.shape[2] * grid.shape[3] == act.shape[1] - 1


def test_parts_blocks_and_head_cover_all_parameters(model):
    parts, blocks = model.backbone_parts(), model.backbone_blocks()
    assert list(parts) == list(blocks) and all(len(b) >= 2 for b in blocks.values())
    head = _ids(model.head_modules())
    backbone = _ids(parts.values())
    assert head and not (head & backbone)
    assert head | backbone == {id(p) for p in model.parameters()}
    for part, part_blocks in blocks.items():
        in_part = _ids([parts[part]])
        block_ids = [_ids([b]) for b in part_blocks]
        assert all(ids and ids <= in_part for ids in block_ids)
        assert sum(len(ids) for ids in block_ids) == len(set().union(*block_ids)), "blocks overlap"


def test_set_trainable_and_param_groups(model):
    head, everything = _ids(model.head_modules()), {id(p) for p in model.parameters()}
    try:
        model.set_trainable("head")
        assert _trainable(model) == head
        groups = model.param_groups(1e-3, 1e-5)
        assert [g["name"] for g in groups] == ["head"] and groups[0]["lr"] == 1e-3
        model.train()
        part_bns = [m for p in model.backbone_parts().values() for m in p.modules()
                    if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        assert all(not bn.training for bn in part_bns), "frozen BatchNorm must stay in eval mode"
        assert all(m.training for m in model.head_modules())

        model.set_trainable({"last": 1})
        partial = _trainable(model)
        assert head < partial < everything
        groups = {g["name"]: g for g in model.param_groups(1e-3, 1e-5)}
        assert set(groups) == {"head", "backbone"} and groups["backbone"]["lr"] == 1e-5
        assert {id(p) for p in groups["backbone"]["params"]} == partial - head
        per_part = {part: {"last": 1} for part in model.backbone_parts()}
        model.set_trainable(per_part)
        assert _trainable(model) == partial

        model.set_trainable("all")
        assert _trainable(model) == everything
        assert all(bn.training for bn in part_bns)
        assert sum(len(g["params"]) for g in model.param_groups(1e-3)) == len(everything)
        with pytest.raises(ConfigError):
            model.set_trainable({"nope": "all"})
        with pytest.raises(ConfigError):
            model.set_trainable({"last": -1})
    finally:
        model.set_trainable("all")
        model.eval()


def test_frozen_batchnorm_keeps_running_stats():
    torch.manual_seed(0)
    m = create_model("resnet18", 2, image_size=SIZE)
    m.set_trainable({"last": 1})
    m.train()
    layer1_bn, layer4_bn = m.backbone.layer1[0].bn1, m.backbone.layer4[0].bn1
    stats = layer1_bn.running_mean.clone()
    m(_x())
    assert not layer1_bn.training and layer4_bn.training
    assert torch.equal(stats, layer1_bn.running_mean)


def test_random_init_is_deterministic():
    sds = []
    for _ in range(2):
        torch.manual_seed(123)
        sds.append(create_model("mobilenetv3", 2, image_size=SIZE).state_dict())
    assert all(torch.equal(sds[0][k], sds[1][k]) for k in sds[0])


def test_other_input_channels_and_errors():
    for name in ("basic_cnn", "resnet18"):
        m = create_model(name, 3, in_chans=1, image_size=32).eval()
        assert m(torch.randn(1, 1, 32, 32)).shape == (1, 3)
    with pytest.raises(ConfigError, match="Unknown model"):
        create_model("resnet9000")
    with pytest.raises(ConfigError, match="at least 2 classes"):
        create_model("basic_cnn", 1, image_size=32)
    with pytest.raises(ConfigError):
        create_model("basic_cnn", 2, image_size=4)


def _layers(seq: nn.Module) -> list[tuple]:
    """(type, key sizes) of the leaf layers, in order."""
    out = []
    for m in seq.modules():
        if isinstance(m, nn.Conv2d):
            out.append(("conv", m.in_channels, m.out_channels, m.kernel_size, m.padding))
        elif isinstance(m, nn.Linear):
            out.append(("linear", m.in_features, m.out_features))
        elif isinstance(m, nn.LayerNorm):
            out.append(("layernorm", m.normalized_shape[0]))
        elif isinstance(m, nn.Dropout):
            out.append(("dropout", m.p))
        elif isinstance(m, (nn.BatchNorm2d, nn.ReLU, nn.GELU, nn.MaxPool2d, nn.Flatten)):
            out.append((type(m).__name__,))
    return out


def test_s1_basic_cnn_structure():
    m = create_model("basic_cnn", 2, image_size=224)
    def block(cin, cout):
        return [("conv", cin, cout, (3, 3), (1, 1)), ("BatchNorm2d",), ("ReLU",), ("MaxPool2d",)]

    assert _layers(m.backbone) == (block(3, 32) + block(32, 64) + block(64, 128) + [
        ("Flatten",), ("linear", 100_352, 256), ("ReLU",), ("dropout", 0.5)])
    assert _layers(m.head) == [("linear", 256, 1)] and m.feature_dim == 256
    assert m.cam_target_layer() is m.backbone.block3
    small = create_model("basic_cnn", 2, image_size=SIZE, head_hidden=128)
    assert small.flat_features == 128 * 8 * 8 and small.feature_dim == 128


def test_s1_transfer_head():
    m = create_model("resnet50", 2, head_hidden=128, image_size=SIZE)
    assert _layers(m.head) == [("linear", 2048, 128), ("ReLU",), ("linear", 128, 1)]


def test_s2_simple_cnn_structure():
    m = create_model("simple_cnn", 3, image_size=224).eval()
    def block(cin, cout):
        return [("conv", cin, cout, (3, 3), (1, 1)), ("ReLU",), ("MaxPool2d",)]

    assert m.flat_features == 56 * 56 * 32 == 100_352
    assert _layers(m.backbone) == block(3, 16) + block(16, 32) + [
        ("Flatten",), ("linear", 100_352, 512), ("linear", 512, 128)]
    assert _layers(m.head) == [("linear", 128, 3)]
    assert m(torch.randn(1, 3, 224, 224)).shape == (1, 3)


@pytest.fixture(scope="module")
def hybrid() -> HistoModel:
    torch.manual_seed(0)
    return create_model(HYBRID, 2, binary_single_logit=False, image_size=32)


def test_s3_hybrid_structure(hybrid):
    assert isinstance(hybrid.effnet, timm.models.EfficientNet) and hybrid.effnet.global_pool.pool_type == "avg"
    assert isinstance(hybrid.vit, timm.models.VisionTransformer) and hybrid.vit.global_pool == "token"
    assert len(hybrid.vit.blocks) == 12 and hybrid.vit.embed_dim == 768
    assert hybrid.vit.patch_embed.patch_size == (16, 16)
    assert hybrid.feature_dim == 1280 + 768
    assert _layers(hybrid.fusion) == [("layernorm", 2048), ("linear", 2048, 1024), ("GELU",), ("layernorm", 1024),
                                      ("dropout", 0.6), ("linear", 1024, 1024)]
    assert _layers(hybrid.head) == [("layernorm", 1024), ("linear", 1024, 512), ("GELU",), ("dropout", 0.7),
                                    ("linear", 512, 2)]
    assert [type(m) for m in hybrid.fusion] == [nn.LayerNorm, nn.Linear, nn.GELU, nn.LayerNorm, nn.Dropout, nn.Linear]
    assert hybrid.cam_target_layer() is hybrid.effnet.bn2 and hybrid.cam_reshape_transform is None
    x = torch.randn(2, 3, 32, 32)
    hybrid.eval()
    with torch.no_grad():
        feats = hybrid.forward_features(x)
        assert torch.allclose(feats[:, :1280], hybrid.effnet(x)) and torch.allclose(feats[:, 1280:], hybrid.vit(x))
        assert hybrid(x).shape == (2, 2)


def test_s3_phases(hybrid):
    fusion_head = _ids([hybrid.fusion, hybrid.head])
    try:
        hybrid.set_trainable("head")  # phase 1: backbones frozen, fusion block + head trained
        assert _trainable(hybrid) == fusion_head
        hybrid.set_trainable({"effnet": {"last": 3}, "vit": {"last": 4}})  # phase 2
        vit, eff = hybrid.vit, hybrid.effnet
        assert all(p.requires_grad for b in vit.blocks[8:] for p in b.parameters())
        assert not any(p.requires_grad for b in vit.blocks[:8] for p in b.parameters())
        assert not vit.cls_token.requires_grad and not vit.pos_embed.requires_grad
        assert all(p.requires_grad for m in (eff.blocks[4], eff.blocks[5], eff.conv_head) for p in m.parameters())
        assert not any(p.requires_grad for p in eff.blocks[3].parameters())
        assert fusion_head <= _trainable(hybrid)
        names_ = [g["name"] for g in hybrid.param_groups(2e-5, 1e-6)]
        assert names_ == ["head", "backbone"]
        hybrid.set_trainable("all")  # phase 3
        assert all(p.requires_grad for p in hybrid.parameters())
    finally:
        hybrid.set_trainable("all")
