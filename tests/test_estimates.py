"""Estimates a user can plan by (issue 13.2): the demo preset trained for real, with the wizard's measured
estimate (engine.training.estimate) and the ETA reported after the first epoch each within a factor of 2 of the
time the run took."""

from __future__ import annotations

import time

import pytest

from engine.presets import preset_dict
from engine.training.config import TrainConfig, deep_merge
from engine.training.data_setup import load_catalog
from engine.training.estimate import measure_throughput
from engine.training.job import train
from tests.helpers import tiny_demo


@pytest.fixture(scope="module")
def demo_config(tmp_path_factory) -> TrainConfig:
    """The demo preset on a small demo dataset at 64 px for 3 epochs (the preset's own is minutes on 2 cores)."""
    root = tmp_path_factory.mktemp("est")
    data = tiny_demo(root, patients_per_class=4, images=4)
    preset = preset_dict("train", "demo")
    return TrainConfig.from_dict(deep_merge(preset, {"data": {"path": str(data), "image_size": 64}, "epochs": 3,
                                                     "runs_dir": str(root / "runs")}))


def within_factor_2(predicted: float, measured: float) -> bool:
    """``predicted`` is between half and twice ``measured``."""
    return measured / 2 <= predicted <= measured * 2


def test_wizard_estimate_and_eta_are_within_a_factor_of_2(demo_config):
    catalog = load_catalog(demo_config.data)
    estimate = measure_throughput(demo_config, catalog, batches=3)
    assert estimate.low <= estimate.seconds <= estimate.high
    assert set(estimate.parts) >= {"cache", "epochs", "evaluation"}
    events: list[tuple[float, object]] = []
    t0 = time.monotonic()
    train(demo_config, progress=lambda e: events.append((time.monotonic() - t0, e)))
    took = time.monotonic() - t0
    first_epoch = next((at, e) for at, e in events if e.stage == "epoch")
    at, event = first_epoch
    assert event.eta_s is not None
    assert within_factor_2(estimate.seconds, took), f"wizard estimate {estimate.seconds:.1f} s, took {took:.1f} s"
    assert within_factor_2(at + event.eta_s, took), \
        f"after epoch 1 ({at:.1f} s) the ETA said {event.eta_s:.1f} s more; the run took {took:.1f} s"
    evaluation = [e for _at, e in events if e.stage.startswith("evaluate ")]
    assert evaluation and all(e.total and e.step <= e.total and e.eta_s is not None for e in evaluation)
    assert evaluation[-1].eta_s == 0.0  # its own stage, finished: no training ETA left over


def test_an_empty_dataset_is_refused_in_one_line(demo_config):
    from engine.errors import DataError

    catalog = load_catalog(demo_config.data)
    catalog.records = []
    with pytest.raises(DataError, match="dataset is empty") as info:
        measure_throughput(demo_config, catalog)
    assert "\n" not in str(info.value)
