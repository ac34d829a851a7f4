"""engine.data.demo: the synthetic BreaKHis-layout dataset."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.data.demo import MARKER, demo_path, generate_demo
from engine.data.imageio import read_image
from engine.data.importers import scan
from engine.errors import CancelledError, ConfigError, DataError
from engine.io_utils import read_json
from engine.jobs import CancelToken

SMALL = dict(patients_per_class=2, magnifications=("40X", "100X"), images_per_patient_mag=2, size=(96, 64))


def fingerprint(root: Path) -> dict[str, str]:
    """Relative path -> sha1 of every file under ``root``."""
    return {p.relative_to(root).as_posix(): hashlib.sha1(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_deterministic_for_a_seed(tmp_path):
    a = fingerprint(generate_demo(tmp_path / "a", **SMALL, seed=3))
    b = fingerprint(generate_demo(tmp_path / "b", **SMALL, seed=3))
    c = fingerprint(generate_demo(tmp_path / "c", **SMALL, seed=4))
    assert a == b and len(a) == 2 * 2 * 2 * 2 + 1
    assert set(a) == set(c) and a != c


def test_layout_is_parsed_by_breakhis_importer(tmp_path):
    root = generate_demo(tmp_path / "d", **SMALL)
    example = ("BreaKHis_v1/histology_slides/breast/benign/SOB/adenosis/SOB_B_A-22-DEMO01/40X/"
               "SOB_B_A-22-DEMO01-40-001.png")
    assert (root / example).is_file()
    catalog = scan(root)
    summary = catalog.summary()
    assert catalog.importer == "breakhis" and not catalog.skipped
    assert summary["per_class_magnification"] == {"benign": {"100X": 4, "40X": 4}, "malignant": {"100X": 4, "40X": 4}}
    for label in ("benign", "malignant"):
        assert len({r.patient for r in catalog.records if r.label == label}) >= 2
    assert {(r.width, r.height) for r in catalog.records} == {(96, 64)}


def test_idempotent_marker(tmp_path):
    dest = tmp_path / "demo"
    generate_demo(dest, **SMALL)
    marker = read_json(dest / MARKER)
    assert marker["complete"] is True and marker["params"]["seed"] == 0
    first = next(dest.rglob("*.png"))
    mtime = first.stat().st_mtime_ns
    start = time.perf_counter()
    assert generate_demo(dest, **SMALL) == dest
    assert time.perf_counter() - start < 0.2 and first.stat().st_mtime_ns == mtime
    generate_demo(dest, **{**SMALL, "images_per_patient_mag": 1})  # new parameters: replaced, no stale files
    assert len(list(dest.rglob("*.png"))) == 2 * 2 * 2


def test_cancel_leaves_incomplete_marker_then_regenerates(tmp_path):
    token = CancelToken()
    token.cancel()
    with pytest.raises(CancelledError):
        generate_demo(tmp_path / "x", **SMALL, cancel=token)
    assert read_json(tmp_path / "x" / MARKER)["complete"] is False
    events = []
    generate_demo(tmp_path / "x", **SMALL, progress=events.append)
    assert events[-1].stage == "demo" and events[-1].step == events[-1].total == 16


def test_refuses_foreign_breakhis_folder(tmp_path):
    (tmp_path / "BreaKHis_v1").mkdir()
    with pytest.raises(DataError, match="did not make"):
        generate_demo(tmp_path, **SMALL)


def test_bad_parameters(tmp_path):
    with pytest.raises(ConfigError):
        generate_demo(tmp_path, **{**SMALL, "magnifications": ("forty",)})
    with pytest.raises(ConfigError):
        generate_demo(tmp_path, **{**SMALL, "patients_per_class": 0})


def test_default_location_and_speed():
    start = time.perf_counter()
    root = generate_demo()
    seconds = time.perf_counter() - start
    assert root == demo_path() and demo_path().parent.name == "datasets"
    assert len(list(root.rglob("*.png"))) == 160 and (root / MARKER).is_file()
    assert seconds < 20.0  # about 3 s on one core


def test_looks_like_he_and_is_learnable(tmp_path):
    """Pink stroma, purple nuclei; a tiny CNN separates held-out patients."""
    root = generate_demo(tmp_path / "l", patients_per_class=3, magnifications=("40X", "100X"),
                         images_per_patient_mag=6, size=(64, 48), seed=1)
    catalog = scan(root)
    images = np.stack([read_image(r.path) for r in catalog.records]).astype(np.float32) / 255.0
    labels = np.array([r.label == "malignant" for r in catalog.records])
    mean = images.reshape(-1, 3).mean(0)
    assert mean[0] > mean[1] and mean[2] > mean[1]  # pink/purple: green absorbed most
    dark = (images.sum(-1) < 1.2).mean((1, 2))  # nuclei pixels
    assert dark[labels].mean() > 1.5 * dark[~labels].mean()

    torch.manual_seed(0)
    x = torch.tensor((images - images.mean((0, 1, 2))) / images.std((0, 1, 2))).permute(0, 3, 1, 2)
    y = torch.tensor(labels.astype(np.int64))
    test = torch.tensor([r.patient in {"DEMO03", "DEMO06"} for r in catalog.records])
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.BatchNorm2d(8), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(8, 16, 3, padding=1), torch.nn.BatchNorm2d(16), torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(16, 2))
    opt = torch.optim.Adam(net.parameters(), 3e-3)
    train_idx = torch.nonzero(~test).flatten()
    for _epoch in range(6):
        net.train()
        for batch in train_idx[torch.randperm(len(train_idx))].split(8):
            loss = torch.nn.functional.cross_entropy(net(x[batch]), y[batch])
            opt.zero_grad()
            loss.backward()
            opt.step()
    net.eval()
    with torch.no_grad():
        accuracy = (net(x[test]).argmax(1) == y[test]).float().mean().item()
    assert accuracy >= 0.8
