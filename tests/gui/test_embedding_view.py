"""The embedding view: jobs -> PCA preview -> t-SNE, colours, lasso, curation, hover, retrieval, menu."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from gui.embedding.actions import EmbeddingActions


@pytest.fixture
def ssl_run(tmp_path, tiny_data):
    """A minimal self-supervised run folder (basic_cnn encoder at 32 px) on ``tiny_data``."""
    from engine.io_utils import write_json
    from engine.models import create_model
    from engine.training.checkpoint import save_weights

    run = tmp_path / "ssl-run"
    run.mkdir()
    write_json(run / "config.json", {"kind": "ssl", "method": "simclr", "backbone": "basic_cnn",
                                     "data": {"path": str(tiny_data), "image_size": 32}})
    write_json(run / "summary.json", {"status": "completed", "kind": "ssl"})
    save_weights(create_model("basic_cnn", 2, image_size=32), run / "encoder.safetensors")
    return run


@pytest.fixture
def own_data(tiny_data, tmp_path):
    """A private copy of the tiny dataset, so curation written by a test does not leak into others."""
    return shutil.copytree(tiny_data, tmp_path / "data")


@pytest.fixture
def emb(own_data):
    """Embeddings of the tiny dataset's images: two well separated groups by label."""
    from engine.data.importers import scan
    from engine.embed.embeddings import Embeddings

    records = scan(own_data).records
    rng = np.random.default_rng(0)
    labels = [r.label for r in records]
    feats = rng.normal(0, 0.1, (len(records), 8)).astype(np.float32)
    feats[:, 0] += np.array([5.0 if lab == "malignant" else -5.0 for lab in labels])
    return Embeddings(feats, [r.path for r in records], labels, [r.patient or "" for r in records],
                      [r.magnification or "" for r in records], ["train"] * len(records),
                      predictions=list(reversed(labels)), meta={"root": str(own_data), "classes": sorted(set(labels))})


def test_view_computes_embeddings_then_tsne_in_jobs(qtbot, ssl_run, tiny_data):
    from gui.embedding.embedding_view import EmbeddingViewWidget
    from gui.workers import JobQueue

    queue = JobQueue()
    view = EmbeddingViewWidget(str(ssl_run), queue, dataset=str(tiny_data), device="cpu")
    qtbot.addWidget(view)
    view.start()
    qtbot.waitUntil(lambda: view.emb is not None, timeout=60_000)
    n = len(view.emb)
    assert n == 36 and view.plot.coords.shape == (n, 2) and len(view.plot.scatter.data) == n
    qtbot.waitUntil(lambda: view.method == "t-SNE", timeout=60_000)
    assert "t-SNE (KL=" in view.status.text() and view.kl is not None
    assert not np.allclose(view.plot.coords, view.plot.coords[0])


def test_colour_lasso_exclude_hover_retrieval(qtbot, emb, own_data, tmp_path):
    from PySide6.QtCore import QPointF

    from engine.data.curation import load_curation
    from gui.embedding.embedding_view import EmbeddingViewWidget

    view = EmbeddingViewWidget("model", None)
    qtbot.addWidget(view)
    view.resize(1100, 650)
    coords = np.stack([emb.features[:, 0], emb.features[:, 1] * 10], 1)
    view.set_embeddings(emb, coords)
    assert view.plot.coords.shape == (36, 2)
    by_label = [b.color().name() for b in view.plot.brushes]
    view.colour_combo.setCurrentText("prediction")
    by_pred = [b.color().name() for b in view.plot.brushes]
    assert by_label != by_pred and by_label == list(reversed(by_pred))
    view.colour_combo.setCurrentText("cluster")
    assert len({b.color().name() for b in view.plot.brushes}) == view.k_spin.value()

    # the lasso polygon around the x > 0 group selects exactly the malignant images
    selected = view.plot.select_polygon([(0, -100), (20, -100), (20, 100), (0, 100)])
    assert sorted(selected) == [i for i, lab in enumerate(emb.labels) if lab == "malignant"]
    assert str(len(selected)) in view.selection.label.text()
    out = view.selection.export(str(tmp_path / "sel.csv"))
    assert len(open(out).read().splitlines()) == len(selected) + 1
    view.selection.exclude()
    assert sorted(load_curation(own_data)["exclude"]) == sorted(emb.paths[i] for i in selected)
    assert view.plot.excluded.sum() == len(selected)
    view.plot.set_selection([0])
    view.selection.relabel("benign")
    assert load_curation(own_data)["relabel"] == {emb.paths[0]: "benign"}

    # hovering over a point shows its thumbnail and label
    view.show()
    qtbot.waitExposed(view)
    view.plot.view.autoRange(padding=0.05)
    assert view.preview.pixmap().isNull()
    scene_pos = view.plot.view.mapViewToScene(QPointF(*coords[3]))
    assert view.plot.nearest(scene_pos) == 3
    view.plot._on_mouse_moved(scene_pos)
    assert not view.preview.pixmap().isNull() and emb.labels[3] in view.preview_info.text()

    # retrieval of a point: itself first, k results with similarity, all of its group
    view.retrieval.k_spin.setValue(5)
    results = view.retrieval.show_neighbours(3)
    assert len(results) == 5 and results[0][0] == 3 and results[0][1] == pytest.approx(1.0, abs=1e-5)
    assert view.retrieval.grid.count() == 5
    assert {emb.labels[i] for i, _ in results} == {emb.labels[3]}


def test_analyze_menu_installed(qtbot, tmp_path):
    from gui.main_window import MainWindow

    window = MainWindow(autoload=False, runs_dir=str(tmp_path / "runs"))
    qtbot.addWidget(window)
    menu = window.menu("&Analyze")
    texts = [a.text() for a in menu.actions()]
    assert "Embeddings of selected run..." in texts and "Find similar images..." in texts
    assert window.find_extension(EmbeddingActions) is not None
