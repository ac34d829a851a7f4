"""From an SSL run to classifiers: probe, fine-tune, patient-sampled label fractions, label efficiency."""

from __future__ import annotations

import json
from collections import Counter

import pytest
import torch
from safetensors.torch import load_file

from engine.errors import ConfigError, HistoDeskError
from engine.ssl.downstream import downstream_config
from engine.ssl.job import pretrain
from engine.ssl.label_efficiency import format_study_table, label_efficiency, load_study, study_plot_data
from engine.training.data_setup import sample_train_fraction
from engine.training.job import train
from tests.helpers import tiny_demo


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A tiny demo with 5 patients per class and a 1-epoch SSL run (DeepCluster, basic CNN) on it."""
    root = tmp_path_factory.mktemp("down")
    data = tiny_demo(root, patients_per_class=5, images=1)
    cfg = {"method": "deepcluster", "backbone": "basic_cnn", "epochs": 1, "batch_size": 8, "seed": 0,
           "hparams": {"augment": {"rotation": 0, "shift": 0, "zoom": 0, "blur_p": 0}},
           "runs_dir": str(root / "ssl"), "val_fraction": 0.0, "knn_every": 0,
           "data": {"path": str(data), "image_size": 32, "normalize": "unit"},
           "deepcluster": {"k": 8, "kmeans_device": "cpu"}}
    return root, data, pretrain(cfg)


def test_probe_keeps_the_ssl_encoder_frozen_and_records_its_source(setup):
    root, data, ssl_run = setup
    cfg = downstream_config(ssl_run.path, str(data), mode="probe", epochs=1, runs_dir=str(root / "runs"),
                            batch_size=8)
    assert [(p.trainable, p.lr) for p in cfg.phases] == [("head", 1e-3)]  # DeepCluster's probe_lr
    run = train(cfg)
    assert run.summary["status"] == "completed"
    recorded = json.loads(run.file("config.json").read_text())["model"]
    assert recorded["pretrained"] == str(ssl_run.file("encoder.safetensors").resolve())
    assert cfg.data.image_size == 32 and cfg.data.normalize == "unit"
    encoder, trained = load_file(str(ssl_run.file("encoder.safetensors"))), load_file(str(run.model_weights))
    body = [k for k in encoder if not k.startswith("head") and "num_batches" not in k]
    assert body and all(torch.equal(encoder[k], trained[k]) for k in body)  # frozen: unchanged by the probe


def test_finetune_phases_and_run(setup):
    root, data, ssl_run = setup
    cfg = downstream_config(ssl_run.path, str(data), mode="finetune", epochs=2, frozen_epochs=1,
                            runs_dir=str(root / "runs"), batch_size=8)
    assert [(p.epochs, p.trainable, p.lr) for p in cfg.phases] == [(1, "head", 1e-3), (1, "all", 1e-4)]
    run = train(cfg)
    assert run.summary["status"] == "completed" and len(run.metrics()) == 2
    with pytest.raises(ConfigError):
        downstream_config(ssl_run.path, str(data), mode="finetune", epochs=2, frozen_epochs=2)
    with pytest.raises(HistoDeskError):
        downstream_config(run.path, str(data))  # a supervised run is not an SSL run


def test_train_fraction_samples_whole_patients_per_class(setup):
    _root, data, ssl_run = setup
    from engine.data.catalog import Catalog

    records = Catalog.load(ssl_run.file("catalog.json")).records
    patients = {r.patient: r.label for r in records}
    half = sample_train_fraction(records, 0.5, seed=1)
    tiny = sample_train_fraction(records, 0.01, seed=1)
    assert sample_train_fraction(records, 1.0, seed=1) == records
    for subset in (half, tiny):
        kept = {r.patient for r in subset}
        assert all(r.patient in kept for r in subset) and len(subset) == sum(r.patient in kept for r in records)
        assert set(Counter(patients[p] for p in kept)) == {"benign", "malignant"}  # >= 1 patient per class
    assert Counter(patients[p] for p in {r.patient for r in tiny}) == {"benign": 1, "malignant": 1}
    assert 0.4 <= len(half) / len(records) <= 0.7
    assert half == sample_train_fraction(records, 0.5, seed=1) != sample_train_fraction(records, 0.5, seed=2)
    with pytest.raises(ConfigError):
        sample_train_fraction(records, 0.0, seed=1)


def test_label_efficiency_study(setup, monkeypatch):
    import engine.training.data_setup as data_setup

    root, data, ssl_run = setup
    events, scans = [], []
    real_load = data_setup.load_catalog
    monkeypatch.setattr(data_setup, "load_catalog", lambda *a, **k: scans.append(1) or real_load(*a, **k))
    results = label_efficiency({"dataset": str(data), "ssl_run": str(ssl_run.path), "fractions": [1.0, 0.5],
                                "encoders": ["ssl", "random", "imagenet"], "epochs": 1, "mode": "finetune",
                                "runs_dir": str(root / "le"), "base": {"batch_size": 8}, "draws": 1},
                               progress=events.append)
    assert results["status"] == "completed" and len(scans) == 1  # the dataset is scanned once for 4 runs
    assert [(r["encoder"], r["fraction"]) for r in results["rows"]] == [
        ("ssl", 0.5), ("ssl", 1.0), ("random", 0.5), ("random", 1.0)]
    assert results["skipped"][0]["encoder"] == "imagenet" and "ImageNet" in results["skipped"][0]["reason"]
    for r in results["rows"]:
        assert 0.0 <= r["accuracy"] <= 1.0 and r["status"] == "completed"
        cfg = json.loads((root / r["run"] / "config.json").read_text())
        assert cfg["data"]["train_fraction"] == r["fraction"] and cfg["split"]["file"].endswith("split.json")
    half, full = results["rows"][0], results["rows"][1]
    assert half["n_train_images"] < full["n_train_images"] and half["n_train_patients"] >= 2
    # every run saw the same val/test split
    splits = {json.dumps(json.loads((root / r["run"] / "split.json").read_text())["assignments"], sort_keys=True)
              for r in results["rows"]}
    assert len(splits) == 1
    study = load_study(results["path"])
    assert len(study["rows"]) == 4
    plot = study_plot_data(study)
    assert plot["ssl"]["accuracy"][0] == [0.5, 1.0] and len(plot["random"]["roc_auc"][1]) == 2
    assert "ssl" in format_study_table(study)
    study_events = [e for e in events if e.stage == "study"]
    assert study_events and study_events[-1].step > 900 and any(e.eta_s is not None for e in study_events)
