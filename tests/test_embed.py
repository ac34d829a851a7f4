"""Embeddings: extraction (run, SSL-style run, registry model), t-SNE/PCA, clusters, retrieval, CLI."""

from __future__ import annotations

import numpy as np
import pytest

from engine.errors import CancelledError
from engine.jobs import CancelToken


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A supervised run folder (basic_cnn at 32 px, tiny_config) on a tiny demo dataset: (run path, dataset).

    The run is written with the engine's own writers (config, catalog, split,
    summary, model.safetensors) instead of training it, to keep the tests fast.
    """
    from engine.data.importers import scan
    from engine.data.splits import make_split
    from engine.evaluation.run_model import build_model
    from engine.runs import Run
    from engine.training.checkpoint import save_weights
    from tests.helpers import tiny_config, tiny_demo

    base = tmp_path_factory.mktemp("embed")
    data = tiny_demo(base, patients_per_class=2, images=2)
    config = tiny_config(data, base / "runs", epochs=1)
    run = Run.create("tiny", base / "runs")
    run.write("config.json", config.to_dict())
    catalog = scan(data)
    catalog.save(run.file("catalog.json"))
    make_split(catalog, config.split, config.seed).save(run.file("split.json"))
    run.update_summary(status="completed", classes=catalog.classes, model="basic_cnn")
    save_weights(build_model(config, len(catalog.classes), pretrained="none"), run.model_weights)
    return run.path, data


def test_extract_from_run_shapes_predictions_and_cache(trained):
    from engine.embed.extract import Embeddings, extract_embeddings

    run, _data = trained
    emb = extract_embeddings(run, device="cpu", cache=False)
    assert emb.features.dtype == np.float32 and emb.features.ndim == 2
    assert len(emb) == len(emb.paths) == len(emb.labels) == 16  # 2 classes x 2 patients x 2 mags x 2 images
    assert set(emb.labels) == {"benign", "malignant"} and set(emb.predictions) <= {"benign", "malignant"}
    assert set(emb.splits) <= {"train", "val", "test"} and all(emb.patients)
    assert np.isfinite(emb.features).all()
    again = extract_embeddings(run, device="cpu", cache=False)
    np.testing.assert_allclose(again.features, emb.features, rtol=1e-5, atol=1e-6)  # deterministic
    test = extract_embeddings(run, split="test", device="cpu")  # writes the cache
    assert 0 < len(test) < len(emb) and set(test.splits) == {"test"}
    cached = run / "embeddings" / "own-test.npz"
    assert cached.exists()
    loaded = Embeddings.load(cached)
    assert loaded.paths == test.paths and loaded.predictions == test.predictions
    np.testing.assert_array_equal(loaded.features, test.features)


def test_extract_from_registry_model_on_dataset(trained, tmp_path):
    from engine.embed.extract import extract_embeddings

    _run, data = trained
    emb = extract_embeddings("basic_cnn", str(data), image_size=32, device="cpu")
    assert len(emb) == 16 and emb.predictions is None and emb.dim > 0


def test_extract_from_ssl_run(trained, tmp_path):
    """An SSL run folder (config kind "ssl" + encoder.safetensors) is embedded with its encoder."""
    from engine.embed.extract import extract_embeddings
    from engine.io_utils import write_json
    from engine.models import create_model
    from engine.training.checkpoint import save_weights

    _run, data = trained
    ssl = tmp_path / "ssl-run"
    ssl.mkdir()
    write_json(ssl / "config.json", {"kind": "ssl", "method": "simclr", "backbone": "basic_cnn",
                                     "data": {"path": str(data), "image_size": 32}})
    write_json(ssl / "summary.json", {"status": "completed", "kind": "ssl"})
    model = create_model("basic_cnn", 2, image_size=32)
    save_weights(model, ssl / "encoder.safetensors")
    emb = extract_embeddings(ssl, str(data), device="cpu")
    assert len(emb) == 16 and emb.predictions is None
    x = emb.features
    from engine.embed.extract import Encoder

    enc = Encoder.open(ssl, device="cpu")
    np.testing.assert_allclose(enc.embed_image(emb.paths[0]), x[0], rtol=1e-4, atol=1e-5)


def test_nan_guard():
    from engine.embed.embeddings import Embeddings
    from engine.embed.tsne import pca_2d

    f = np.ones((3, 4), np.float32)
    f[1, 2] = np.nan
    f[2, 0] = np.inf
    emb = Embeddings(f, ["a", "b", "c"], ["x"] * 3, [""] * 3, [""] * 3, [""] * 3)
    assert np.isfinite(emb.features).all() and emb.features[1, 2] == 0
    assert np.isfinite(pca_2d(f)).all()


def _blobs(n=120, d=64, seed=0):
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 3
    centres = rng.normal(0, 5, (3, d))
    return (centres[labels] + rng.normal(0, 1, (n, d))).astype(np.float32), labels


def test_pca_and_tsne_shapes_kl_and_cancel():
    from engine.embed.tsne import pca_2d, run_tsne, tsne

    x, labels = _blobs()
    p = pca_2d(x)
    assert p.shape == (120, 2) and p.dtype == np.float32
    events = []
    res = tsne(x, perplexity=10, n_jobs=1, n_iter=50, early_exaggeration_iter=50, progress=events.append)
    assert res.coords.shape == (120, 2) and np.isfinite(res.coords).all()
    assert res.kl_divergence is not None and res.kl_divergence > 0
    assert any(e.total == 100 and e.step == 100 for e in events)
    # well separated blobs stay separated: each point's nearest map neighbour has its label
    d = ((res.coords[:, None] - res.coords[None]) ** 2).sum(-1) + np.eye(120) * 1e9
    assert (labels[d.argmin(1)] == labels).mean() > 0.95
    token = CancelToken()

    def cancel_soon(event):
        if event.step >= 25:
            token.cancel()

    with pytest.raises(CancelledError):
        run_tsne(x, perplexity=10, n_jobs=1, progress=cancel_soon, cancel=token)
    assert run_tsne(x[:3]).shape == (3, 2)  # too few points: PCA map


def test_kmeans_labels():
    from engine.embed.clusters import kmeans_labels

    x, labels = _blobs()
    k = kmeans_labels(x, 3)
    assert k.shape == (120,) and len(set(k)) == 3
    # clusters match the blobs up to renaming
    assert all(len(set(k[labels == c])) == 1 for c in range(3))


def test_neighbour_index_and_retrieve(trained):
    from engine.embed.retrieval import NeighbourIndex, retrieve

    x, _ = _blobs()
    index = NeighbourIndex(x)
    idx, sims = index.query_index(7, k=5)
    assert idx[0] == 7 and sims[0] == pytest.approx(1.0, abs=1e-5)
    assert len(idx) == 5 and np.all(np.diff(sims) <= 1e-7)
    run, _data = trained
    from engine.embed.extract import extract_embeddings

    path = extract_embeddings(run, device="cpu").paths[3]
    matches = retrieve(run, None, path, k=4, device="cpu")
    assert len(matches) == 4 and matches[0].path == path and matches[0].similarity == pytest.approx(1.0, abs=1e-4)


def test_cli_embed_tsne_retrieve(trained, tmp_path, capsys):
    import csv

    from engine.cli.main import main

    run, _data = trained
    out = tmp_path / "emb.npz"
    assert main(["--quiet", "embed", str(run), "--out", str(out), "--device", "cpu"]) == 0
    coords = tmp_path / "coords.csv"
    assert main(["--quiet", "tsne", str(out), "--perplexity", "5", "--iterations", "30", "--early-iterations", "20",
                 "--out", str(coords)]) == 0
    rows = list(csv.DictReader(coords.open()))
    assert len(rows) == 16 and set(rows[0]) >= {"path", "label", "x", "y"}
    capsys.readouterr()
    assert main(["--quiet", "retrieve", str(run), rows[0]["path"], "-k", "3", "--device", "cpu"]) == 0
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.strip()]
    assert len(lines) == 3 and rows[0]["path"] in lines[0]


def test_extract_from_a_one_channel_ssl_run(trained, tmp_path):
    """An SSL encoder pretrained on grey input (in_chans 1, e.g. the P4M CNN) embeds colour images."""
    from engine.embed.extract import Encoder, extract_embeddings
    from engine.io_utils import write_json
    from engine.models import create_model
    from engine.training.checkpoint import save_weights

    _run, data = trained
    ssl = tmp_path / "ssl-grey"
    ssl.mkdir()
    write_json(ssl / "config.json", {"kind": "ssl", "method": "deepcluster", "backbone": "p4m_cnn", "in_chans": 1,
                                     "data": {"path": str(data), "image_size": 32, "normalize": "unit"}})
    write_json(ssl / "summary.json", {"status": "completed", "kind": "ssl"})
    save_weights(create_model("p4m_cnn", 2, image_size=32, in_chans=1), ssl / "encoder.safetensors")
    emb = extract_embeddings(ssl, str(data), device="cpu")
    assert len(emb) == 16 and np.isfinite(emb.features).all()
    enc = Encoder.open(ssl, device="cpu")
    np.testing.assert_allclose(enc.embed_image(emb.paths[0]), emb.features[0], rtol=1e-4, atol=1e-5)


def test_cached_embeddings_of_a_dataset_follow_its_curation(trained, tmp_path):
    """A run's cached embeddings of an external dataset are reused until its images or labels change."""
    import shutil

    from engine.data.curation import add_exclusions, set_labels
    from engine.embed.extract import extract_embeddings

    run, data = trained
    own = shutil.copytree(data, tmp_path / "data")
    first = extract_embeddings(run, str(own), device="cpu")
    again = extract_embeddings(run, str(own), device="cpu")
    assert again.meta["fingerprint"] == first.meta["fingerprint"] and len(again) == len(first)
    add_exclusions(own, [first.paths[0]])
    set_labels(own, {first.paths[1]: "benign" if first.labels[1] == "malignant" else "malignant"})
    curated = extract_embeddings(run, str(own), device="cpu")
    assert len(curated) == len(first) - 1 and first.paths[0] not in curated.paths
    assert curated.labels[curated.paths.index(first.paths[1])] != first.labels[1]
