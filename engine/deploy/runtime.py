"""onnxruntime sessions for packages, and the checks made before a graph runs.

A package's graph is checked against what package.json declares before the
first batch runs: exactly one input, float32, rank 4, 3 channels, the
declared square size, and a probability output with one column per class.
Anything else is refused with :class:`~engine.errors.UntrustedFileError`.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from engine.errors import DataError, HistoDeskError, UntrustedFileError

_ORT_TYPES = {"float32": "tensor(float)"}


def onnxruntime_available() -> bool:
    """True when the onnxruntime package can be imported."""
    try:
        import onnxruntime  # noqa: F401 - imported only to see that it can be
    except ImportError:
        return False
    return True


def providers_for(device: str = "auto") -> list[str]:
    """Execution providers for ``device`` ("auto", "cpu", "cuda"): CUDA first when usable."""
    import onnxruntime as ort

    available = ort.get_available_providers()
    if device in ("auto", "cuda") and "CUDAExecutionProvider" in available:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


def open_session(path: str | Path, *, device: str = "auto", threads: int | None = None):
    """An InferenceSession of ``path`` with full graph optimisation; refuses non-ONNX files."""
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise HistoDeskError("onnxruntime is not installed, so ONNX packages cannot run here. Install it "
                             "(pip install onnxruntime) or classify with the training run (--backend torch).") from exc
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.intra_op_num_threads = int(threads or 0)  # 0 = onnxruntime's default (physical cores)
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    try:
        return ort.InferenceSession(os.fspath(path), sess_options=opts, providers=providers_for(device))
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidProtobuf/InvalidGraph types
        raise UntrustedFileError(f"{path} was refused: it is not a valid ONNX model onnxruntime can load "
                                 f"({str(exc).splitlines()[0][:200]}). Re-export the package from its run.") from exc


def run_probs(session, x: np.ndarray, tta: str | None = None, temperature: float = 1.0) -> np.ndarray:
    """N x C probabilities of a checked batch, in one onnxruntime call.

    With a TTA mode ("s3"/"d4") each view's probabilities are computed (softmax/sigmoid per view), then
    averaged over the views. A ``temperature`` other than 1 divides each view's logits first (the run's
    val-fitted temperature scaling), so calibration and TTA compose as in the PyTorch paths.
    """
    from engine.deploy.spec import tta_views_np

    views = tta_views_np(x, tta) if tta else [x]
    feed = {session.get_inputs()[0].name: np.concatenate(views) if len(views) > 1 else x}
    if temperature == 1.0:
        probs = session.run(["probs"], feed)[0]
    else:
        from engine.evaluation.predictions import probs_from_logits

        z = session.run(["logits"], feed)[0]
        probs = probs_from_logits(z / temperature, z.ndim == 1 or z.shape[1] == 1)
    return probs.reshape(len(views), len(x), -1).mean(axis=0, dtype=np.float64).astype(np.float32)


def ort_probs(session, x: np.ndarray, batch_size: int = 32) -> np.ndarray:
    """N x C probabilities of an onnxruntime session on a float32 batch, ``batch_size`` images per call."""
    name = session.get_inputs()[0].name
    return np.concatenate([session.run(["probs"], {name: x[i:i + batch_size]})[0]
                           for i in range(0, len(x), batch_size)])


def check_graph(session, *, size: int, channels: int, dtype: str, n_classes: int, where: str) -> None:
    """Refuse a graph whose input/output differ from the package's declaration."""
    def refuse(what: str) -> UntrustedFileError:
        return UntrustedFileError(f"{where} was refused: {what}, unlike its package.json. "
                                  "The package was tampered with or mixed up; re-export it from its run.")

    inputs = session.get_inputs()
    if len(inputs) != 1:
        raise refuse(f"the ONNX graph has {len(inputs)} inputs instead of 1")
    inp = inputs[0]
    if inp.type != _ORT_TYPES.get(dtype):
        raise refuse(f"the graph input has type {inp.type} instead of {dtype}")
    shape = list(inp.shape)
    if len(shape) != 4:
        raise refuse(f"the graph input has rank {len(shape)} ({shape}) instead of 4 (N x C x H x W)")
    if shape[1] != channels:
        raise refuse(f"the graph input has {shape[1]} channels instead of {channels}")
    if shape[2] != size or shape[3] != size:
        raise refuse(f"the graph input is {shape[2]} x {shape[3]} instead of {size} x {size}")
    outputs = session.get_outputs()
    if not outputs or outputs[0].name != "probs":
        raise refuse("the graph's first output is not 'probs'")
    out_shape = list(outputs[0].shape)
    if len(out_shape) != 2 or out_shape[1] != n_classes:
        raise refuse(f"the graph output has shape {out_shape} instead of [N, {n_classes}]")


def check_batch(batch, *, size: int, channels: int = 3) -> np.ndarray:
    """``batch`` as a contiguous float32 N x C x S x S array, or DataError."""
    if not isinstance(batch, np.ndarray):
        raise DataError(f"A model package takes a numpy array, got {type(batch).__name__}.")
    if batch.dtype != np.float32:
        raise DataError(f"A model package takes float32 input, got {batch.dtype}; use InputSpec.preprocess.")
    if batch.ndim != 4 or batch.shape[1:] != (channels, size, size) or batch.shape[0] < 1:
        raise DataError(f"A model package takes N x {channels} x {size} x {size} batches, got {batch.shape}.")
    return np.ascontiguousarray(batch)
