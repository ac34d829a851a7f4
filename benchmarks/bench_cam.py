"""CAM speed benchmark on CPU (a script, not a test).

    .venv/bin/python benchmarks/bench_cam.py [--repeats 7] [--size 224] [--threads N]

(a) Per-image time of a Grad-CAM heatmap (``compute_cams``, batch 1) vs one
    plain forward + backward pass of the same model on the same input
    (``model(x)[:, 0].sum().backward()`` with all weights trainable), ResNet-18
    at 224 px with random weights. The two alternate for ``--repeats`` rounds;
    medians and their ratio (goal <= 2x) are reported from the same run.
(b) Batched heatmaps per second (batch 16) for gradcam, gradcam++, eigencam.

The printed table is written to ``benchmarks/results/cam_cpu.txt`` (and JSON
to ``cam_cpu.json``). Absolute figures depend on the machine's load; the
ratio is measured in one run and is the comparable number.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"
sys.path.insert(0, str(REPO))

import torch

from engine.explain.cams import compute_cams
from engine.models import create_model


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def forward_backward(model, x) -> None:
    """One training-style pass: forward, then backward of the logit into every weight."""
    model.zero_grad(set_to_none=True)
    model(x)[:, 0].sum().backward()


def bench(repeats: int, size: int) -> dict:
    """Run (a) and (b); returns the figures."""
    torch.manual_seed(0)
    model = create_model("resnet18", 2, image_size=size).eval()
    x1 = torch.randn(1, 3, size, size)
    for _ in range(2):  # warm-up
        forward_backward(model, x1)
        compute_cams(model, x1, method="gradcam")
    cam_t, fb_t = [], []
    for _ in range(repeats):
        fb_t.append(_timed(lambda: forward_backward(model, x1)))
        cam_t.append(_timed(lambda: compute_cams(model, x1, method="gradcam", batch_size=1)))
    cam_med, fb_med = statistics.median(cam_t), statistics.median(fb_t)
    x16 = torch.randn(16, 3, size, size)
    batched = {}
    for method in ("gradcam", "gradcam++", "eigencam"):
        compute_cams(model, x16[:2], method=method)  # warm-up
        times = [_timed(lambda m=method: compute_cams(model, x16, method=m, batch_size=16))
                 for _ in range(max(1, repeats // 2))]
        batched[method] = 16 / statistics.median(times)
    return {"model": "resnet18", "image_size": size, "repeats": repeats, "threads": torch.get_num_threads(),
            "gradcam_batch1_ms": cam_med * 1e3, "forward_backward_ms": fb_med * 1e3, "ratio": cam_med / fb_med,
            "gradcam_batch1_all_ms": [t * 1e3 for t in cam_t], "forward_backward_all_ms": [t * 1e3 for t in fb_t],
            "batched_images_per_s": batched}


def table(r: dict) -> str:
    """The printed result table."""
    lines = [f"CAM benchmark: {r['model']} {r['image_size']} px, random weights, CPU, {r['threads']} threads, "
             f"median of {r['repeats']} alternating repeats",
             f"  Grad-CAM heatmap, batch 1       {r['gradcam_batch1_ms']:8.1f} ms/image",
             f"  forward + backward, batch 1     {r['forward_backward_ms']:8.1f} ms/image",
             f"  ratio Grad-CAM / fwd+bwd        {r['ratio']:8.2f} x   (goal <= 2x)",
             "  batched heatmaps (batch 16):"]
    lines += [f"    {m:<12} {v:8.1f} images/s" for m, v in r["batched_images_per_s"].items()]
    lines.append("  (shared, noisy machine: absolute times vary between runs; the ratio is from one run)")
    return "\n".join(lines)


def main() -> int:
    """Parse arguments, run, print and save."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    result = bench(args.repeats, args.size)
    text = table(result)
    print(text)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "cam_cpu.txt").write_text(text + "\n")
    (RESULTS / "cam_cpu.json").write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
