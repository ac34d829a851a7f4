"""SSL pretraining throughput: our loop vs a bare PyTorch loop (a script, not a test).

    .venv/bin/python benchmarks/bench_ssl.py [--images 256] [--size 64] [--epochs 2] [--rounds 3]

For SimCLR and BYOL on ResNet18 (random init) on the CPU:

* **ours**: ``engine.ssl.job.pretrain`` end to end minus the data preparation
  (timed from its "Pretraining ..." log event to its "done" event), so it
  includes progress events, per-epoch checkpoints (method + target nets,
  optimizer, schedule), metrics/log writes and the final encoder.safetensors;
  no validation loss and no kNN monitor (``val_fraction 0``, ``knn_every 0``).
* **bare**: the same method, built the same way, on the same multi-view
  batches (``SSLData.train_loader``), in a plain loop:
  ``loss = method.training_step(views)["loss"]; zero_grad; backward; step;
  method.on_train_batch_end``.

Ours writes a durable (fsync'd, atomic) checkpoint every epoch, a fixed cost per
epoch that real epochs (hundreds of steps) amortise; the default of 256 images
(16 steps per epoch) keeps it visible, and its size and time are printed.
Rounds alternate ours / bare; the median images/s ratio is printed and saved to
``benchmarks/results/ssl_cpu.txt``. Everything is measured in one run on one
machine, so the ratio is comparable even when absolute speed is noisy.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
_HOME = tempfile.TemporaryDirectory(prefix="histodesk-bench-ssl-")
os.environ["HISTODESK_HOME"] = _HOME.name
sys.path.insert(0, str(REPO))

import torch

from engine.jobs import Progress


def make_data(root: Path, n: int) -> Path:
    """A demo dataset of about ``n`` images (BreaKHis layout, 2 classes)."""
    from engine.data.demo import generate_demo

    per = max(1, n // 8)
    return generate_demo(root / "demo", patients_per_class=2, magnifications=("40X", "100X"),
                         images_per_patient_mag=per, size=(128, 96), seed=0)


def config(data: Path, method: str, args, runs: Path) -> dict:
    return {"method": method, "backbone": "resnet18", "epochs": args.epochs, "batch_size": args.batch,
            "seed": 0, "device": "cpu", "val_fraction": 0.0, "knn_every": 0, "runs_dir": str(runs),
            "data": {"path": str(data), "image_size": args.size, "normalize": "imagenet"}}


def checkpoint_cost(run_dir: Path) -> tuple[float, float]:
    """(MB, seconds) of re-writing the run's last checkpoint the way every epoch writes it."""
    from engine.training.checkpoint import load_state, save_state

    path = next(Path(run_dir).rglob("last.pt"))
    state = load_state(path)
    start = time.perf_counter()
    save_state(state, path.with_name("bench-copy.pt"))
    return path.stat().st_size / 1e6, time.perf_counter() - start


LAST_RUN: dict = {}


def time_ours(cfg: dict) -> tuple[float, int]:
    """(seconds of the training part of pretrain(), images trained on)."""
    from engine.ssl.job import pretrain

    marks: dict[str, float] = {}

    def progress(event: Progress) -> None:
        if event.stage == "log" and event.message.startswith("Pretraining"):
            marks["start"] = time.perf_counter()
        elif event.stage == "done":
            marks["end"] = time.perf_counter()

    run = pretrain(cfg, progress=progress)
    LAST_RUN["path"] = run.path
    rows = run.metrics()
    assert run.summary["status"] == "completed" and len(rows) == cfg["epochs"]
    n_train = run.summary["n_images"]["train"]
    steps = n_train // cfg["batch_size"] if n_train > cfg["batch_size"] else 1
    return marks["end"] - marks["start"], steps * cfg["batch_size"] * cfg["epochs"]


def time_bare(cfg: dict) -> tuple[float, int]:
    """The same method and batches in a plain PyTorch loop."""
    from engine.ssl.config import SSLConfig
    from engine.ssl.data import build_ssl_data
    from engine.ssl.job import build_encoder, load_ssl_catalog, ssl_split
    from engine.ssl.loop import build_method
    from engine.training.seeding import seed_everything

    c = SSLConfig.from_dict(cfg)
    seed_everything(c.seed)
    catalog = load_ssl_catalog(c.data)
    split = ssl_split(catalog, c)
    method = build_method(c, build_encoder(c), catalog, split)
    data = build_ssl_data(c, catalog, split, method, torch.device("cpu"))
    hp = c.method_hparams()
    opt_cls = torch.optim.Adam if hp.get("optimizer") == "adam" else torch.optim.AdamW
    opt = opt_cls([p for p in method.trainable_parameters() if p.requires_grad], lr=float(hp["lr"]),
                            weight_decay=float(hp.get("weight_decay", 0)))
    method.train()
    images, step, total = 0, 0, data.steps_per_epoch() * c.epochs
    start = time.perf_counter()
    for epoch in range(c.epochs):
        for views, _idx in data.train_loader(c.seed, epoch):
            loss = method.training_step(views)["loss"]
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            method.on_train_batch_end(step, total)
            step, images = step + 1, images + len(views[0])
    return time.perf_counter() - start, images


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "ssl_cpu.txt"))
    args = parser.parse_args()
    root = Path(_HOME.name)
    data = make_data(root, args.images)
    lines = ["HistoDesk SSL pretraining benchmark (benchmarks/bench_ssl.py)",
             f"date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}  cpu cores: {os.cpu_count()}  "
             f"torch threads: {torch.get_num_threads()}  torch {torch.__version__}",
             f"resnet18 random init, {args.size} px, batch {args.batch}, {args.epochs} epochs per measurement, "
             f"{args.rounds} alternating rounds (ours / bare), CPU", "",
             f"{'method':<8} {'ours img/s':>11} {'bare img/s':>11} {'ratio ours/bare':>16}  per-round ratios"]
    for method in ("simclr", "byol"):
        ratios, ours_ips, bare_ips = [], [], []
        time_bare(config(data, method, args, root / "runs"))  # warm-up: imports, cache, allocator
        for _ in range(args.rounds):
            s_ours, n_ours = time_ours(config(data, method, args, root / "runs"))
            s_bare, n_bare = time_bare(config(data, method, args, root / "runs"))
            ours_ips.append(n_ours / s_ours)
            bare_ips.append(n_bare / s_bare)
            ratios.append(ours_ips[-1] / bare_ips[-1])
        mb, secs = checkpoint_cost(LAST_RUN["path"])
        lines.append(f"{method:<8} {statistics.median(ours_ips):>11.1f} {statistics.median(bare_ips):>11.1f} "
                     f"{statistics.median(ratios):>16.3f}  {', '.join(f'{r:.3f}' for r in ratios)}"
                     f"   (per-epoch checkpoint {mb:.0f} MB, {secs:.2f} s)")
        print(lines[-1], flush=True)
    lines.append(f"\nload avg at end: {os.getloadavg()[0]:.1f} (other processes share this machine)")
    text = "\n".join(lines) + "\n"
    Path(args.out).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
