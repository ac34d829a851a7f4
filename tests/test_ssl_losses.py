"""engine.ssl.losses against plain reference implementations written from the papers' formulas.

The references below use Python loops over anchors/pairs in float64 and do
not call the code under test (nor lightly, which is not a dependency).
"""

from __future__ import annotations

import math
import sys

import pytest
import torch

from engine.ssl import losses
from engine.ssl.losses import BYOLLoss, DINOLoss, MoCoV3Loss, NTXentLoss


def _rand(*shape, seed=0, scale=1.0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed)) * scale


def _cos(a, b):
    return float(a @ b) / (float(a.norm()) * float(b.norm()))


def ref_ntxent(z1, z2, t):
    """SimCLR Eq. 1, averaged over all 2N anchors."""
    z = torch.cat([z1, z2]).double()
    n2, n = len(z), len(z1)
    total = 0.0
    for i in range(n2):
        pos = (i + n) % n2
        den = sum(math.exp(_cos(z[i], z[k]) / t) for k in range(n2) if k != i)
        total += -math.log(math.exp(_cos(z[i], z[pos]) / t) / den)
    return total / n2


def ref_byol(p1, p2, z1, z2):
    """BYOL: sum over the two directions of mean(2 - 2 cos(p, z'))."""
    def one(p, z):
        return sum(2 - 2 * _cos(p[i].double(), z[i].double()) for i in range(len(p))) / len(p)
    return one(p1, z2) + one(p2, z1)


def ref_infonce(q, k, t):
    total = 0.0
    for i in range(len(q)):
        logits = [_cos(q[i].double(), k[j].double()) / t for j in range(len(k))]
        m = max(logits)
        total += -(logits[i] - m - math.log(sum(math.exp(x - m) for x in logits)))
    return total / len(q)


def ref_dino(teacher, student, center, tt, ts):
    """DINO Algorithm 1: mean over (teacher view i, student view v != i) of H(t_i, s_v)."""
    total, pairs = 0.0, 0
    for i, t in enumerate(teacher):
        pt = torch.softmax((t.double() - center.double()) / tt, dim=-1)
        for v, s in enumerate(student):
            if v == i:
                continue
            ls = torch.log_softmax(s.double() / ts, dim=-1)
            total += float(sum(-(pt[b] * ls[b]).sum() for b in range(len(t))) / len(t))
            pairs += 1
    return total / pairs


@pytest.mark.parametrize("n,d,t", [(2, 4, 0.5), (5, 16, 0.1), (8, 3, 1.0), (16, 32, 0.07)])
def test_ntxent_matches_reference(n, d, t):
    z1, z2 = _rand(n, d, seed=n), _rand(n, d, seed=n + 100)
    assert float(NTXentLoss(t)(z1, z2)) == pytest.approx(ref_ntxent(z1, z2, t), rel=1e-4)


def test_ntxent_known_values():
    n, t = 4, 0.5
    z = torch.eye(n, 8)  # orthogonal unit vectors: positive sim 1, negatives 0
    expected = math.log(1 + (2 * n - 2) * math.exp(-1 / t))  # -log(e^{1/t} / (e^{1/t} + 2n-2))
    assert float(NTXentLoss(t)(z, z)) == pytest.approx(expected, rel=1e-5)
    aligned = float(NTXentLoss(t)(z, z))
    random = float(NTXentLoss(t)(_rand(n, 8, seed=1), _rand(n, 8, seed=2)))
    assert aligned < random
    assert float(NTXentLoss(0.01)(z, z)) < 1e-6  # sharp temperature: almost certain of the positive


@pytest.mark.parametrize("n,d", [(1, 3), (4, 8), (9, 256)])
def test_byol_matches_reference(n, d):
    p1, p2, z1, z2 = (_rand(n, d, seed=s) for s in range(4))
    assert float(BYOLLoss()(p1, p2, z1, z2)) == pytest.approx(ref_byol(p1, p2, z1, z2), rel=1e-5)
    assert float(BYOLLoss()(z2, z1, z1, z2)) == pytest.approx(0.0, abs=1e-5)  # prediction == target
    assert float(BYOLLoss()(-z2, -z1, z1, z2)) == pytest.approx(8.0, abs=1e-4)  # opposite: 2 * (2 - 2 * -1)


def test_byol_stops_gradient_of_target():
    p = _rand(4, 8, seed=0).requires_grad_()
    z = _rand(4, 8, seed=1).requires_grad_()
    BYOLLoss()(p, p, z, z).backward()
    assert p.grad is not None and torch.isfinite(p.grad).all() and z.grad is None


@pytest.mark.parametrize("n,d,t", [(2, 4, 0.2), (6, 16, 0.2), (8, 8, 0.5), (12, 32, 0.07)])
def test_mocov3_matches_reference(n, d, t):
    q1, q2, k1, k2 = (_rand(n, d, seed=s + n) for s in range(4))
    expected = 2 * t * (ref_infonce(q1, k2, t) + ref_infonce(q2, k1, t))
    assert float(MoCoV3Loss(t)(q1, q2, k1, k2)) == pytest.approx(expected, rel=1e-4)
    plain = MoCoV3Loss(t, scale_by_temperature=False)(q1, q2, k1, k2)
    assert float(plain) == pytest.approx(expected / (2 * t), rel=1e-4)


@pytest.mark.parametrize("n,d,n_views,tt,ts", [(3, 10, 2, 0.04, 0.1), (5, 32, 4, 0.04, 0.1), (2, 7, 6, 0.07, 0.2)])
def test_dino_matches_reference_and_centre(n, d, n_views, tt, ts):
    student = [_rand(n, d, seed=v, scale=3) for v in range(n_views)]
    teacher = [_rand(n, d, seed=50 + v, scale=3) for v in range(2)]
    loss_fn = DINOLoss(d, student_temp=ts, teacher_temp=tt, center_momentum=0.9)
    centre = _rand(1, d, seed=99) * 0.1
    loss_fn.center.copy_(centre)
    expected = ref_dino(teacher, student, centre, tt, ts)
    assert float(loss_fn(teacher, student)) == pytest.approx(expected, rel=1e-4)
    batch_mean = torch.cat(teacher).mean(0, keepdim=True)
    assert torch.allclose(loss_fn.center, 0.9 * centre + 0.1 * batch_mean, atol=1e-6)


def test_dino_teacher_temperature_warmup():
    loss_fn = DINOLoss(4, teacher_temp=0.07, warmup_teacher_temp=0.04, warmup_fraction=0.5)
    assert loss_fn.teacher_temp_at(0.0) == pytest.approx(0.04)
    assert loss_fn.teacher_temp_at(0.25) == pytest.approx(0.055)
    assert loss_fn.teacher_temp_at(0.9) == pytest.approx(0.07)
    with pytest.raises(Exception, match="two views"):
        DINOLoss(4)([_rand(2, 4)], [_rand(2, 4)])


def test_losses_are_stable_on_extreme_inputs():
    """Huge/tiny magnitudes and sharp temperatures give finite losses and gradients."""
    for scale in (1e-6, 1e4):
        z1 = _rand(8, 16, seed=1, scale=scale).requires_grad_()
        z2 = _rand(8, 16, seed=2, scale=scale).requires_grad_()
        outs = [NTXentLoss(0.01)(z1, z2), MoCoV3Loss(0.01)(z1, z2, z2, z1), BYOLLoss()(z1, z2, z2, z1),
                DINOLoss(16, 0.01, 0.01)([z2, z1], [z1, z2, z1 * 2])]
        for loss in outs:
            assert torch.isfinite(loss)
            z1.grad = None
            loss.backward(retain_graph=True)
            assert z1.grad is not None and torch.isfinite(z1.grad).all()


def test_losses_need_no_lightly():
    assert losses.__name__ == "engine.ssl.losses"
    assert not any(name == "lightly" or name.startswith("lightly.") for name in sys.modules)
