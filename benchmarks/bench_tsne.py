"""t-SNE benchmark (a script, not a test).

    .venv/bin/python benchmarks/bench_tsne.py [--n 10000] [--dim 512] [--skip-sklearn] [--out PATH]

On one synthetic feature matrix (``n`` x ``dim``, fixed seed: 10 Gaussian
blobs in a 32-dimensional latent space mapped linearly to ``dim`` dimensions
plus small noise, like a backbone's pooled features of 10 tissue classes,
which have a low intrinsic dimension) it times, in one run:

* **ours**: ``engine.embed.tsne.tsne`` (PCA to 50 dimensions, openTSNE with
  FFT gradients, PCA initialisation, perplexity 30, its default 250 + 500
  iterations), with all cores (``n_jobs=-1``) and with one thread;
* **scikit-learn**: ``sklearn.manifold.TSNE()`` with all its defaults
  (perplexity 30, Barnes-Hut, PCA init, 1000 iterations) on the raw features.

Quality is reported three ways so speed is not bought with a worse map: each
library's own final KL divergence, one common KL(P || Q) evaluated *exactly*
(all N^2 pairs for Q) for both maps with the same P (perplexity 30 on the
raw features), and the kNN preservation (share of each point's 10 nearest
neighbours in feature space that are also among its 10 nearest on the map).
Results are printed and written to ``benchmarks/results/tsne_<machine>.txt``.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

import numpy as np

from bench_training import cpu_model


def blobs(n: int, dim: int, centers: int = 10, latent: int = 32, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Clustered float32 features like a backbone's: ``centers`` Gaussian blobs of unequal spread in a
    ``latent``-dimensional space, mapped linearly to ``dim`` dimensions, plus small isotropic noise."""
    rng = np.random.default_rng(seed)
    means = rng.normal(0.0, 1.0, (centers, latent)) * 1.5
    labels = rng.integers(0, centers, n)
    spread = rng.uniform(0.5, 1.0, centers)[labels, None]
    z = means[labels] + rng.normal(0.0, 1.0, (n, latent)) * spread
    mix = rng.normal(0.0, 1.0 / np.sqrt(latent), (latent, dim))
    return (z @ mix + rng.normal(0.0, 0.1, (n, dim))).astype(np.float32), labels


def exact_kl(affinities, coords: np.ndarray, chunk: int = 1000) -> float:
    """KL(P || Q) with the exact Student-t Q over all pairs of the 2-D map (P = ``affinities``: sparse, sums to 1)."""
    y = coords.astype(np.float64)
    sq = (y ** 2).sum(1)
    z = 0.0
    for s in range(0, len(y), chunk):
        d2 = np.maximum(sq[s:s + chunk, None] + sq[None, :] - 2.0 * y[s:s + chunk] @ y.T, 0.0)
        z += (1.0 / (1.0 + d2)).sum() - min(chunk, len(y) - s)  # minus the diagonal (d = 0 -> 1)
    pairs = affinities.tocoo()
    d2 = ((y[pairs.row] - y[pairs.col]) ** 2).sum(1)
    q = 1.0 / (1.0 + d2) / z
    p = pairs.data
    keep = p > 0
    return float((p[keep] * np.log(p[keep] / np.maximum(q[keep], 1e-300))).sum())


def knn_preservation(x: np.ndarray, coords: np.ndarray, k: int = 10) -> float:
    """Mean share of each point's k nearest neighbours in ``x`` that stay among its k nearest on the map."""
    from sklearn.neighbors import NearestNeighbors

    high = NearestNeighbors(n_neighbors=k + 1).fit(x).kneighbors(return_distance=False)[:, 1:]
    low = NearestNeighbors(n_neighbors=k + 1).fit(coords).kneighbors(return_distance=False)[:, 1:]
    return float(np.mean([len(set(a) & set(b)) / k for a, b in zip(high, low)]))


def run_ours(x: np.ndarray, n_jobs: int = -1) -> tuple[np.ndarray, float, float, float]:
    """(coords, wall seconds, openTSNE's KL, CPU seconds of all threads) of HistoDesk's t-SNE."""
    from engine.embed.tsne import tsne

    t0, c0 = time.perf_counter(), time.process_time()
    result = tsne(x, perplexity=30, n_jobs=n_jobs, seed=0)
    return result.coords, time.perf_counter() - t0, result.kl_divergence, time.process_time() - c0


def run_sklearn(x: np.ndarray) -> tuple[np.ndarray, float, float, float]:
    """(coords, wall seconds, sklearn's KL, CPU seconds of all threads) of ``sklearn.manifold.TSNE()``, defaults."""
    from sklearn.manifold import TSNE

    t0, c0 = time.perf_counter(), time.process_time()
    model = TSNE(random_state=0)
    coords = model.fit_transform(x)
    return coords, time.perf_counter() - t0, float(model.kl_divergence_), time.process_time() - c0


def _load() -> str:
    try:
        return " ".join(f"{v:.1f}" for v in os.getloadavg())
    except OSError:
        return "n/a"


def main(argv=None) -> int:
    """Run the benchmark and write the result file."""
    import sklearn
    import openTSNE
    from openTSNE.affinity import PerplexityBasedNN

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--skip-sklearn", action="store_true", help="time ours only (quick check)")
    ap.add_argument("--out", help="result file (default benchmarks/results/tsne_cpu.txt)")
    args = ap.parse_args(argv)

    load0 = _load()
    x, _labels = blobs(args.n, args.dim)
    print(f"data: {x.shape[0]} x {x.shape[1]} Gaussian blobs (10 centres, 32-D latent, seed 0)", flush=True)
    rows = {"ours, n_jobs=-1 (all cores)": run_ours(x, -1), "ours, n_jobs=1": run_ours(x, 1)}
    print(f"ours: {[round(r[1], 1) for r in rows.values()]} s, load {_load()}", flush=True)
    if not args.skip_sklearn:
        rows["scikit-learn TSNE() defaults"] = run_sklearn(x)
        print(f"sklearn: {rows['scikit-learn TSNE() defaults'][1]:.1f} s, load {_load()}", flush=True)
    affinities = PerplexityBasedNN(x, perplexity=30, n_jobs=-1, random_state=0).P
    lines = [
        "HistoDesk t-SNE benchmark (benchmarks/bench_tsne.py)",
        f"date: {_dt.datetime.now(_dt.timezone.utc):%Y-%m-%d %H:%M UTC}; cpu: {cpu_model()}, "
        f"{os.cpu_count()} logical cores (shared machine: other jobs may be running)",
        f"openTSNE {openTSNE.__version__}, scikit-learn {sklearn.__version__}, numpy {np.__version__}",
        f"data: {x.shape[0]} x {x.shape[1]} float32, 10 Gaussian blobs in a 32-D latent + noise, seed 0; "
        "perplexity 30 for both",
        f"load average at the start: {load0}, at the end: {_load()} (the 2 cores are shared; ratios are what count)",
        "", f"{'method':32s} {'wall s':>8s} {'CPU s':>8s} {'own KL':>8s} {'exact KL':>9s} {'kNN-10 kept':>12s}",
    ]
    for name, (coords, secs, kl, cpu) in rows.items():
        lines.append(f"{name:32s} {secs:8.1f} {cpu:8.1f} {kl:8.3f} {exact_kl(affinities, coords):9.3f} "
                     f"{knn_preservation(x, coords):12.3f}")
    if len(rows) == 3:
        *ours, (_, theirs, _, theirs_cpu) = rows.values()
        lines.append("")
        for name, (_, wall, _, cpu) in zip(rows, ours):
            lines.append(f"speed-up vs sklearn, {name}: {theirs / wall:.1f}x wall clock, {theirs_cpu / cpu:.1f}x CPU "
                         "time (goal >= 5x)")
    lines += ["", "own KL: each library's final KL estimate (sklearn: kl_divergence_, openTSNE: "
              "embedding.kl_divergence);", "exact KL: KL(P||Q) of both maps with one P (perplexity 30, raw "
              "features) and exact Q (lower is better);", "kNN-10 kept: mean share of the 10 nearest "
              "neighbours in feature space kept on the map (higher is better)."]
    text = "\n".join(lines) + "\n"
    print(text)
    out = Path(args.out) if args.out else REPO / "benchmarks" / "results" / "tsne_cpu.txt"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
