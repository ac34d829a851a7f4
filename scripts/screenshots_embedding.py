"""README screenshots of the embedding view (t-SNE coloured by class, a lasso selection, similar images).

    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/screenshots_embedding.py [--out docs/screenshots]

Embeds the IDC sample of ../shared/data (909 patches of 2 patients) with a
seeded random-init ``resnet18`` at 64 px (no pretrained weights offline),
shows the PCA preview, waits for the t-SNE job, draws a lasso around the
densest region and pins a point so its nearest images are listed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

from screenshots import save, settle, start, wait_until

DATA = REPO.parent / "shared" / "data" / "idc-sample"


def main(argv: list[str] | None = None) -> int:
    """Produce docs/screenshots/embedding-*.png; returns 0."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(REPO / "docs" / "screenshots"))
    parser.add_argument("--data", default=str(DATA))
    parser.add_argument("--model", default="resnet18")
    args = parser.parse_args(argv)
    app, out, tmp = start(args.out)

    import numpy as np

    from engine.embed.extract import extract_embeddings
    from gui.embedding.embedding_view import EmbeddingViewWidget
    from gui.workers import JobQueue

    emb = extract_embeddings(args.model, args.data, image_size=64, device="cpu")
    emb.meta["root"] = str(tmp / "curation-demo")  # never write curation into the shared sample
    queue = JobQueue()
    view = EmbeddingViewWidget(args.model, queue)
    view.resize(1280, 760)
    view.show()
    view.set_embeddings(emb)
    settle(app, 0.8)
    save(view, out, "embedding-1-pca-preview")
    wait_until(app, lambda: view.method == "t-SNE", timeout_s=900)
    settle(app, 0.5)
    c = view.coords
    # lasso: a hexagon around the densest quarter of the map's malignant (label 1) points
    centre = np.median(c[np.asarray(emb.labels) == "1"], axis=0) if "1" in emb.labels else c.mean(0)
    r = 0.18 * (c.max(0) - c.min(0))
    angles = np.linspace(0, 2 * np.pi, 7)[:-1]
    view.lasso_button.setChecked(True)
    view.plot.select_polygon(centre + np.stack([np.cos(angles) * r[0], np.sin(angles) * r[1]], 1))
    nearest = int(np.argmin(((c - centre) ** 2).sum(1)))
    view._on_point_clicked(nearest)
    settle(app, 0.8)
    save(view, out, "embedding-2-tsne-lasso-retrieval")
    view.colour_combo.setCurrentText("cluster")
    settle(app, 0.8)
    save(view, out, "embedding-3-clusters")
    view.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
