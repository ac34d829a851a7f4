"""How close the time estimates come to the time a run takes (issue 13.2; a script, not a test).

    .venv/bin/python benchmarks/bench_estimates.py [--epochs N] [--size PX] [--rounds R]

Trains the demo preset (the built-in demo dataset, made first in a temporary HistoDesk home, so its image
cache starts cold as a new user's does) and reports, per round: the wizard's measured estimate
(:func:`engine.training.estimate.measure_throughput`, its range and parts), the ETA reported after the first
epoch (elapsed + ETA as a predicted total), and the time ``train`` took. Results are appended to
``benchmarks/results/estimates_cpu.txt`` (one block per invocation, with the machine's load).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results" / "estimates_cpu.txt"
_HOME = tempfile.TemporaryDirectory(prefix="histodesk-bench-")
os.environ["HISTODESK_HOME"] = _HOME.name  # the demo, its cache and the runs stay out of the user's folder
sys.path.insert(0, str(REPO))


def one_round(config, epochs: int) -> dict:
    """Estimate, train, and compare; the cache is cleared first so every round starts cold."""
    import shutil

    from engine.data.cache import ImageCache
    from engine.training.data_setup import load_catalog
    from engine.training.estimate import measure_throughput
    from engine.training.job import train

    shutil.rmtree(ImageCache(resize=config.data.image_size).root, ignore_errors=True)
    catalog = load_catalog(config.data)
    t0 = time.monotonic()
    estimate = measure_throughput(config, catalog)
    measure_s = time.monotonic() - t0
    shutil.rmtree(ImageCache(resize=config.data.image_size).root, ignore_errors=True)  # measuring cached 8
    epochs_seen: list[tuple[float, float | None]] = []
    t0 = time.monotonic()
    train(config, progress=lambda e: epochs_seen.append((time.monotonic() - t0, e.eta_s))
          if e.stage == "epoch" else None)
    took = time.monotonic() - t0
    at, eta = epochs_seen[0]
    return {"estimate": estimate, "measure_s": measure_s, "took": took, "epoch1_at": at,
            "epoch1_total": at + (eta or 0.0), "epochs_run": len(epochs_seen), "epochs": epochs}


def main() -> None:
    """Run the rounds and append the table to the results file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=None, help="override the preset's epochs")
    parser.add_argument("--size", type=int, default=None, help="override the preset's image size (px)")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    import torch

    from engine.data.demo import generate_demo
    from engine.presets import preset_dict
    from engine.training.config import TrainConfig, deep_merge

    generate_demo()
    overrides: dict = {"runs_dir": str(Path(_HOME.name) / "runs")}
    if args.epochs:
        overrides["epochs"] = args.epochs
    if args.size:
        overrides["data"] = {"image_size": args.size}
    config = TrainConfig.from_dict(deep_merge(preset_dict("train", "demo"), overrides))
    lines = [f"## {_dt.datetime.now():%Y-%m-%d %H:%M} demo preset ({config.data.image_size} px, "
             f"{config.total_epochs()} epochs, batch {config.batch_size}), torch {torch.__version__}, "
             f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}",
             "round | wizard estimate (range)        | measuring | after epoch 1: total | took   | est/took | "
             "ETA/took | epochs run"]
    for i in range(args.rounds):
        r = one_round(config, config.total_epochs())
        est = r["estimate"]
        lines.append(f"{i + 1:5d} | {est.seconds:7.1f} s ({est.low:.0f}-{est.high:.0f} s){'':9s} | "
                     f"{r['measure_s']:7.1f} s | {r['epoch1_total']:8.1f} s (at {r['epoch1_at']:.0f} s) | "
                     f"{r['took']:6.1f} | {est.seconds / r['took']:8.2f} | {r['epoch1_total'] / r['took']:8.2f} | "
                     f"{r['epochs_run']}")
        lines.append(f"      parts (s): {est.parts}")
        print(lines[-2], lines[-1], sep="\n", flush=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with RESULTS.open("a", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n\n")


if __name__ == "__main__":
    main()
