"""A model package opened for inference with onnxruntime (no torch, no pickle).

    pkg = ModelPackage.load("runs/x/x.hdpkg")          # validates json + SHA-256 + graph
    probs = pkg.predict(np.stack([pkg.preprocess(rgb) for rgb in images]))

Loading checks, in order: package.sha256 seals package.json; package.json is
bounded (1 MiB, 32 levels), parsed and validated by its schema; the folder
holds exactly the listed files, each present and a regular file; the model
that will run matches its SHA-256 (the other listed model, e.g. an unused
model.int8.onnx, is checked for presence only and hashed when it is used,
or by ``verify="all"`` as ``package-info`` does); no tensor anywhere in the
graph uses external data and the model carries the stamp of this very
package.json (:mod:`engine.deploy.model_file`); the graph's input/output
match package.json.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from engine.data.tta import tta_mode
from engine.deploy.manifest import FP32_FILE, INT8_FILE, check_contents, is_package, read_manifest, verify_files
from engine.deploy.model_file import check_model_file
from engine.deploy.runtime import check_batch, check_graph, open_session, run_probs
from engine.deploy.spec import InputSpec
from engine.evaluation.calibration import from_package_block
from engine.errors import ConfigError, HistoDeskError

__all__ = ["ModelPackage", "is_package"]


class ModelPackage:
    """A verified package and its onnxruntime session."""

    def __init__(self, path: Path, manifest: dict[str, Any], session, variant: str):
        self.path = Path(path)
        self.manifest = manifest
        self.session = session
        self.variant = variant
        self.spec = InputSpec.from_package(manifest)
        self.calibration = from_package_block(manifest.get("calibration"))  # temperature + threshold

    @classmethod
    def load(cls, path: str | Path, *, variant: str = "fp32", device: str = "auto",
             threads: int | None = None, verify: str = "used") -> "ModelPackage":
        """Open a package folder; ``variant`` "fp32" (model.onnx) or "int8" (model.int8.onnx).

        ``verify``: "used" hashes the model that runs, "all" every listed file.
        Raises :class:`~engine.errors.UntrustedFileError` when package.sha256 or
        package.json is missing, unsealed or malformed, a file is missing,
        unlisted or differs from its SHA-256, a tensor uses external data, the
        ONNX file is not a model, or the graph's input/output differ from the declaration.
        """
        path = Path(path)
        if not path.is_dir():
            raise HistoDeskError(f"{path} is not a model package folder (<name>.hdpkg).")
        manifest = read_manifest(path)
        if variant not in ("fp32", "int8"):
            raise ConfigError(f"Unknown package variant '{variant}'; use 'fp32' or 'int8'.")
        if verify not in ("used", "all"):
            raise ConfigError(f"Unknown verify mode '{verify}'; use 'used' or 'all'.")
        check_contents(path, manifest)  # exactly the listed files, all present
        name = FP32_FILE if variant == "fp32" else INT8_FILE
        if name not in manifest["files"]:
            raise HistoDeskError(f"Package {path} has no int8 model; export it with --int8.")
        verify_files(path, manifest, [name] if verify == "used" else None)
        check_model_file(path / name, manifest)  # all tensors inline, stamped with this package.json
        session = open_session(path / name, device=device, threads=threads)
        inp = manifest["input"]
        check_graph(session, size=inp["size"], channels=inp["channels"], dtype=inp["dtype"],
                    n_classes=len(manifest["classes"]), where=str(path / name))
        return cls(path, manifest, session, variant)

    # --- description ------------------------------------------------------
    @property
    def classes(self) -> list[str]:
        """Class names in output order."""
        return list(self.manifest["classes"])

    @property
    def name(self) -> str:
        """The package's display name."""
        return str(self.manifest.get("name") or self.path.stem)

    @property
    def binary_single_logit(self) -> bool:
        """True when the model has one logit for two classes."""
        return bool(self.manifest["binary_single_logit"])

    @property
    def tta(self) -> str | None:
        """The test-time augmentation mode the run recommends (None = off)."""
        return self.manifest.get("tta")

    @property
    def providers(self) -> list[str]:
        """The onnxruntime execution providers in use."""
        return list(self.session.get_providers())

    # --- inference ----------------------------------------------------------
    def preprocess(self, rgb_uint8: np.ndarray) -> np.ndarray:
        """A decoded uint8 RGB image (any size) -> float32 3 x S x S, as the run's eval transform."""
        from engine.data.cache import resize_image

        return self.spec.preprocess(resize_image(rgb_uint8, self.spec.load_size, self.spec.keep_aspect))

    def load_image(self, path: str | Path) -> np.ndarray:
        """Read and preprocess one image file."""
        return self.spec.preprocess(self.spec.load(str(path)))

    def _run(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = check_batch(batch, size=self.spec.size)
        probs, logits = self.session.run(None, {self.session.get_inputs()[0].name: x})[:2]
        return probs, logits

    def predict(self, batch: np.ndarray, *, tta: str | bool | None = None) -> np.ndarray:
        """N x C probabilities of a float32 N x 3 x S x S batch (``tta``: None, "s3" or "d4").

        With TTA each view's probabilities are computed, then averaged over
        the views (as S3 does, and as the PyTorch and evaluation paths do).
        """
        x = check_batch(batch, size=self.spec.size)
        return run_probs(self.session, x, tta_mode(tta), self.calibration.temperature)

    def decide(self, probs: np.ndarray) -> np.ndarray:
        """Class indices of :meth:`predict`'s probabilities under package.json's threshold (else arg-max)."""
        return self.calibration.decide(probs, self.classes)

    def predict_logits(self, batch: np.ndarray) -> np.ndarray:
        """Raw model outputs (N x 1 for a single-logit binary model, else N x C)."""
        return self._run(batch)[1]
