"""Class activation maps (registry kind ``"cam"``) on top of pytorch-grad-cam.

Every registered entry builds a pytorch-grad-cam object for a model and its
target layer; :func:`compute_cams` is the one call the rest of HistoDesk uses.
It works for every registry model: the target layer comes from
``model.cam_target_layer()`` and ViT tokens are laid on their patch grid by
``model.cam_reshape_transform``.

Computing a map never changes the model: its train/eval mode, the
``requires_grad`` flags and any ``.grad`` buffers are restored afterwards.
While a map is computed every parameter is frozen and the target layer's
output is cut from the graph below it (a leaf that requires grad), so the
backward pass runs only from the logit down to that layer - gradients reach
the target layer even for a frozen backbone, and no weight gradient is spent.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator, Sequence

import numpy as np
import torch
from pytorch_grad_cam import EigenCAM, GradCAM, GradCAMPlusPlus, LayerCAM, ScoreCAM
from pytorch_grad_cam.utils.model_targets import BinaryClassifierOutputTarget, ClassifierOutputTarget

from engine.errors import ConfigError
from engine.registry import create, meta, names, register


class QuietScoreCAM(ScoreCAM):
    """Score-CAM (Wang et al., "Score-CAM: Score-Weighted Visual Explanations for CNNs", CVPRW 2020).

    pytorch-grad-cam's ScoreCAM with the per-image tqdm bar removed and the
    masked images scored ``batch_size`` at a time: each activation channel,
    upsampled and min-max scaled, masks the input; the softmax of the target
    scores of the masked images weights the channels.
    """

    batch_size = 16

    def get_cam_weights(self, input_tensor, target_layer, targets, activations, grads):
        """Softmax over channels of the target score of the input masked by each channel."""
        with torch.no_grad():
            acts = torch.from_numpy(activations).to(self.device)
            up = torch.nn.functional.interpolate(acts, size=input_tensor.shape[-2:], mode="bilinear",
                                                 align_corners=True)
            flat = up.flatten(2)
            lo, hi = flat.min(-1)[0][:, :, None, None], flat.max(-1)[0][:, :, None, None]
            up = (up - lo) / (hi - lo + 1e-8)
            scores = []
            for target, image, masks in zip(targets, input_tensor, up):
                for i in range(0, masks.shape[0], self.batch_size):
                    batch = image[None] * masks[i:i + self.batch_size, None]
                    scores.extend(float(target(o).detach().cpu().reshape(-1)[0]) for o in self.model(batch))
            scores = torch.tensor(scores).view(activations.shape[0], activations.shape[1])
            return torch.softmax(scores, dim=-1).numpy()


def _register(name: str, cls, label: str, needs_gradients: bool, description: str, paper: str):
    """Register a factory ``(model, layer, reshape) -> pytorch-grad-cam object`` for ``cls``."""

    def factory(model: torch.nn.Module, target_layers: list, reshape_transform=None):
        return cls(model=model, target_layers=target_layers, reshape_transform=reshape_transform)

    factory.__doc__ = f"{label}: {description} ({paper})."
    register("cam", name, label=label, needs_gradients=needs_gradients, description=description,
             paper=paper)(factory)


_register("gradcam", GradCAM, "Grad-CAM", True,
          "channels weighted by the spatial mean of the target's gradient",
          "Selvaraju et al., Grad-CAM, ICCV 2017")
_register("gradcam++", GradCAMPlusPlus, "Grad-CAM++", True,
          "channels weighted by positive gradients with higher-order terms; better for several objects",
          "Chattopadhyay et al., Grad-CAM++, WACV 2018")
_register("eigencam", EigenCAM, "Eigen-CAM", False,
          "first principal component of the activations; class-agnostic, no gradients",
          "Muhammad & Yeasin, Eigen-CAM, IJCNN 2020")
_register("scorecam", QuietScoreCAM, "Score-CAM", False,
          "channels weighted by the target score of the input masked by each channel; slow (one forward "
          "pass per channel)", "Wang et al., Score-CAM, CVPRW 2020")
_register("layercam", LayerCAM, "LayerCAM", True,
          "per-location positive gradients times activations; sharper maps",
          "Jiang et al., LayerCAM, IEEE TIP 2021")


def cam_methods() -> list[str]:
    """Names of the registered CAM methods, e.g. for a drop-down."""
    return names("cam")


def _single_logit(model: torch.nn.Module) -> bool:
    return int(getattr(model, "num_outputs", 0) or 0) == 1


def class_target(model: torch.nn.Module, cls: int):
    """The pytorch-grad-cam target for class index ``cls`` (single logit: 1 = +logit, 0 = -logit)."""
    cls = int(cls)
    if _single_logit(model):
        if cls not in (0, 1):
            raise ConfigError(f"Class index {cls} is out of range for a binary model (0 or 1).")
        return BinaryClassifierOutputTarget(cls)
    n = int(getattr(model, "num_outputs", 0) or 0)
    if n and not 0 <= cls < n:
        raise ConfigError(f"Class index {cls} is out of range for a {n}-class model.")
    return ClassifierOutputTarget(cls)


class _PredictedClass:
    """Target = the class the model predicts, decided from the first output it scores."""

    def __init__(self, single_logit: bool):
        self.single_logit = single_logit
        self.category: int | None = None

    def __call__(self, output: torch.Tensor) -> torch.Tensor:
        if self.category is None:
            out = output.detach().reshape(-1)
            self.category = int(out[0] > 0) if self.single_logit else int(out.argmax())
        if self.single_logit:
            return BinaryClassifierOutputTarget(self.category)(output)
        return ClassifierOutputTarget(self.category)(output)


def predicted_classes(model: torch.nn.Module, x: torch.Tensor) -> list[int]:
    """Predicted class index per image of ``x`` (one forward pass, no gradients)."""
    with torch.no_grad():
        logits = model(x)
    if logits.shape[1] == 1:
        return (logits[:, 0] > 0).long().tolist()
    return logits.argmax(1).tolist()


def _targets_for(model, x: torch.Tensor, targets, method: str) -> list:
    n = x.shape[0]
    if targets is None:
        if method == "scorecam":  # scores masked images: fix the class on the unmasked ones
            return [class_target(model, c) for c in predicted_classes(model, x)]
        return [_PredictedClass(_single_logit(model)) for _ in range(n)]
    if isinstance(targets, (int, np.integer)):
        targets = [int(targets)] * n
    targets = list(targets)
    if len(targets) != n:
        raise ConfigError(f"Got {len(targets)} CAM targets for {n} images.")
    return [class_target(model, t) for t in targets]


@contextmanager
def cam_scope(model: torch.nn.Module, layer: torch.nn.Module | None, needs_gradients: bool) -> Iterator[None]:
    """Eval mode, frozen parameters and (for gradient methods) a grad-requiring cut at ``layer``.

    With ``layer=None`` nothing is cut: the caller makes its input require grad.

    Restores the training mode, ``requires_grad`` flags and ``.grad`` of every
    parameter on exit.
    """
    params = list(model.parameters())
    was_training = model.training
    flags = [p.requires_grad for p in params]
    grads = [p.grad for p in params]
    handle = None
    if needs_gradients and layer is not None:
        def cut(_module, _inputs, output):
            if isinstance(output, torch.Tensor):
                return output.detach().requires_grad_(True)
            return None

        handle = layer.register_forward_hook(cut)
    try:
        model.eval()
        for p in params:
            p.requires_grad_(False)
        with torch.enable_grad():
            yield
    finally:
        if handle is not None:
            handle.remove()
        for p, flag, grad in zip(params, flags, grads):
            p.requires_grad_(flag)
            p.grad = grad
        model.train(was_training)


def compute_cams(model: torch.nn.Module, x: torch.Tensor, *, method: str = "gradcam", targets=None,
                 layer: torch.nn.Module | Sequence[torch.nn.Module] | None = None, batch_size: int = 16,
                 reshape_transform=None) -> np.ndarray:
    """CAM heatmaps ``float32 [B, H, W]`` in [0, 1] for a normalised batch ``x`` ``[B, 3, H, W]``.

    ``targets``: None (each image's predicted class), an int or one int per
    image (class index; single-logit binary models: 1 = positive logit, 0 =
    negative). ``layer`` overrides ``model.cam_target_layer()``;
    ``reshape_transform`` overrides ``model.cam_reshape_transform`` (ViT
    tokens -> grid). Images are processed ``batch_size`` at a time (Score-CAM
    also scores its masked images in chunks of that size). A map that is
    zero everywhere stays zero (never NaN). Hooks are released before return.
    """
    info = meta("cam", method)
    if x.ndim != 4:
        raise ConfigError(f"CAM input must be a batch [B, C, H, W], got shape {tuple(x.shape)}.")
    histo_model: Any = model  # a HistoModel: it names its own CAM layer
    if isinstance(layer, torch.nn.Module):
        layers = [layer]
    elif layer is not None:  # a list or tuple of layers
        layers = list(layer)
    else:
        layers = [histo_model.cam_target_layer()]
    reshape = reshape_transform if reshape_transform is not None else getattr(model, "cam_reshape_transform", None)
    batch_size = max(1, int(batch_size))
    out = np.zeros((x.shape[0], x.shape[-2], x.shape[-1]), np.float32)
    if x.shape[0] == 0:
        return out
    grad_input = info["needs_gradients"] and len(layers) > 1  # cutting at one layer would starve the others
    with cam_scope(model, None if grad_input else layers[0], info["needs_gradients"]):
        all_targets = _targets_for(model, x.detach(), targets, method)
        cam = create("cam", method, model=model, target_layers=layers, reshape_transform=reshape)
        if isinstance(cam, QuietScoreCAM):
            cam.batch_size = batch_size
        try:
            for i in range(0, x.shape[0], batch_size):
                chunk = x[i:i + batch_size].detach().requires_grad_(grad_input)
                out[i:i + len(chunk)] = cam(input_tensor=chunk, targets=all_targets[i:i + len(chunk)])
        finally:
            cam.activations_and_grads.release()
    return np.clip(np.nan_to_num(out, nan=0.0, posinf=1.0, neginf=0.0), 0.0, 1.0)
