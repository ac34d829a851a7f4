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
from typing import Any

import numpy as np
import torch

from engine.deploy.graph import OPSET, ProbabilityModel
from engine.deploy.graph_process import export_run_graph
from engine.deploy.manifest import FORMAT, FORMAT_VERSION, FP32_FILE, SUFFIX
from engine.deploy.model_file import seal_package
from engine.deploy.package import ModelPackage
from engine.deploy.runtime import open_session, ort_probs, run_probs
from engine.deploy.samples import SampleSet, random_samples, run_magnification, split_batches, split_samples
from engine.deploy.spec import InputSpec
from engine.deploy.swap import build_folder, publish
from engine.errors import HistoDeskError
from engine.evaluation.calibration import package_calibration
from engine.jobs import CancelToken, Progress, ProgressFn, null_progress
from engine.schema import validate

PARITY_TOLERANCE = 1e-4


def torch_probs(model, x: np.ndarray, binary_single_logit: bool, batch_size: int = 32) -> np.ndarray:
    """N x C probabilities of ``model`` (CPU, eval) on a float32 batch, via the exported head."""
    wrapped = ProbabilityModel(model, binary_single_logit).eval()
    with torch.no_grad():
        return np.concatenate([wrapped(torch.from_numpy(x[i:i + batch_size]))[0].numpy()
                               for i in range(0, len(x), batch_size)])


def recommended_tta(run, onnx_path: str | Path, spec: InputSpec, classes: list[str], *, mode: str = "s3",
                    cancel: CancelToken | None = None) -> tuple[str | None, dict]:
    """(TTA mode or None, package.json["tta_choice"]): chosen on the run's VALIDATION images only.

    The graph at ``onnx_path`` classifies every readable labelled val image with and without TTA
    exactly as the package will (the run's val temperature on each view's logits, the views'
    probabilities averaged); ``mode`` is recommended only when val ROC AUC improves (accuracy when
    AUC is undefined, e.g. one class in val). No val images: no TTA. Test images and test metrics
    are never read, so the test split stays untouched for reporting.
    """
    from engine.evaluation.calibration import load_calibration
    from engine.evaluation.evaluate import positive_class
    from engine.evaluation.metrics import compute_metrics

    calibration = load_calibration(run.path)
    temperature = calibration.temperature if calibration is not None else 1.0
    session = open_session(onnx_path, device="cpu")
    plain, tta, ys = [], [], []
    for batch in split_batches(run, spec, classes, "val", batch_size=32, cancel=cancel):
        if batch.y is None:  # a split's batches always carry labels
            continue
        keep = np.asarray(batch.y >= 0)  # images whose label is one of the run's classes
        if keep.any():
            plain.append(run_probs(session, batch.x[keep], None, temperature))
            tta.append(run_probs(session, batch.x[keep], mode, temperature))
            ys.append(batch.y[keep])
    choice: dict[str, Any] = {"split": "val", "mode": mode, "metric": None, "plain": None, "tta": None,
              "n_images": int(sum(len(y) for y in ys))}
    if not ys:
        return None, {**choice, "note": "no readable labelled validation images, so no TTA"}
    y, positive = np.concatenate(ys), positive_class(classes)
    a, b = (compute_metrics(y, np.concatenate(p), classes, positive_class=positive, max_curve_points=2)
            for p in (plain, tta))
    for key in ("roc_auc", "accuracy"):
        if a.get(key) is not None and b.get(key) is not None:
            choice.update(metric=key, plain=float(a[key]), tta=float(b[key]))
            return (mode if b[key] > a[key] else None), choice
    return None, {**choice, "note": "no validation metric could be computed, so no TTA"}


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
    from engine.options import ExportOptions
    from engine.runs import Run

    opts = validate(ExportOptions, {"int8": int8, "int8_method": int8_method, "parity_images": parity_images},
                    "export")  # refused before anything is read or written
    int8, int8_method, parity_images = opts.int8, opts.int8_method, opts.parity_images
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
        # in a child process: torch's exporter holds the GIL for up to seconds, which would freeze the GUI
        export_run_graph(run.path, tmp / FP32_FILE, image_size=spec.size, binary_single_logit=single, cancel=cancel)
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
        progress(Progress("export", 3, 4, "choosing TTA on the validation images and writing the package"))
        manifest = _manifest(run, config, classes, spec, single, tmp, diff, samples, int8_info, cancel)
        manifest = seal_package(tmp, manifest)  # stamps the models, lists their SHA-256, writes package.json
        ModelPackage.load(tmp, device="cpu", verify="all")  # never publish a package its own loader refuses
        publish(tmp, final)  # the old package is deleted only once the new one is in place
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    progress(Progress("export", 4, 4, f"package written to {final}"))
    return {"package": str(final), "onnx": str(final / FP32_FILE), "max_prob_diff": diff,
            "parity_ok": True, "parity_images": len(samples.x), "parity_source": samples.source, "int8": int8_info,
            "tta": manifest["tta"], "tta_choice": manifest["tta_choice"]}


def parity(model, onnx_path: Path, x: np.ndarray, binary_single_logit: bool) -> float:
    """Largest absolute difference of PyTorch and onnxruntime probabilities on ``x``."""
    session = open_session(onnx_path, device="cpu")
    a = torch_probs(model, x, binary_single_logit)
    b = ort_probs(session, x)
    return float(np.max(np.abs(a - b))) if a.shape == b.shape else float("inf")


def _manifest(run, config, classes, spec: InputSpec, single: bool, folder: Path, diff: float,
              samples: SampleSet, int8_info: dict | None, cancel: CancelToken | None = None) -> dict:
    tta, tta_choice = recommended_tta(run, folder / FP32_FILE, spec, list(classes), cancel=cancel)
    return {
        "format": FORMAT, "format_version": FORMAT_VERSION,
        "name": config.name or run.id, "classes": list(classes),
        "input": spec.input_dict(), "resize": spec.load_size, "keep_aspect": spec.keep_aspect,
        "outputs": {"probs": "N x C class probabilities", "logits": "raw model outputs"},
        "model": config.model.name, "tta": tta, "tta_choice": tta_choice, "magnification": run_magnification(run),
        "stain": None, "binary_single_logit": single, "files": {},  # filled by seal_package
        "source_run": str(run.path.resolve()), "created": _dt.datetime.now(_dt.timezone.utc).isoformat(
            timespec="seconds"),
        "parity": {"max_prob_diff": diff, "n_images": int(len(samples.x)), "source": samples.source,
                   "tolerance": PARITY_TOLERANCE},
        "int8": int8_info, "calibration": package_calibration(run.path), **_versions(),
    }
