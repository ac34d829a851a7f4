"""One prediction interface over a training run (PyTorch) and a model package (onnxruntime).

:func:`open_predictor` resolves the backend: a package runs on onnxruntime
(``"auto"``/``"onnx"``) or, with ``"torch"``, on the run named in its
package.json ``source_run`` when that run is still readable; a run folder
runs on PyTorch. Both predictors preprocess with the same
:class:`~engine.deploy.spec.InputSpec`, so they see identical inputs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.deploy.manifest import is_package, read_manifest
from engine.deploy.runtime import onnxruntime_available
from engine.deploy.spec import InputSpec
from engine.errors import ConfigError, HistoDeskError, with_step
from engine.evaluation.calibration import Calibration, load_calibration

BACKENDS = ("auto", "onnx", "torch")


class TorchPredictor:
    """A run's model in PyTorch (eval mode); the only backend that can draw heatmaps."""

    backend = "torch"

    def __init__(self, run_dir: str | Path, device: str = "auto"):
        from engine.evaluation.run_model import load_run_model
        from engine.runs import Run
        from engine.training.devices import select_device

        self.device = select_device(device)
        self.model, self.classes, config = load_run_model(Run.open(run_dir), self.device)
        self.calibration = load_calibration(run_dir) or Calibration()  # temperature + threshold fitted on val
        self.spec = InputSpec.from_train_config(config)
        self.name = str(run_dir)
        self.device_name, self.note = self.device.type, ""

    def predict(self, x: np.ndarray, tta: str | None = None) -> np.ndarray:
        """N x C probabilities; the run's val temperature on each view's logits, with ``tta`` the views'
        probabilities averaged (as ModelPackage does)."""
        import torch

        from engine.training.inference import calibrated_probs

        return calibrated_probs(self.model, torch.from_numpy(x).to(self.device), tta, self.calibration.temperature)

    def decide(self, probs: np.ndarray) -> np.ndarray:
        """Class indices of :meth:`predict`'s probabilities under the run's val threshold (else arg-max)."""
        return self.calibration.decide(probs, list(self.classes))

    def cams(self, x: np.ndarray, method: str = "gradcam") -> np.ndarray:
        """B x H x W class activation maps in [0, 1] for the predicted classes."""
        import torch

        try:
            from engine.explain.cams import compute_cams
        except ImportError as exc:
            raise HistoDeskError("Heatmaps need the explain module (engine.explain), which is not available "
                                 "in this installation; classify without --heatmaps.") from exc
        return compute_cams(self.model, torch.from_numpy(x).to(self.device), method=method)


class OnnxPredictor:
    """A model package on onnxruntime."""

    backend = "onnx"

    def __init__(self, package_dir: str | Path, device: str = "auto", variant: str = "fp32"):
        from engine.deploy.package import ModelPackage

        self.package = ModelPackage.load(package_dir, device=device, variant=variant)
        self.classes = self.package.classes
        self.spec = self.package.spec
        self.name = str(package_dir)
        self.device_name = "cuda" if "CUDAExecutionProvider" in self.package.providers else "cpu"
        self.note = ""
        if device == "cuda" and self.device_name != "cuda":
            self.note = ("onnxruntime has no usable CUDA provider here (it needs the onnxruntime-gpu package and "
                         "CUDA libraries), so the package runs on the CPU; --backend torch uses the GPU.")

    def predict(self, x: np.ndarray, tta: str | None = None) -> np.ndarray:
        """N x C probabilities (``tta`` as in :meth:`ModelPackage.predict`)."""
        return self.package.predict(x, tta=tta)

    def decide(self, probs: np.ndarray) -> np.ndarray:
        """Class indices under the package's calibration threshold (else arg-max)."""
        return self.package.decide(probs)

    def cams(self, x: np.ndarray, method: str = "gradcam") -> np.ndarray:
        """Not possible from an ONNX graph (no gradients); always raises."""
        raise HistoDeskError("Heatmaps need the PyTorch model: classify with the training run, or with "
                             "--backend torch when the package's source run is still on this computer.")


def _source_run(package_dir: Path) -> Path | None:
    """The package's source run when it is still a readable run folder."""
    source = read_manifest(package_dir).get("source_run")
    if source and (Path(source) / "config.json").is_file():
        return Path(source)
    return None


def open_predictor(model: str | Path, *, backend: str = "auto", device: str = "auto", variant: str = "fp32",
                   need_cams: bool = False):
    """A TorchPredictor or OnnxPredictor for a run folder or a package folder."""
    if backend not in BACKENDS:
        raise ConfigError(f"Unknown backend '{backend}'; use one of {', '.join(BACKENDS)}.")
    if need_cams and backend == "onnx":
        raise HistoDeskError("Heatmaps need the PyTorch model (an ONNX graph has no gradients): use --backend "
                             "auto or torch, or classify without heatmaps.")
    path = Path(model)
    if is_package(path):
        wants_torch = backend == "torch" or (backend == "auto" and (need_cams or not onnxruntime_available()))
        if wants_torch:
            source = _source_run(path)
            if source is None:
                raise HistoDeskError(f"Package {path.name} cannot run on PyTorch here: its source run "
                                     f"({read_manifest(path).get('source_run')}) is not on this computer. "
                                     + ("Heatmaps need the PyTorch model." if need_cams else
                                        "Install onnxruntime or use --backend onnx."))
            predictor = TorchPredictor(source, device)
            if list(predictor.classes) != list(read_manifest(path)["classes"]):
                raise HistoDeskError(f"The source run of {path.name} ({source}) no longer matches the package "
                                     "(different classes): classify with the package on onnxruntime instead.")
            return predictor
        return OnnxPredictor(path, device, variant)
    if (path / "config.json").is_file():
        if backend == "onnx":
            what = f"{path.name} is a training run: the ONNX backend classifies with a model package."
            raise with_step(HistoDeskError(f"{path.name} is a training run; export it first (python main.py export "
                                           "RUN) and classify with the package, or use --backend torch."), what,
                            "export_run")
        return TorchPredictor(path, device)
    raise HistoDeskError(f"{path} is neither a HistoDesk run folder nor a model package (.hdpkg).")
