"""DeepCluster (S5): clustering pipeline, NaN guard, CPU fallback, NMI/time logging through pretrain()."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch

from engine.ssl import clustering
from engine.ssl.clustering import clean_features, cluster_features, kmeans, l2_normalize, nmi, pca_whiten
from engine.ssl.job import pretrain
from tests.helpers import tiny_demo


def blobs(n_per: int = 30, dim: int = 12, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Three well separated Gaussian blobs and their labels."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 10, size=(3, dim))
    x = np.concatenate([c + rng.normal(0, 0.5, size=(n_per, dim)) for c in centres])
    return x.astype(np.float32), np.repeat(np.arange(3), n_per)


def test_pca_whitening_and_l2():
    x, _ = blobs()
    p = pca_whiten(x, 5)
    assert p.shape == (90, 5)
    assert np.allclose(p.std(axis=0, ddof=1), 1.0, atol=1e-3)  # whitened: unit variance per component
    assert pca_whiten(x, 500).shape == (90, 12)                 # dim clipped to the feature count
    assert np.allclose(np.linalg.norm(l2_normalize(p), axis=1), 1.0, atol=1e-5)


def test_kmeans_cpu_recovers_blobs_and_nmi():
    x, y = blobs()
    result = kmeans(x, 3, seed=0, device="cpu")
    assert result.backend == "sklearn" and result.k == 3
    assert nmi(result.labels, y) == pytest.approx(1.0)
    assert nmi(y, np.zeros_like(y)) == pytest.approx(0.0)
    assert nmi(None, y) is None


def test_kmeans_falls_back_to_cpu_when_gpu_runs_out_of_memory(monkeypatch):
    calls = []

    def oom(*args, **kwargs):
        calls.append(1)
        raise torch.OutOfMemoryError("CUDA out of memory (simulated)")

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: None)
    monkeypatch.setattr(clustering, "_kmeans_torch", oom)
    x, y = blobs()
    result = kmeans(x, 3, seed=0)
    assert calls and result.backend == "sklearn"
    assert "out of memory" in result.notes[0] and nmi(result.labels, y) == pytest.approx(1.0)


def test_torch_kmeans_path_matches_blobs():
    x, y = blobs()
    labels, inertia = clustering._kmeans_torch(x, 3, 20, 0, torch.device("cpu"))
    assert nmi(labels, y) == pytest.approx(1.0) and inertia > 0


def test_nan_and_inf_rows_are_guarded():
    x, y = blobs()
    x[3, 2], x[40, :] , x[70, 0] = np.nan, np.inf, -np.inf
    clean, bad = clean_features(x)
    assert bad == 3 and np.isfinite(clean).all()
    result = cluster_features(x, 3, pca_dim=8, seed=0, device="cpu")
    assert result.bad_rows == 3 and len(result.labels) == 90
    assert nmi(result.labels, y) > 0.8


@pytest.fixture(scope="module")
def deepcluster_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("dc")
    data = tiny_demo(root, images=2)
    cfg = {"method": "deepcluster", "backbone": "basic_cnn", "epochs": 2, "batch_size": 8, "seed": 3,
           "hparams": {"augment": {"rotation": 0, "shift": 0, "zoom": 0, "blur_p": 0}},
           "runs_dir": str(root / "runs"), "data": {"path": str(data), "image_size": 32, "normalize": "unit"},
           "deepcluster": {"k": 200, "pca_dim": 256, "kmeans_device": "cpu"}}
    return pretrain(cfg)


def test_deepcluster_logs_nmi_and_stage_times(deepcluster_run):
    run = deepcluster_run
    assert run.summary["status"] == "completed" and run.file("encoder.safetensors").exists()
    rows = run.metrics()
    assert [r["epoch"] for r in rows] == [1, 2]
    assert rows[0]["nmi_prev"] is None and 0.0 <= rows[1]["nmi_prev"] <= 1.0
    for r in rows:
        assert 0.0 <= r["nmi_true"] <= 1.0 and np.isfinite(r["loss"])
        assert r["time_extract_s"] >= 0 and r["time_cluster_s"] >= 0 and r["time_train_s"] > 0
        assert r["kmeans_backend"] == "sklearn"
        assert 2 <= r["clusters_used"] <= 18  # K=200 clipped to half of the 36 tiny images
    with open(run.file("deepcluster_log.csv"), newline="") as fh:
        table = list(csv.DictReader(fh))
    assert [t["epoch"] for t in table] == ["1", "2"] and table[1]["nmi_prev"] and table[0]["time_cluster_s"]


def test_deepcluster_assign_resets_classifier_and_tracks_previous():
    from engine.models import create_model
    from engine.ssl.deepcluster import DeepCluster

    method = DeepCluster(create_model("basic_cnn", 2, image_size=32), num_clusters=3, num_images=90)
    x, y = blobs()
    stats = method.assign(x, seed=0, truth=y, pca_dim=8, device="cpu")
    assert stats["nmi_prev"] is None and stats["nmi_true"] == pytest.approx(1.0)
    weight = method.classifier.weight.detach().clone()
    x[5] = np.nan
    stats = method.assign(x, seed=1, truth=y, pca_dim=8, device="cpu")
    assert stats["bad_rows"] == 1 and stats["nmi_prev"] > 0.9
    assert not torch.equal(weight, method.classifier.weight)  # a fresh classifier every round
    loss = method.training_step([torch.rand(4, 3, 32, 32)], indices=torch.tensor([0, 1, 40, 80]))["loss"]
    assert torch.isfinite(loss)
    state = method.state_dict()
    clone = DeepCluster(create_model("basic_cnn", 2, image_size=32), num_clusters=3, num_images=90)
    clone.load_state_dict(state)
    assert torch.equal(clone.labels, method.labels) and torch.equal(clone.previous, method.previous)
