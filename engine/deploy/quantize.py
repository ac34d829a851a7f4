"""int8 quantisation of a package's ONNX model, with its accuracy change measured.

Two onnxruntime recipes (onnxruntime.quantization):

- ``"static"``: QDQ format, per-channel int8 weights, uint8 activations
  calibrated (min/max) on the run's training images; convolutions and matrix
  products run as integer kernels, which is what speeds CNNs up on CPUs.
- ``"dynamic"``: int8 weights, activation ranges computed per batch; needs
  no images but leaves convolutions mostly in float (best for MatMul-heavy
  models such as ViTs).

``"auto"`` picks static when training images are readable, else dynamic.
The int8 model is compared with the fp32 one on the run's test split
(accuracy of each, agreement of the predicted classes, largest probability
difference) and the figures go to package.json["int8"].
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from engine.deploy.manifest import FP32_FILE, INT8_FILE
from engine.deploy.samples import random_samples, run_records, split_batches, split_samples
from engine.deploy.spec import InputSpec
from engine.jobs import CancelToken
from engine.options import Int8Method, literal_values
from engine.schema import check_value

CALIBRATION_IMAGES = 64
QUANTIZED_OPS = ["Conv", "MatMul", "Gemm", "Add", "Relu", "Clip", "MaxPool", "GlobalAveragePool", "Mul"]
METHODS = literal_values(Int8Method)


class _Calibration:
    """onnxruntime CalibrationDataReader over preprocessed images, a few at a time."""

    def __init__(self, input_name: str, x: np.ndarray, batch: int = 8):
        self._items = iter([{input_name: x[i:i + batch]} for i in range(0, len(x), batch)])

    def get_next(self):
        """The next calibration batch, or None when done."""
        return next(self._items, None)


def _prepare(src: Path, tmp: str) -> str:
    """The model after onnxruntime's recommended pre-processing (shape inference, folding)."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    prepared = str(Path(tmp) / "prepared.onnx")
    quant_pre_process(str(src), prepared, skip_symbolic_shape=True)
    return prepared


def quantize_static(src: Path, dst: Path, calibration: np.ndarray) -> None:
    """QDQ int8 model of ``src`` (per-channel weights) calibrated on ``calibration`` images."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static as _qs

    with tempfile.TemporaryDirectory(prefix="histodesk-quant-") as tmp:
        _qs(_prepare(src, tmp), str(dst), _Calibration("input", calibration), quant_format=QuantFormat.QDQ,
            per_channel=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
            op_types_to_quantize=QUANTIZED_OPS, calibrate_method=CalibrationMethod.MinMax,
            reduce_range=True, extra_options={"ActivationSymmetric": False})


def quantize_dynamic(src: Path, dst: Path) -> None:
    """Dynamic int8 model of ``src`` (int8 weights, per-batch activation ranges)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic as _qd

    with tempfile.TemporaryDirectory(prefix="histodesk-quant-") as tmp:
        _qd(_prepare(src, tmp), str(dst), weight_type=QuantType.QInt8, per_channel=True, reduce_range=True)


def compare(fp32: Path, int8: Path, batches) -> dict:
    """Accuracy (when labels are known), agreement and largest probability difference of two models.

    ``batches``: an iterable of :class:`SampleSet` (the test split in bounded chunks).
    """
    from engine.deploy.runtime import open_session, ort_probs

    sa, sb = open_session(fp32, device="cpu"), open_session(int8, device="cpu")
    pa, pb, ys, max_diff = [], [], [], 0.0
    for batch in batches:
        a, b = ort_probs(sa, batch.x), ort_probs(sb, batch.x)
        pa.append(a.argmax(1))
        pb.append(b.argmax(1))
        ys.append(batch.y if batch.y is not None else np.full(len(batch.x), -1))
        max_diff = max(max_diff, float(np.max(np.abs(a - b))))
    pred_a, pred_b, y = np.concatenate(pa), np.concatenate(pb), np.concatenate(ys)
    out = {"n_images": int(len(pred_a)), "agreement": float(np.mean(pred_a == pred_b)), "max_prob_diff": max_diff,
           "fp32_accuracy": None, "int8_accuracy": None, "accuracy_change": None}
    if np.all(y >= 0):
        acc_a, acc_b = float(np.mean(pred_a == y)), float(np.mean(pred_b == y))
        out.update(fp32_accuracy=acc_a, int8_accuracy=acc_b, accuracy_change=acc_b - acc_a)
    return out


def quantize_package(folder: Path, run, spec: InputSpec, classes: list[str], single: bool, *,
                     method: str = "auto", cancel: CancelToken | None = None) -> dict:
    """Write ``folder/model.int8.onnx`` from ``folder/model.onnx``; returns package.json["int8"]."""
    method = check_value(Int8Method, method, "export.int8_method")
    src, dst = folder / FP32_FILE, folder / INT8_FILE
    calib = split_samples(run, spec, classes, "train", CALIBRATION_IMAGES, cancel) if method != "dynamic" else None
    if method == "static" and calib is None:
        calib = random_samples(spec, 16)
    chosen = "dynamic" if calib is None else "static"
    if calib is not None:  # static
        quantize_static(src, dst, calib.x)
    else:
        quantize_dynamic(src, dst)
    if cancel is not None:
        cancel.raise_if_cancelled()
    result = compare(src, dst, split_batches(run, spec, classes, "test", cancel=cancel)) \
        if run_records(run, "test") else None
    if result and result["n_images"]:
        source = f"{result['n_images']} test images"
    else:  # no readable test images: agreement on random inputs only
        test = random_samples(spec, 32)
        result, source = compare(src, dst, [test]), test.source
    info = {"file": INT8_FILE, "method": "static QDQ, per-channel int8 weights" if chosen == "static"
            else "dynamic, int8 weights", "calibration": calib.source if calib is not None else None,
            "test_source": source, "fp32_mb": round(src.stat().st_size / 2**20, 2),
            "int8_mb": round(dst.stat().st_size / 2**20, 2)}
    info.update(result)
    return info


def describe_int8(info: dict) -> str:
    """One line summarising package.json["int8"] (method, agreement, accuracy change, sizes)."""
    line = f"int8 ({info['method']}): agreement {info['agreement']:.1%} with fp32 on {info['test_source']}"
    if info.get("accuracy_change") is not None:
        line += (f", accuracy {info['fp32_accuracy']:.3f} -> {info['int8_accuracy']:.3f} "
                 f"({info['accuracy_change']:+.3f})")
    return line + f", max prob diff {info['max_prob_diff']:.3f}, {info['fp32_mb']} MB -> {info['int8_mb']} MB"
