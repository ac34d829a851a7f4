"""Training throughput benchmark (a script, not a test).

    .venv/bin/python benchmarks/bench_training.py [--quick]

(a) images/s of HistoDesk's ``Trainer`` epochs on the training spine (built as
    ``engine.training.job`` builds it) vs a bare PyTorch loop on the same
    model, DataLoader, criterion, batch size and step count; ours and bare
    alternate for several repeats and the median ratio ours/bare is reported.
(b) images/s of the input pipeline with the warm ``ImageCache`` vs
    ``DirectLoader`` (decode + resize the PNGs every time) on the BreaKHis
    sample at 224 px, same eval transform, alternating.

Results: ``benchmarks/results/training_<machine tag>.json`` and a table in
``benchmarks/results/README.md``. Everything is measured in one run on this
machine, so the ratios are comparable even when absolute speed is noisy.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DATA = REPO.parent / "shared" / "data" / "breakhis-sample"
DATA_REL = "../shared/data/breakhis-sample"
RESULTS = REPO / "benchmarks" / "results"

# Keep the benchmark's cache and runs out of the user's HistoDesk folder.
_HOME = tempfile.TemporaryDirectory(prefix="histodesk-bench-")
os.environ["HISTODESK_HOME"] = _HOME.name
sys.path.insert(0, str(REPO))

import torch

from engine.jobs import CancelToken, null_progress


# --- machine ------------------------------------------------------------
def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_tag(cpu: str, cores: int) -> str:
    words = re.sub(r"\(.*?\)|\b(CPU|Processor|with|Radeon.*|@.*)\b", " ", cpu)
    slug = re.sub(r"[^a-z0-9]+", "-", words.lower()).strip("-") or "cpu"
    return f"{slug}-{cores}c"


# --- (a) training loop --------------------------------------------------
def build_trainer(model_name: str, image_size: int, batch_size: int, run_root: Path):
    """Catalog, split, cached loaders, model and Trainer exactly as job._execute makes them."""
    from engine.evaluation.run_model import build_model
    from engine.runs import Run
    from engine.training.config import TrainConfig
    from engine.training.data_setup import build_run_data, load_catalog
    from engine.training.devices import select_device
    from engine.training.job import _prepare_split, _warm_cache
    from engine.training.loop import Trainer
    from engine.training.seeding import seed_everything

    config = TrainConfig.from_dict({
        "name": "bench", "seed": 0, "epochs": 1000, "batch_size": batch_size, "device": "cpu",
        "precise_bn": "off", "amp": "off", "runs_dir": str(run_root),
        "data": {"path": str(DATA), "image_size": image_size, "cache": True, "num_workers": 0},
        "split": {"mode": "image", "ratios": [0.8, 0.1, 0.1]},
        "model": {"name": model_name, "pretrained": "none"},
    })
    seed_everything(config.seed, config.deterministic)
    model = build_model(config, 2)
    run = Run.create("bench", run_root)
    device = select_device(config.device)
    catalog = load_catalog(config.data)
    split = _prepare_split(config, catalog, run, null_progress, CancelToken())
    data = build_run_data(config, catalog, split, device)
    _warm_cache(data, null_progress, CancelToken())
    if len(data.classes) != model.num_classes:
        model.reset_classifier(len(data.classes), binary_single_logit=config.model.binary_single_logit,
                               head_hidden=config.model.head_hidden, dropout=config.model.dropout)
    model = model.to(device)
    trainer = Trainer(config, run, data, model, device, null_progress, CancelToken())
    trainer.start_phase(0)
    return trainer


def ours_epochs(trainer, epochs: int) -> tuple[float, int]:
    """Seconds and images for ``epochs`` epochs of the training spine's ``seed_epoch`` + ``train_epoch``
    (no validation, no precise BN)."""
    loader = trainer.data.loaders["train"]
    t0 = time.perf_counter()
    for _ in range(epochs):
        trainer.seed_epoch()
        trainer.train_epoch()
        trainer.epoch += 1
    dt = time.perf_counter() - t0
    return dt, epochs * len(loader) * loader.batch_size  # drop_last: every batch is full


def bare_epochs(model, loader, criterion, optimizer, epochs: int) -> tuple[float, int]:
    """The same work as a plain PyTorch loop."""
    model.train()
    n = 0
    t0 = time.perf_counter()
    for _ in range(epochs):
        for x, y, _i in loader:
            logits = model(x)
            loss = criterion(logits.float(), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            n += len(y)
    return time.perf_counter() - t0, n


def bench_loop(model_name: str, image_size: int, batch_size: int, epochs: int, repeats: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-runs-") as tmp:
        trainer = build_trainer(model_name, image_size, batch_size, Path(tmp))
        loader, model = trainer.data.loaders["train"], trainer.model
        # The bare loop gets its own optimizer of the same kind over the same parameters.
        bare_opt = torch.optim.Adam(model.parameters(), lr=trainer.config.optim.lr)
        # warm up both paths
        ours_epochs(trainer, 1)
        bare_epochs(model, loader, trainer.criterion, bare_opt, 1)
        ours_ips, bare_ips, ratios, ours_t, bare_t = [], [], [], [], []
        for r in range(repeats):
            # alternate which goes first so drift in machine load hits both
            order = ("ours", "bare") if r % 2 == 0 else ("bare", "ours")
            res = {}
            for which in order:
                if which == "ours":
                    dt, n = ours_epochs(trainer, epochs)
                    ours_t.append(dt)
                else:
                    dt, n = bare_epochs(model, loader, trainer.criterion, bare_opt, epochs)
                    bare_t.append(dt)
                res[which] = n / dt
            ours_ips.append(res["ours"])
            bare_ips.append(res["bare"])
            ratios.append(res["ours"] / res["bare"])
            print(f"  [{model_name} {image_size}px] repeat {r + 1}/{repeats}: ours {res['ours']:.1f} img/s, "
                  f"bare {res['bare']:.1f} img/s, ratio {ratios[-1]:.3f}", flush=True)
        steps = epochs * len(loader)
        return {
            "model": model_name, "image_size": image_size, "batch_size": batch_size,
            "train_images": len(trainer.data.datasets["train"]), "steps_per_repeat": steps,
            "repeats": repeats, "ours_img_s_median": statistics.median(ours_ips),
            "bare_img_s_median": statistics.median(bare_ips), "ratio_median": statistics.median(ratios),
            "ratio_min": min(ratios), "ratio_max": max(ratios),
            "ratios": [round(x, 4) for x in ratios], "goal": 0.95,
            # less sensitive to bursts of load from other processes: fastest repeat of each side
            "ratio_best": min(bare_t) / min(ours_t),
        }


# --- (b) input pipeline -------------------------------------------------
def bench_pipeline(image_size: int, epochs: int, repeats: int) -> dict:
    from engine.data.cache import DirectLoader, ImageCache
    from engine.data.dataset import HistoDataset
    from engine.data.importers import scan
    from engine.data.transforms import build_transform

    catalog = scan(DATA)
    tf = build_transform(None, train=False, image_size=image_size, normalize="imagenet")
    with tempfile.TemporaryDirectory(prefix="bench-cache-") as tmp:
        cache = ImageCache(tmp, resize=image_size)
        cache.warm(catalog.records)  # untimed: the cache is warm, as from the 2nd epoch on
        datasets = {"cached": HistoDataset(catalog.records, catalog.classes, cache, tf),
                    "direct": HistoDataset(catalog.records, catalog.classes, DirectLoader(image_size), tf)}

        def run(ds) -> float:
            t0 = time.perf_counter()
            for _ in range(epochs):
                for i in range(len(ds)):
                    ds[i]
            return epochs * len(ds) / (time.perf_counter() - t0)

        for ds in datasets.values():  # warm-up (imports, allocator, page cache)
            run(ds)
        cached, direct, ratios = [], [], []
        for r in range(repeats):
            order = ("cached", "direct") if r % 2 == 0 else ("direct", "cached")
            res = {k: run(datasets[k]) for k in order}
            cached.append(res["cached"])
            direct.append(res["direct"])
            ratios.append(res["cached"] / res["direct"])
            print(f"  [pipeline {image_size}px] repeat {r + 1}/{repeats}: cached {res['cached']:.1f} img/s, "
                  f"direct {res['direct']:.1f} img/s, speed-up {ratios[-1]:.2f}x", flush=True)
        misses = cache.stats.misses
    return {"dataset": DATA_REL, "images": len(catalog.records), "image_size": image_size,
            "transform": "eval", "epochs_per_repeat": epochs, "repeats": repeats,
            "cached_img_s_median": statistics.median(cached), "direct_img_s_median": statistics.median(direct),
            "speedup_median": statistics.median(ratios), "ratios": [round(x, 3) for x in ratios],
            "cache_misses_after_warm": misses - len(catalog.records), "goal": 5.0}


# --- report -------------------------------------------------------------
def write_results(result: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"training_{result['machine']['tag']}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    m = result["machine"]
    lines = [
        "# Benchmark results",
        "",
        "Written by `benchmarks/bench_training.py` (see `../README.md`). Ratios are measured in one",
        "run with ours/baseline alternating, so they hold even when absolute speed is noisy.",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, torch {m['torch']} ({m['torch_threads']} threads), "
        f"Python {m['python']}, {result['date']}" + (" (--quick)" if result["quick"] else "") + ". "
        f"1-minute load average at the end: {m.get('load_avg_1m_at_end', '?')} (shared machine: expect noise).",
        "",
        "## (a) Training loop: `Trainer.seed_epoch` + `train_epoch` (the training spine) vs a bare PyTorch loop",
        "",
        "| model | px | batch | steps/repeat | repeats | ours img/s | bare img/s | ours/bare min / median / max "
        "| ours/bare (best vs best) | goal |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for a in result["loop"]:
        ok = "met" if a["ratio_median"] >= a["goal"] else "MISSED"
        lines.append(f"| {a['model']} | {a['image_size']} | {a['batch_size']} | {a['steps_per_repeat']} | "
                     f"{a['repeats']} | {a['ours_img_s_median']:.1f} | {a['bare_img_s_median']:.1f} | "
                     f"{a['ratio_min']:.3f} / {a['ratio_median']:.3f} / {a['ratio_max']:.3f} | {a['ratio_best']:.3f} | "
                     f">= {a['goal']} ({ok}) |")
    b = result["pipeline"]
    ok = "met" if b["speedup_median"] >= b["goal"] else "MISSED"
    lines += [
        "",
        "## (b) Input pipeline: warm `ImageCache` vs `DirectLoader` (decode + resize every time)",
        "",
        "| dataset | images | px | transform | epochs/repeat | repeats | cached img/s | direct img/s "
        "| speed-up (median) | goal |",
        "|---|---|---|---|---|---|---|---|---|---|",
        f"| `{b['dataset']}` | {b['images']} | {b['image_size']} | {b['transform']} | {b['epochs_per_repeat']} | "
        f"{b['repeats']} | {b['cached_img_s_median']:.1f} | {b['direct_img_s_median']:.1f} | "
        f"{b['speedup_median']:.2f}x | >= {b['goal']:g}x ({ok}) |",
        "",
        f"Raw figures: `{path.name}`.",
        "",
    ]
    (RESULTS / "README.md").write_text("\n".join(lines))
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats and only basic_cnn (about a minute)")
    args = ap.parse_args()
    if not DATA.is_dir():
        sys.exit(f"Sample data not found at {DATA_REL} (relative to the repository).")
    cores = os.cpu_count() or 1
    cpu = cpu_model()
    result = {
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "quick": args.quick,
        "machine": {"cpu": cpu, "cores": cores, "tag": machine_tag(cpu, cores), "torch": torch.__version__,
                    "torch_threads": torch.get_num_threads(), "python": platform.python_version()},
    }
    cases = [("basic_cnn", 128, 8)] if args.quick else [("basic_cnn", 128, 8), ("resnet18", 128, 8)]
    repeats, epochs = (5, 1) if args.quick else (21, 1)
    print(f"(a) training loop, {repeats} alternating repeats of {epochs} epochs each")
    result["loop"] = [bench_loop(m, s, b, epochs, repeats) for m, s, b in cases]
    print("(b) input pipeline")
    result["pipeline"] = bench_pipeline(224, 2, 3 if args.quick else 7)
    result["machine"]["load_avg_1m_at_end"] = round(os.getloadavg()[0], 2)
    path = write_results(result)
    for a in result["loop"]:
        print(f"(a) {a['model']} {a['image_size']}px: ours {a['ours_img_s_median']:.1f} img/s, bare "
              f"{a['bare_img_s_median']:.1f} img/s, median ratio {a['ratio_median']:.3f}, "
              f"best-vs-best {a['ratio_best']:.3f} (goal >= 0.95)")
    b = result["pipeline"]
    print(f"(b) cached {b['cached_img_s_median']:.1f} img/s vs direct {b['direct_img_s_median']:.1f} img/s: "
          f"{b['speedup_median']:.2f}x (goal >= 5x)")
    print(f"wrote {path.relative_to(REPO)} and {(RESULTS / 'README.md').relative_to(REPO)}")


if __name__ == "__main__":
    main()
