"""Deployment inference benchmark on the CPU (a script, not a test).

    .venv/bin/python benchmarks/bench_deploy.py [--quick]

(a) images/s classifying 2,000 images (the 78 BreaKHis 224x224 images of
    ``../shared/data/breakhis-224-flat``, repeated) with resnet18 (random
    init, 224 px, batch 32): PyTorch eager (plain ``model(x)`` under
    ``no_grad``) vs onnxruntime fp32 (the session ``ModelPackage`` opens:
    full graph optimisation) vs onnxruntime int8 (static QDQ, per-channel;
    dynamic int8 on fewer images for comparison). Preprocessing is EXCLUDED:
    every backend gets the same preprocessed float32 batches. torch threads =
    onnxruntime intra-op threads. The images are cut into rounds; within a
    round the backends alternate (order rotating), so load drift on a shared
    machine hits all of them. Goals: onnx/torch >= 1.5x, int8/fp32 >= 2x.
(b) the accuracy cost of int8 on a small trained run (the ``demo`` preset,
    few epochs, on a generated demo dataset): fp32 vs int8 accuracy and
    agreement on the run's test split, as ``python main.py export --int8``
    records them in package.json.

Writes ``benchmarks/results/deploy_cpu.txt``.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import functools
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DATA = REPO.parent / "shared" / "data" / "breakhis-224-flat"
RESULTS = REPO / "benchmarks" / "results"
_HOME = tempfile.TemporaryDirectory(prefix="histodesk-bench-deploy-")
os.environ["HISTODESK_HOME"] = _HOME.name
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

import numpy as np
import torch

from bench_training import cpu_model


def load_images(spec, n: int) -> np.ndarray:
    """``n`` preprocessed images (the sample set repeated), float32 N x 3 x S x S."""
    from engine.data.importers.base import walk_files

    files = [p for p in walk_files(DATA) if p.suffix.lower() == ".png"]
    base = np.stack([spec.preprocess(spec.load(str(p))) for p in files])
    return base[np.arange(n) % len(base)]


def _onnx_probs(session, batch: np.ndarray) -> np.ndarray:
    """Class-1 probabilities of one batch from an ONNX Runtime session."""
    return session.run(["probs"], {"input": batch})[0][:, 1:]


def build_backends(work: Path, x: np.ndarray, threads: int, with_dynamic: bool) -> dict:
    """name -> callable(batch) for torch eager and the onnxruntime models of one resnet18."""
    from engine.deploy.graph import export_onnx
    from engine.deploy.quantize import quantize_dynamic, quantize_static
    from engine.deploy.runtime import open_session
    from engine.models import create_model

    torch.manual_seed(0)
    model = create_model("resnet18", 2, pretrained="none", image_size=224).eval()
    fp32 = export_onnx(model, work / "model.onnx", image_size=224, binary_single_logit=True)
    quantize_static(fp32, work / "static.onnx", x[:64])
    paths = {"onnx fp32": fp32, "onnx int8 static": work / "static.onnx"}
    if with_dynamic:
        quantize_dynamic(fp32, work / "dynamic.onnx")
        paths["onnx int8 dynamic"] = work / "dynamic.onnx"
    sessions = {k: open_session(p, device="cpu", threads=threads) for k, p in paths.items()}

    def torch_fn(batch):
        with torch.no_grad():
            return torch.sigmoid(model(torch.from_numpy(batch))).numpy()

    fns = {"torch eager": torch_fn}
    for name, session in sessions.items():
        fns[name] = functools.partial(_onnx_probs, session)
    return fns


def bench_throughput(x: np.ndarray, fns: dict, batch: int, rounds: int, dynamic_images: int) -> dict:
    """images/s per backend over the same batches, alternating per round."""
    batches = [x[i:i + batch] for i in range(0, len(x), batch)]
    per_round = [batches[r::rounds] for r in range(rounds)]
    for fn in fns.values():  # warm-up
        fn(batches[0])
    seconds = {k: 0.0 for k in fns}
    images = {k: 0 for k in fns}
    outputs = {k: [] for k in fns}
    rates = {k: [] for k in fns}  # img/s per round: ratios taken within a round resist load drift
    names = list(fns)
    for r, chunk in enumerate(per_round):
        order = names[r % len(names):] + names[:r % len(names)]
        for name in order:
            if name.endswith("dynamic") and images[name] >= dynamic_images:
                continue
            t0 = time.perf_counter()
            out = [fns[name](b) for b in chunk]
            dt, n_round = time.perf_counter() - t0, sum(len(b) for b in chunk)
            seconds[name] += dt
            images[name] += n_round
            rates[name].append(n_round / dt)
            outputs[name].append(np.concatenate(out))
        print(f"  round {r + 1}/{rounds}: " + ", ".join(
            f"{k} {images[k] / seconds[k]:.1f} img/s" for k in names if seconds[k]), flush=True)
    ref = np.concatenate(outputs["onnx fp32"]).ravel()
    res = {}
    for k in names:
        p = np.concatenate(outputs[k]).ravel()
        res[k] = {"images": images[k], "seconds": seconds[k], "img_s": images[k] / seconds[k], "rates": rates[k],
                  "max_prob_diff_vs_fp32": float(np.abs(p - ref[:len(p)]).max()),
                  "agreement_vs_fp32": float(np.mean((p > 0.5) == (ref[:len(p)] > 0.5)))}
    return res


def bench_accuracy(epochs: int) -> dict:
    """Train the demo preset briefly, export with int8 (static and dynamic), return package figures."""
    from engine.data.demo import generate_demo
    from engine.deploy.export import export_run
    from engine.training.config import build_config
    from engine.training.job import train

    data = generate_demo(Path(_HOME.name) / "demo")
    config = build_config("demo", {"data": {"path": str(data)}, "epochs": epochs, "runs_dir": _HOME.name,
                                   "device": "cpu"})
    for p in config.phases:
        p.epochs = max(1, epochs // max(1, len(config.phases)))
    t0 = time.perf_counter()
    run = train(config)
    out = {"train_s": time.perf_counter() - t0, "model": config.model.name, "image_size": config.data.image_size,
           "test_accuracy_torch": (run.summary.get("metrics") or {}).get("test", {}).get("accuracy")}
    for method in ("static", "dynamic"):
        res = export_run(run.path, Path(_HOME.name) / f"pk-{method}", int8=True, int8_method=method)
        out[method] = res["int8"]
        out["parity"] = res["max_prob_diff"]
    return out


def round_ratio(tput: dict, a: str, b: str) -> float:
    """Median over rounds of (a img/s) / (b img/s) measured in the same round."""
    return statistics.median(x / y for x, y in zip(tput[a]["rates"], tput[b]["rates"]))


def report(meta: dict, tput: dict, acc: dict | None) -> str:
    """The text written to results/deploy_cpu.txt."""
    t, o, s = (tput[k]["img_s"] for k in ("torch eager", "onnx fp32", "onnx int8 static"))
    r1, r2 = round_ratio(tput, "onnx fp32", "torch eager"), round_ratio(tput, "onnx int8 static", "onnx fp32")
    lines = [
        "HistoDesk deployment benchmark (benchmarks/bench_deploy.py)",
        f"date: {meta['date']}  machine: {meta['cpu']}, {meta['cores']} cores  threads (torch = ort): "
        f"{meta['threads']}  torch {torch.__version__}, onnxruntime {meta['ort']}  load avg at end: {meta['load']}",
        f"(a) resnet18 random init, 224 px, batch {meta['batch']}, CPU; {meta['images']} images "
        f"({DATA.name} repeated); preprocessing EXCLUDED (same preprocessed batches for every backend); "
        f"{meta['rounds']} alternating rounds",
        "",
        f"{'backend':<20} {'images':>7} {'seconds':>8} {'img/s':>8}  max|dp| vs fp32  agreement",
    ]
    for k, v in tput.items():
        lines.append(f"{k:<20} {v['images']:>7} {v['seconds']:>8.1f} {v['img_s']:>8.1f}  "
                     f"{v['max_prob_diff_vs_fp32']:>14.2e}  {v['agreement_vs_fp32']:>8.1%}")
    lines += ["", "ratios: total images/s over the whole run | median of per-round ratios (same round, same load)",
              f"onnxruntime fp32 / torch eager: {o / t:.2f}x | {r1:.2f}x (goal >= 1.5x: "
              f"{'met' if r1 >= 1.5 else 'MISSED'})",
              f"onnxruntime int8 static / fp32: {s / o:.2f}x | {r2:.2f}x (goal >= 2x: "
              f"{'met' if r2 >= 2 else 'MISSED'})"]
    if "onnx int8 dynamic" in tput:
        lines.append(f"onnxruntime int8 dynamic / fp32: {tput['onnx int8 dynamic']['img_s'] / o:.2f}x "
                     f"(on {tput['onnx int8 dynamic']['images']} images)")
    if acc:
        lines += ["", f"(b) int8 accuracy change on a trained run: demo preset ({acc['model']}, "
                      f"{acc['image_size']} px, trained {acc['train_s']:.0f} s), fp32 parity {acc['parity']:.1e}"]
        for m in ("static", "dynamic"):
            q = acc[m]
            lines.append(f"  {q['method']:<40} test n={q['n_images']}: accuracy fp32 {q['fp32_accuracy']:.3f} -> "
                         f"int8 {q['int8_accuracy']:.3f} ({q['accuracy_change']:+.3f}), agreement "
                         f"{q['agreement']:.1%}, max|dp| {q['max_prob_diff']:.3f}, {q['fp32_mb']} -> {q['int8_mb']} MB")
    return "\n".join(lines) + "\n"


def main() -> None:
    """Run (a) and (b) and write the results."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="256 images, no training run")
    ap.add_argument("--images", type=int, default=2000)
    ap.add_argument("--epochs", type=int, default=4, help="epochs of the demo run for (b)")
    args = ap.parse_args()
    import onnxruntime

    threads = torch.get_num_threads()
    n = 256 if args.quick else args.images
    rounds = 4 if args.quick else 16
    from engine.deploy.spec import InputSpec

    x = load_images(InputSpec(size=224, normalize="imagenet"), n)
    with tempfile.TemporaryDirectory(prefix="bench-deploy-") as tmp:
        fns = build_backends(Path(tmp), x, threads, with_dynamic=True)
        print(f"(a) {n} images, batch 32, {threads} threads")
        tput = bench_throughput(x, fns, 32, rounds, dynamic_images=max(64, n // 8))
    acc = None if args.quick else bench_accuracy(args.epochs)
    meta = {"date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "cpu": cpu_model(),
            "cores": os.cpu_count(), "threads": threads, "ort": onnxruntime.__version__, "batch": 32, "images": n,
            "rounds": rounds, "load": round(os.getloadavg()[0], 2), "python": platform.python_version()}
    text = report(meta, tput, acc)
    print("\n" + text)
    if not args.quick:
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "deploy_cpu.txt").write_text(text)
        print(f"wrote {(RESULTS / 'deploy_cpu.txt').relative_to(REPO)}")


if __name__ == "__main__":
    main()
