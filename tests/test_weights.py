"""engine.models.weights: ImageNet weights offline, local files, unsafe pickles, status."""

from __future__ import annotations

import os
import time

import pytest
import timm
import torch
from safetensors.torch import save_file

from engine.errors import ConfigError, UntrustedFileError, WeightsUnavailableError
from engine.models import create_model, load_weights, model_info, weights_status
from engine.models.weights_io import load_state_dict_into
from engine.paths import weights_dir
from engine.registry import names

SIZE = 64
PRETRAINABLE = [n for n in names("model") if model_info(n)["pretrained_tag"]]


@pytest.fixture(autouse=True)
def _empty_home_and_hub(tmp_path, monkeypatch):
    """A fresh weights_dir and an empty Hugging Face cache for every test; downloads forbidden."""
    import huggingface_hub.constants as hf_constants

    monkeypatch.setenv("HISTODESK_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", True)


def _save(state: dict, path) -> None:
    if str(path).endswith(".safetensors"):
        save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    else:
        torch.save(state, path)


def _same_params(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.mark.parametrize("name", PRETRAINABLE)
def test_imagenet_offline_fails_fast_with_the_fix(name):
    start = time.perf_counter()
    with pytest.raises(WeightsUnavailableError) as info:
        create_model(name, 2, pretrained="imagenet", image_size=SIZE)
    assert time.perf_counter() - start < 2.0
    msg = str(info.value)
    assert name in msg and "not available offline" in msg
    assert str(weights_dir() / f"{name}.safetensors") in msg and "pretrained: none" in msg


@pytest.mark.parametrize("name", ["basic_cnn", "simple_cnn"])
def test_scratch_cnns_have_no_imagenet_weights(name):
    assert not weights_status(name).available and weights_status(name).source == "none"
    with pytest.raises(WeightsUnavailableError, match="no ImageNet weights"):
        create_model(name, 2, pretrained="imagenet", image_size=SIZE)


def test_unreachable_hub_fails_fast(monkeypatch):
    from engine.models import weights

    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setattr(weights, "hub_reachable", lambda timeout=3.0: False)
    start = time.perf_counter()
    with pytest.raises(WeightsUnavailableError, match="cannot be reached"):
        create_model("mobilenetv2", 2, pretrained="imagenet", image_size=SIZE)
    assert time.perf_counter() - start < 5.0


def test_download_error_is_never_a_silent_random_init(monkeypatch):
    from engine.models import weights

    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setattr(weights, "hub_reachable", lambda timeout=3.0: True)
    real = timm.create_model

    def no_network(*args, pretrained=False, **kwargs):
        if pretrained:
            raise OSError("network unreachable")
        return real(*args, pretrained=pretrained, **kwargs)

    monkeypatch.setattr(timm, "create_model", no_network)
    with pytest.raises(WeightsUnavailableError, match="network unreachable") as info:
        create_model("mobilenetv2", 2, pretrained="imagenet", image_size=SIZE)
    assert "pretrained: none" in str(info.value)


def test_imagenet_through_timm_hub_cache(tmp_path):
    """The real timm download path, served from a (fake) Hugging Face cache while offline."""
    torch.manual_seed(5)
    source = timm.create_model("mobilenetv2_100", pretrained=False)  # with its 1000-class classifier
    snapshot = tmp_path / "hf-cache" / "models--timm--mobilenetv2_100.ra_in1k" / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    _save(source.state_dict(), snapshot / "model.safetensors")
    (snapshot.parents[1] / "refs").mkdir()
    (snapshot.parents[1] / "refs" / "main").write_text("abc123")

    status = weights_status("mobilenetv2")
    assert status.available and status.source == "cache"
    model = create_model("mobilenetv2", 3, pretrained="imagenet", image_size=SIZE)
    expected = {k: v for k, v in source.state_dict().items() if not k.startswith("classifier.")}
    got = model.backbone.state_dict()
    assert all(torch.equal(got[k], v) for k, v in expected.items())


def test_weights_status_local_files():
    assert weights_status("resnet18") == weights_status("resnet18")  # cheap and repeatable
    status = weights_status("resnet18")
    assert not status.available and "not available offline" in status.message
    torch.manual_seed(1)
    bare = timm.create_model("resnet18", pretrained=False)  # a timm checkpoint: keys without prefix, fc 1000
    _save(bare.state_dict(), weights_dir() / "resnet18.safetensors")
    status = weights_status("resnet18")
    assert status.available and status.source == "local" and "resnet18.safetensors" in status.message

    model = create_model("resnet18", 2, pretrained="imagenet", image_size=SIZE)
    got = model.backbone.state_dict()
    assert all(torch.equal(got[k], v) for k, v in bare.state_dict().items() if not k.startswith("fc."))
    report = model.weights_report
    assert report.prefix == "backbone." and "backbone.fc.weight" in report.unexpected
    assert all(k.startswith("head.") for k in report.missing)


def test_hybrid_imagenet_from_one_file_per_backbone():
    hybrid = "hybrid_effnetv2s_vitb16"
    assert not weights_status(hybrid).available
    torch.manual_seed(2)
    donor = create_model(hybrid, 2, image_size=32)
    _save(donor.effnet.state_dict(), weights_dir() / "efficientnetv2_s.safetensors")
    assert not weights_status(hybrid).available  # the ViT is still missing
    _save(donor.vit.state_dict(), weights_dir() / "vit_b16.pth")
    assert weights_status(hybrid).available
    torch.manual_seed(3)
    model = create_model(hybrid, 2, pretrained="imagenet", binary_single_logit=False, image_size=32)
    assert _same_params(model.effnet, donor.effnet) and _same_params(model.vit, donor.vit)
    assert [r.prefix for r in model.weights_report] == ["effnet.", "vit."]


@pytest.mark.parametrize("suffix", [".safetensors", ".pth"])
def test_local_file_round_trip(tmp_path, suffix):
    torch.manual_seed(0)
    trained = create_model("basic_cnn", 3, image_size=SIZE).eval()
    path = tmp_path / f"trained{suffix}"
    _save(trained.state_dict(), path)
    torch.manual_seed(99)
    loaded = create_model("basic_cnn", 3, pretrained=str(path), image_size=SIZE).eval()
    x = torch.randn(2, 3, SIZE, SIZE)
    with torch.no_grad():
        assert torch.equal(trained(x), loaded(x))
    assert not loaded.weights_report.missing and not loaded.weights_report.skipped


@pytest.mark.parametrize("nesting", ["state_dict", "model"])
def test_nested_checkpoint_and_other_head(tmp_path, nesting):
    torch.manual_seed(0)
    trained = create_model("simple_cnn", 3, image_size=SIZE)
    path = tmp_path / "checkpoint.pt"
    torch.save({nesting: trained.state_dict(), "epoch": 4}, path)
    torch.manual_seed(1)
    model = create_model("simple_cnn", 2, image_size=SIZE)  # another classifier: its keys are dropped
    report = load_weights(model, path)
    assert _same_params(model.backbone, trained.backbone)
    assert set(report.skipped) == {"head.0.weight", "head.0.bias"}
    assert "skipped" in report.summary()


def test_malicious_pickle_is_refused(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)

    path = tmp_path / "evil.pth"
    torch.save({"backbone.block1.0.weight": Evil()}, path)
    with pytest.raises(UntrustedFileError, match="could run code"):
        create_model("basic_cnn", 2, pretrained=str(path), image_size=SIZE)
    assert not marker.exists()


def test_bad_files(tmp_path):
    for suffix in (".safetensors", ".pth"):
        bad = tmp_path / f"garbage{suffix}"
        bad.write_bytes(b"not a weights file at all")
        with pytest.raises(UntrustedFileError):
            create_model("basic_cnn", 2, pretrained=str(bad), image_size=SIZE)
    with pytest.raises(WeightsUnavailableError, match="not found"):
        create_model("basic_cnn", 2, pretrained=str(tmp_path / "missing.safetensors"), image_size=SIZE)
    (tmp_path / "w.txt").write_text("x")
    with pytest.raises(ConfigError):
        create_model("basic_cnn", 2, pretrained=str(tmp_path / "w.txt"), image_size=SIZE)
    _save({"something.else": torch.zeros(3)}, tmp_path / "unrelated.safetensors")
    with pytest.raises(WeightsUnavailableError, match="do not fit"):
        create_model("basic_cnn", 2, pretrained=str(tmp_path / "unrelated.safetensors"), image_size=SIZE)
    _save(create_model("resnet18", 2, image_size=SIZE).state_dict(), tmp_path / "r18.safetensors")
    with pytest.raises(WeightsUnavailableError, match="do not fit"):
        create_model("resnet50", 2, pretrained=str(tmp_path / "r18.safetensors"), image_size=SIZE)


def test_vit_position_embeddings_are_resampled():
    small = timm.create_model("vit_tiny_patch16_224", img_size=32, num_classes=0)
    large = timm.create_model("vit_tiny_patch16_224", img_size=64, num_classes=0)
    report = load_state_dict_into(large, small.state_dict(), "test")
    assert "pos_embed" in report.loaded and not report.skipped
    assert large.pos_embed.shape[1] == 1 + 16
