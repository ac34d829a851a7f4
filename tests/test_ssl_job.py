"""SSL pretraining job: every method end to end, unlabelled folders, kNN monitor, cancel + resume, CLI."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image

from engine.data.importers import detect_importer
from engine.errors import ConfigError
from engine.presets import preset_names
from engine.registry import names
from engine.ssl.config import SSLConfig, build_ssl_config
from engine.ssl.job import pretrain, resume_pretrain
from engine.ssl.knn import knn_accuracy
from tests.helpers import pretrain_cancelled_after_first_epoch, tiny_demo


#: Small heads and cheap views: the tests check the plumbing, not the learning.
LIGHT_VIEWS = {"augment": {"rotation": 0, "shift": 0, "zoom": 0, "blur_p": 0}}
TINY_HPARAMS = {
    "simclr": {"proj_hidden": 32, "proj_dim": 16},
    "byol": {"proj_hidden": 32, "proj_dim": 16, "pred_hidden": 32},
    "dino": {"hidden_dim": 32, "bottleneck_dim": 16, "out_dim": 32, "n_local_crops": 2},
    "mocov3": {"proj_hidden": 32, "proj_dim": 16, "pred_hidden": 32},
}


def ssl_config(data_path, runs, method: str = "simclr", **overrides) -> dict:
    """A 1-epoch 32 px basic-CNN pretraining config with tiny heads."""
    cfg = {"method": method, "backbone": "basic_cnn", "epochs": 1, "batch_size": 8, "seed": 1,
           "hparams": {**LIGHT_VIEWS, **TINY_HPARAMS.get(method, {})}, "runs_dir": str(runs),
           "data": {"path": str(data_path), "image_size": 32, "normalize": "unit"},
           "deepcluster": {"k": 6, "kmeans_device": "cpu"}}
    cfg.update(overrides)
    return cfg


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return tiny_demo(tmp_path_factory.mktemp("ssl-data"), images=2)


@pytest.fixture(scope="module")
def method_runs(data, tmp_path_factory):
    """One 1-epoch run per method, made on first use: ``method_runs(name) -> (run, progress events)``."""
    cache: dict = {}

    def get(method: str):
        if method not in cache:
            events: list = []
            cache[method] = (pretrain(ssl_config(data, tmp_path_factory.mktemp(method), method),
                                      progress=events.append), events)
        return cache[method]

    return get


@pytest.mark.parametrize("method", names("ssl"))
def test_every_method_pretrains_end_to_end(method_runs, method):
    run, events = method_runs(method)
    summary = run.summary
    assert summary["status"] == "completed" and summary["kind"] == "ssl" and summary["method"] == method
    assert run.config["kind"] == "ssl" and run.file("encoder.safetensors").exists()
    row = run.metrics()[0]
    assert math.isfinite(row["loss"]) and row["loss"] == row["train_loss"] and math.isfinite(row["val_loss"])
    assert 0.0 <= row["knn_acc"] <= 1.0 and summary["classes"] == ["benign", "malignant"]
    stages = {e.stage for e in events}
    assert {"pretrain", "epoch", "log", "done"} <= stages
    batch = [e for e in events if e.stage == "pretrain"][-1]
    assert batch.total and batch.step == batch.total and "loss" in batch.metrics and "lr" in batch.metrics


def test_encoder_weights_load_into_a_classifier(method_runs):
    from engine.models import create_model
    from engine.ssl.job import build_encoder
    from engine.training.checkpoint import load_state

    run, _events = method_runs("simclr")
    assert run.summary["best_epoch"] == 1  # encoder.safetensors = best validation loss = the only epoch
    method_state = load_state(run.last_checkpoint)["method"]
    encoder = build_encoder(SSLConfig.from_dict(run.config))
    encoder.load_state_dict({k[len("encoder."):]: v for k, v in method_state.items() if k.startswith("encoder.")})
    model = create_model("basic_cnn", 3, pretrained=run.file("encoder.safetensors"), image_size=32)
    x = torch.rand(4, 3, 32, 32)
    encoder.eval(), model.eval()
    with torch.no_grad():
        assert torch.allclose(encoder.forward_features(x), model.forward_features(x), atol=1e-6)
    assert model.weights_report.loaded and model.num_outputs == 3


def flat_folder(root, n: int = 12):
    root.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(root / f"img{i:03d}.png")
    return root


def test_unlabelled_flat_folder(tmp_path):
    folder = flat_folder(tmp_path / "flat")
    assert detect_importer(folder) != "unlabelled"  # never picked by auto-detection
    for importer in ("auto", "unlabelled"):
        cfg = ssl_config(folder, tmp_path / importer, "deepcluster")
        cfg["data"]["importer"] = importer
        run = pretrain(cfg)
        assert run.summary["status"] == "completed" and run.summary["classes"] is None
        row = run.metrics()[0]
        assert "knn_acc" not in row and math.isfinite(row["loss"])
        assert run.read("catalog.json")["importer"] == "unlabelled"


def test_knn_accuracy_weighted_vote():
    rng = np.random.default_rng(0)
    a, b = rng.normal(0, 1, (20, 8)) + 5, rng.normal(0, 1, (20, 8)) - 5
    bank, labels = torch.tensor(np.concatenate([a[:15], b[:15]])), torch.tensor([0] * 15 + [1] * 15)
    query, truth = torch.tensor(np.concatenate([a[15:], b[15:]])), torch.tensor([0] * 5 + [1] * 5)
    assert knn_accuracy(bank, labels, query, truth, 2) == 1.0
    assert knn_accuracy(bank, labels, query, 1 - truth, 2) == 0.0
    assert knn_accuracy(bank[:0], labels[:0], query, truth) is None


def test_cancel_then_resume_matches_uninterrupted(data, tmp_path):
    cfg = ssl_config(data, tmp_path / "full", "byol", epochs=2)  # BYOL: EMA target net and momentum schedule
    full = pretrain(cfg)
    part = pretrain_cancelled_after_first_epoch(cfg, tmp_path / "part")
    assert part.summary["status"] == "cancelled" and len(part.metrics()) == 1
    assert part.last_checkpoint.exists() and part.file("encoder.safetensors").exists()
    resumed = resume_pretrain(part.path)
    assert resumed.summary["status"] == "completed" and resumed.summary["epochs_run"] == 2
    a, b = full.metrics(), resumed.metrics()
    assert [r["epoch"] for r in b] == [1, 2]
    for ra, rb in zip(a, b):
        for key in ("loss", "val_loss", "lr", "knn_acc"):
            assert ra[key] == pytest.approx(rb[key], rel=1e-4, abs=1e-7), (ra["epoch"], key)


def test_config_round_trip_presets_and_errors(data):
    cfg = SSLConfig.from_dict({"method": "deepcluster", "hparams": {"lr": 0.01}, "data": {"image_size": 32}})
    assert cfg.method_hparams()["lr"] == 0.01 and cfg.method_hparams()["optimizer"] == "adam"
    assert SSLConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ConfigError):
        SSLConfig.from_dict({"nope": 1})
    with pytest.raises(ConfigError):
        SSLConfig.from_dict({"val_fraction": 0.95})
    for name in preset_names("ssl"):
        preset = build_ssl_config(name, {"data": {"path": str(data)}})
        assert preset.method in names("ssl") and preset.preset == name
        assert set(preset.hparams) <= set(preset.method_defaults()), name  # the method accepts every key


def test_cli_pretrain_dry_run_and_resume_flag(data, tmp_path, capsys):
    from engine.cli.main import main

    assert main(["pretrain", str(data), "--method", "deepcluster", "--epochs", "2", "--image-size", "32",
                 "--set", "deepcluster.k=7", "--scope", "train+val", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert '"k": 7' in out and '"image_size": 32' in out and '"method": "deepcluster"' in out
    assert '"scope": "train+val"' in out
    assert main(["pretrain"]) == 2


def test_validation_views_repeat_with_worker_processes(data, tmp_path):
    """With DataLoader workers the validation loss is computed on the same views every epoch."""
    import torch

    from engine.jobs import CancelToken
    from engine.runs import Run
    from engine.ssl.config import SSLConfig
    from engine.ssl.job import _build_trainer, build_encoder

    cfg = SSLConfig.from_dict(ssl_config(data, tmp_path / "runs", val_fraction=0.3,
                                         data={"path": str(data), "image_size": 32, "normalize": "unit",
                                               "num_workers": 1}))
    trainer = _build_trainer(cfg, Run.create("val-views", tmp_path / "runs"), lambda e: None, CancelToken(),
                             build_encoder(cfg), resume=False)
    first = trainer.validate()
    trainer.data.train_loader(cfg.seed, 0)  # an epoch in between moves every random generator on
    torch.rand(100)
    assert trainer.validate() == pytest.approx(first, rel=1e-6)
