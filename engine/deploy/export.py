"""Export a run's model as a verified model package (``python main.py export RUN``).

The package is built in a temporary folder next to its destination and
moved into place only after PyTorch and onnxruntime agree on the run's own
test images (largest absolute probability difference <= 1e-4 in fp32); a
failed export leaves nothing behind, and an earlier package of the same run
is replaced only once the new one is complete (:mod:`engine.deploy.swap`).
"""

from __future__ import annotations

import datetime as _dt
import shutil
from pathlib import Path

import numpy as np
import torch

from engine.deploy.graph import OPSET, OUTPUT_NAMES, ProbabilityModel, export_onnx
from engine.deploy.manifest import FORMAT, FORMAT_VERSION, FP32_FILE, MANIFEST, SUFFIX, sha256_file
from engine.deploy.runtime import open_session
from engine.deploy.samples import SampleSet, random_samples, run_magnification, split_samples
from engine.deploy.spec import InputSpec
from engine.deploy.swap import build_folder, publish
from engine.errors import HistoDeskError
from engine.io_utils import write_json
from engine.jobs import CancelToken, Progress, ProgressFn, null_progress

PARITY_TOLERANCE = 1e-4


def torch_probs(model, x: np.ndarray, binary_single_logit: bool, batch_size: int = 32) -> np.ndarray:
    """N x C probabilities of ``model`` (CPU, eval) on a float32 batch, via the exported head."""
    wrapped = ProbabilityModel(model, binary_single_logit).eval()
    with torch.no_grad():
        return np.concatenate([wrapped(torch.from_numpy(x[i:i + batch_size]))[0].numpy()
                               for i in range(0, len(x), batch_size)])


def ort_probs(session, x: np.ndarray, batch_size: int = 32) -> np.ndarray:
    """N x C probabilities of an onnxruntime session on a float32 batch."""
    name = session.get_inputs()[0].name
    return np.concatenate([session.run([OUTPUT_NAMES[0]], {name: x[i:i + batch_size]})[0]
                           for i in range(0, len(x), batch_size)])


def recommended_tta(run) -> str | None:
    """The TTA mode a run recommends: summary.json's "tta", else "s3" when TTA evaluated better."""
    mode = run.summary.get("tta")
    if mode in ("s3", "d4"):
        return mode
    plain, tta = run.read("evaluation.json", {}), run.read("evaluation_tta.json", {})
    for key in ("roc_auc", "accuracy"):
        a, b = (plain.get("test") or {}).get(key), (tta.get("test") or {}).get(key)
        if a is not None and b is not None:
            return "s3" if b > a else None
    return None


def _versions() -> dict:
    import onnx
    import onnxruntime

    return {"torch": torch.__version__, "onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__,
            "opset": OPSET}


def export_run(run_dir: str | Path, out: str | Path | None = None, *, int8: bool = False, parity_images: int = 16,
               int8_method: str = "auto", device: str = "cpu", progress: ProgressFn = null_progress,
               cancel: CancelToken | None = None) -> dict:
    """Export a finished run to ``<out>/<run id>.hdpkg/`` (``out`` defaults to the run folder).

    Returns {"package", "onnx", "max_prob_diff", "parity_ok", "parity_images", "int8"}. The parity check
    runs on the CPU in fp32 (``device`` is accepted for symmetry and not used: GPU kernels would
    blur the comparison). Raises HistoDeskError when the difference exceeds 1e-4.
    """
    from engine.evaluation.run_model import load_run_model
    from engine.runs import Run

    cancel = cancel or CancelToken()
    run = Run.open(run_dir)
    model, classes, config = load_run_model(run, "cpu")
    spec = InputSpec.from_train_config(config)
    single = getattr(model, "num_outputs", len(classes)) == 1
    dest = Path(out) if out else run.path
    dest.mkdir(parents=True, exist_ok=True)
    final = dest / f"{run.id}{SUFFIX}"
    tmp = build_folder(final)  # also clears temp folders a killed export left beside it
    try:
        progress(Progress("export", 0, 4, "exporting the model to ONNX"))
        export_onnx(model, tmp / FP32_FILE, image_size=spec.size, binary_single_logit=single)
        cancel.raise_if_cancelled()
        progress(Progress("export", 1, 4, "checking parity with PyTorch"))
        samples = split_samples(run, spec, classes, "test", parity_images, cancel) or random_samples(spec, max(
            1, parity_images))
        diff = parity(model, tmp / FP32_FILE, samples.x, single)
        if not diff <= PARITY_TOLERANCE:
            raise HistoDeskError(f"ONNX export of {run.id} failed its parity check: probabilities differ from "
                                 f"PyTorch by up to {diff:.2e} (limit {PARITY_TOLERANCE:.0e}) on {samples.source}. "
                                 "The model uses an operation the exporter does not reproduce; report it.")
        int8_info = None
        if int8:
            from engine.deploy.quantize import quantize_package

            progress(Progress("export", 2, 4, "quantising to int8"))
            int8_info = quantize_package(tmp, run, spec, classes, single, method=int8_method, cancel=cancel)
        progress(Progress("export", 3, 4, "writing the package"))
        manifest = _manifest(run, config, classes, spec, single, tmp, diff, samples, int8_info)
        write_json(tmp / MANIFEST, manifest)
        publish(tmp, final)  # the old package is deleted only once the new one is in place
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    progress(Progress("export", 4, 4, f"package written to {final}"))
    return {"package": str(final), "onnx": str(final / FP32_FILE), "max_prob_diff": diff,
            "parity_ok": True, "parity_images": len(samples.x), "parity_source": samples.source, "int8": int8_info}


def parity(model, onnx_path: Path, x: np.ndarray, binary_single_logit: bool) -> float:
    """Largest absolute difference of PyTorch and onnxruntime probabilities on ``x``."""
    session = open_session(onnx_path, device="cpu")
    a = torch_probs(model, x, binary_single_logit)
    b = ort_probs(session, x)
    return float(np.max(np.abs(a - b))) if a.shape == b.shape else float("inf")


def _manifest(run, config, classes, spec: InputSpec, single: bool, folder: Path, diff: float,
              samples: SampleSet, int8_info: dict | None) -> dict:
    files = {p.name: sha256_file(p) for p in sorted(folder.iterdir()) if p.suffix == ".onnx"}
    return {
        "format": FORMAT, "format_version": FORMAT_VERSION,
        "name": config.name or run.id, "classes": list(classes),
        "input": spec.input_dict(), "resize": spec.load_size, "keep_aspect": spec.keep_aspect,
        "outputs": {"probs": "N x C class probabilities", "logits": "raw model outputs"},
        "model": config.model.name, "tta": recommended_tta(run), "magnification": run_magnification(run),
        "stain": None, "binary_single_logit": single, "files": files,
        "source_run": str(run.path.resolve()), "created": _dt.datetime.now(_dt.timezone.utc).isoformat(
            timespec="seconds"),
        "parity": {"max_prob_diff": diff, "n_images": int(len(samples.x)), "source": samples.source,
                   "tolerance": PARITY_TOLERANCE},
        "int8": int8_info, **_versions(),
    }
