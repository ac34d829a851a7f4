"""Sanity checks of the explanations on a task whose evidence is in a known place.

32 x 32 noise images; class 1 has a bright blob somewhere in the top-left
quadrant, class 0 has none. A simple_cnn trained a few epochs separates them;
its Grad-CAM / Grad-CAM++ / LayerCAM mass and the occlusion map must sit in
that quadrant, and the maps must change when the weights are re-initialised
(model-randomisation test, Adebayo et al., "Sanity Checks for Saliency Maps",
NeurIPS 2018).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.explain.cams import compute_cams
from engine.explain.occlusion import occlusion_map
from engine.models import create_model

S = 32
REGION = np.zeros((S, S), bool)
REGION[: S // 2, : S // 2] = True


def blobs(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Noise images; odd indices (class 1) get a Gaussian blob centred in the top-left quadrant."""
    g = np.random.default_rng(seed)
    x = g.normal(0.0, 0.5, (n, 3, S, S)).astype(np.float32)
    y = np.arange(n) % 2
    yy, xx = np.mgrid[:S, :S]
    for i in np.where(y == 1)[0]:
        cy, cx = g.uniform(4, 12, 2)
        x[i] += 2.0 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 8.0)[None]
    return torch.from_numpy(x), torch.from_numpy(y)


def fresh(seed: int):
    torch.manual_seed(seed)
    return create_model("simple_cnn", 2, image_size=S)


@pytest.fixture(scope="module")
def trained():
    model = fresh(0)
    x, y = blobs(128, 0)
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    model.train()
    for _ in range(3):
        for idx in torch.randperm(len(x)).split(32):
            loss = torch.nn.functional.binary_cross_entropy_with_logits(model(x[idx])[:, 0], y[idx].float())
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    xt, yt = blobs(32, 1)
    with torch.no_grad():
        acc = ((model(xt)[:, 0] > 0).long() == yt).float().mean().item()
    assert acc >= 0.95, f"the toy model did not learn the task (accuracy {acc:.2f})"
    return model, xt[yt == 1][:8]


@pytest.mark.parametrize("method", ["gradcam", "gradcam++", "layercam"])
def test_cam_mass_and_peak_lie_in_the_evidence_region(trained, method):
    model, positives = trained
    cams = compute_cams(model, positives, method=method, targets=1)
    inside, outside = cams[:, REGION].mean(), cams[:, ~REGION].mean()
    assert inside > 2 * outside, f"{method}: mean inside {inside:.3f} vs outside {outside:.3f}"
    peaks = [np.unravel_index(c.argmax(), c.shape) for c in cams]
    assert np.mean([REGION[p] for p in peaks]) >= 0.75


def test_model_randomisation_changes_the_map(trained):
    model, positives = trained
    trained_maps = compute_cams(model, positives, method="gradcam", targets=1)
    random_maps = compute_cams(fresh(123).eval(), positives, method="gradcam", targets=1)
    corr = [np.corrcoef(a.ravel(), b.ravel())[0, 1] if a.std() > 0 and b.std() > 0 else 0.0
            for a, b in zip(trained_maps, random_maps)]
    assert np.mean(corr) < 0.5, f"maps of a random model correlate with the trained ones: {corr}"


def test_occlusion_peaks_in_the_evidence_region(trained):
    model, positives = trained
    for image in positives[:2]:
        occ = occlusion_map(model, image, target=1, patch=8, stride=4)
        assert occ.shape == (S, S) and np.isfinite(occ).all() and occ.max() == pytest.approx(1.0)
        assert REGION[np.unravel_index(occ.argmax(), occ.shape)]
        assert occ[REGION].mean() > 2 * occ[~REGION].mean()
