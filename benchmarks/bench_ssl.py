"""SSL pretraining throughput: our loop vs a bare PyTorch loop (a script, not a test).

    .venv/bin/python benchmarks/bench_ssl.py [--images 256] [--size 64] [--epochs 2] [--rounds 3]

For SimCLR and BYOL on ResNet18 (random init) on the CPU, on the same
multi-view batches (``SSLData.train_loader``):

* **loop**: the training spine's epochs as ``pretrain`` runs them
  (``SSLTrainer.seed_epoch`` + ``train_epoch``: AMP/GradScaler plumbing,
  per-step LR schedule, the method's EMA updates, cancel checks, throttled
  progress events with an ETA, on-device loss sums); no validation, no kNN.
  Single epochs alternate with single epochs of **bare** on one built
  trainer (robust to bursts of load from other processes).
* **end to end**: ``engine.ssl.job.pretrain`` minus the data preparation
  (timed from its "Pretraining ..." log event to its "done" event), so it also
  includes per-epoch durable checkpoints (method + target nets, optimizer,
  schedule), metrics/log writes and the final encoder.safetensors
  (``val_fraction 0``, ``knn_every 0``), alternating with fresh bare runs.
* **bare**: the same method, built the same way, in a plain loop:
  ``loss = method.training_step(views)["loss"]; zero_grad; backward; step;
  method.on_train_batch_end``.

Ours writes a durable (fsync'd, atomic) checkpoint every epoch, a fixed cost per
epoch that real epochs (hundreds of steps) amortise; the default of 256 images
(16 steps per epoch) keeps it visible, and its size and time are printed.
The min / median / max of the per-round ratios are written to ``benchmarks/results/ssl_cpu.txt`` and
``ssl_cpu.json`` with the machine. Everything is measured in one run on one
machine, so the ratios are comparable even when absolute speed is noisy.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
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


def build_pair(cfg: dict, runs: Path):
    """The SSLTrainer as pretrain() builds it (phase started) and, for the bare loop, a second method built
    the same way with a plain optimizer, both on the trainer's data."""
    from engine.jobs import CancelToken
    from engine.runs import Run
    from engine.ssl.config import SSLConfig
    from engine.ssl.job import _build_trainer, build_encoder
    from engine.ssl.loop import build_method
    from engine.training.seeding import seed_everything

    c = SSLConfig.from_dict(cfg)
    seed_everything(c.seed)
    trainer = _build_trainer(c, Run.create("bench-loop", runs), lambda _e: None, CancelToken(), build_encoder(c),
                             resume=False)
    trainer.start_phase(0)
    method = build_method(c, build_encoder(c), trainer.data.catalog, trainer.data.split)
    hp = c.method_hparams()
    opt_cls = torch.optim.Adam if hp.get("optimizer") == "adam" else torch.optim.AdamW
    opt = opt_cls([p for p in method.trainable_parameters() if p.requires_grad], lr=float(hp["lr"]),
                  weight_decay=float(hp.get("weight_decay", 0)))
    return trainer, method, opt


def loop_epoch(trainer) -> tuple[float, int]:
    """(seconds, images) of one epoch of the spine as pretrain() runs it (no validation, no kNN)."""
    start, before = time.perf_counter(), trainer.batches_done
    trainer.seed_epoch()
    trainer.train_epoch()
    trainer.epoch += 1
    return time.perf_counter() - start, (trainer.batches_done - before) * trainer.config.batch_size


def bare_epochs(method, opt, data, seed: int, epochs: range, step: int, total: int) -> tuple[float, int, int]:
    """(seconds, images, next step) of ``epochs`` of a plain PyTorch loop over ``data``'s batches."""
    method.train()
    images = 0
    start = time.perf_counter()
    for epoch in epochs:
        for views, _idx in data.train_loader(seed, epoch):
            loss = method.training_step(views)["loss"]
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            method.on_train_batch_end(step, total)
            step, images = step + 1, images + len(views[0])
    return time.perf_counter() - start, images, step


def time_bare(cfg: dict) -> tuple[float, int]:
    """A fresh method built like pretrain's, trained for ``cfg["epochs"]`` epochs in a plain loop."""
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
    seconds, images, _ = bare_epochs(method, opt, data, c.seed, range(c.epochs), 0, data.steps_per_epoch() * c.epochs)
    return seconds, images


def spread(values: list[float]) -> dict:
    """min / median / max of per-round ratios, and the rounds themselves."""
    return {"min": min(values), "median": statistics.median(values), "max": max(values),
            "rounds": [round(v, 4) for v in values]}


def bench_method(method: str, data: Path, args, root: Path) -> dict:
    """(1) single epochs of the loop and the bare loop, alternating (order flips each round) on one built
    trainer; (2) whole pretrain() runs against fresh bare runs of the same epochs, alternating."""
    long_cfg = config(data, method, args, root / "runs") | {"epochs": 1000}  # schedules stay mid-way
    trainer, bare_method, bare_opt = build_pair(long_cfg, root / "runs")
    total, step, epoch = trainer.total_steps, 0, 0
    loop_epoch(trainer)  # warm-up of both paths
    _, _, step = bare_epochs(bare_method, bare_opt, trainer.data, 0, range(epoch, epoch + 1), step, total)
    epoch += 1
    ips: dict[str, list[float]] = {"loop": [], "bare": [], "e2e": [], "e2e_bare": []}
    for r in range(args.loop_rounds):
        for which in ("loop", "bare") if r % 2 == 0 else ("bare", "loop"):
            if which == "loop":
                seconds, images = loop_epoch(trainer)
            else:
                seconds, images, step = bare_epochs(bare_method, bare_opt, trainer.data, 0, range(epoch, epoch + 1),
                                                    step, total)
                epoch += 1
            ips[which].append(images / seconds)
        print(f"  [{method}] loop round {r + 1}/{args.loop_rounds}: loop {ips['loop'][-1]:.1f} img/s, "
              f"bare {ips['bare'][-1]:.1f} img/s", flush=True)
    cfg = config(data, method, args, root / "runs")
    for r in range(args.rounds):
        for which in ("e2e", "e2e_bare") if r % 2 == 0 else ("e2e_bare", "e2e"):
            seconds, images = time_ours(cfg) if which == "e2e" else time_bare(cfg)
            ips[which].append(images / seconds)
        print(f"  [{method}] end-to-end round {r + 1}/{args.rounds}: pretrain {ips['e2e'][-1]:.1f} img/s, "
              f"bare {ips['e2e_bare'][-1]:.1f} img/s", flush=True)
    mb, secs = checkpoint_cost(LAST_RUN["path"])
    return {"method": method, **{f"{k}_img_s_median": statistics.median(v) for k, v in ips.items()},
            "loop_ratio": spread([a / b for a, b in zip(ips["loop"], ips["bare"])]),
            "e2e_ratio": spread([a / b for a, b in zip(ips["e2e"], ips["e2e_bare"])]),
            "checkpoint_mb": round(mb, 1), "checkpoint_s": round(secs, 3), "goal": 0.95}


def machine() -> dict:
    """What the figures were measured on."""
    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(), "python": platform.python_version()}


def report(result: dict, args) -> str:
    """The text table of ``result``."""
    m = result["machine"]
    lines = ["HistoDesk SSL pretraining benchmark (benchmarks/bench_ssl.py)",
             f"date: {result['date']}  cpu: {m['cpu']}, {m['cores']} cores  torch threads: {m['torch_threads']}  "
             f"torch {m['torch']}",
             f"resnet18 random init, {args.size} px, batch {args.batch}, {args.images} images, CPU",
             f"loop: {args.loop_rounds} rounds of one epoch each, loop and bare alternating on one built trainer; "
             f"end to end: {args.rounds} rounds of pretrain() ({args.epochs} epochs) vs a fresh bare run", "",
             "ratio = ours img/s / bare img/s per round: min / median / max (goal: loop median >= 0.95)",
             f"{'method':<8} {'bare img/s':>10} {'loop img/s':>10} {'loop ratio':>22} {'e2e img/s':>10} "
             f"{'end-to-end ratio':>22}  per-epoch checkpoint"]
    for a in result["methods"]:
        lr, er = a["loop_ratio"], a["e2e_ratio"]
        lines.append(f"{a['method']:<8} {a['bare_img_s_median']:>10.1f} {a['loop_img_s_median']:>10.1f} "
                     f"{lr['min']:>6.3f} / {lr['median']:.3f} / {lr['max']:.3f} {a['e2e_img_s_median']:>10.1f} "
                     f"{er['min']:>6.3f} / {er['median']:.3f} / {er['max']:.3f}  "
                     f"{a['checkpoint_mb']:.0f} MB, {a['checkpoint_s']:.2f} s")
    lines.append(f"\nload avg at end: {m['load_avg_1m_at_end']:.1f} (other processes share this machine)")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3, help="alternating end-to-end rounds")
    parser.add_argument("--loop-rounds", type=int, default=9, help="alternating single-epoch loop rounds")
    parser.add_argument("--methods", default="simclr,byol")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "ssl_cpu.txt"))
    args = parser.parse_args()
    root = Path(_HOME.name)
    data = make_data(root, args.images)
    result = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": machine(),
              "settings": {k: getattr(args, k) for k in ("images", "size", "batch", "epochs", "rounds",
                                                           "loop_rounds")},
              "methods": [bench_method(m, data, args, root) for m in args.methods.split(",")]}
    result["machine"]["load_avg_1m_at_end"] = round(os.getloadavg()[0], 2)
    text = report(result, args)
    out = Path(args.out)
    out.write_text(text)
    out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
