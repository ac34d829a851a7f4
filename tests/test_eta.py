"""engine.jobs.EtaEstimator: a moving average per stage with the warm-up interval dropped (issue 13.2)."""

from __future__ import annotations

import pytest

from engine.jobs import EtaEstimator, MovingAverage


class Clock:
    """A hand-wound clock: ``tick(s)`` moves time on by ``s`` seconds."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def tick(self, seconds: float) -> None:
        self.now += seconds


def test_slow_first_step_does_not_distort_the_estimate():
    clock = Clock()
    eta = EtaEstimator(100, clock)
    clock.tick(30.0)  # warm-up: worker start, first batch, lazy imports
    assert eta.eta(1) == pytest.approx(30.0 * 99)  # all it knows so far
    for done in range(2, 11):
        clock.tick(1.0)
        last = eta.eta(done)
    assert last == pytest.approx(1.0 * 90)  # the plain average would say ~3.9 s/step: 351 s


def test_pace_change_shows_within_a_few_steps():
    clock = Clock()
    eta = EtaEstimator(200, clock)
    for done in range(1, 51):
        clock.tick(1.0)
        eta.eta(done)
    for done in range(51, 61):  # the data got twice as slow
        clock.tick(2.0)
        last = eta.eta(done)
    assert last == pytest.approx(2.0 * 140, rel=0.05)


def test_batched_updates_weigh_each_step():
    clock = Clock()
    eta = EtaEstimator(1000, clock)
    clock.tick(5.0)
    eta.eta(10)
    clock.tick(5.0)
    eta.eta(20)  # 0.5 s/step replaces the warm-up
    clock.tick(10.0)  # 50 steps at 0.2 s in one report: weighs like 50 steps, nearly all of the mean
    assert eta.seconds_per_step(70) == pytest.approx(0.2, abs=1e-6)


def test_restart_measures_a_new_stage_afresh():
    clock = Clock()
    eta = EtaEstimator(10, clock)
    clock.tick(1.0)
    eta.eta(1)
    clock.tick(1.0)
    eta.eta(2)
    eta.restart(5)  # e.g. a resumed run starts at step 5
    clock.tick(4.0)
    assert eta.eta(6) == pytest.approx(4.0 * 4)
    assert eta.elapsed() == pytest.approx(4.0)


def test_unknown_total_and_no_steps_give_no_estimate():
    clock = Clock()
    assert EtaEstimator(None, clock).eta(3) is None
    assert EtaEstimator(10, clock).eta(0) is None
    eta = EtaEstimator(4, clock)
    clock.tick(1.0)
    assert eta.eta(4) == 0.0


def test_moving_average_weights():
    avg = MovingAverage(alpha=0.5)
    assert avg.add(4.0) == 4.0
    assert avg.add(0.0) == 2.0
    assert avg.add(0.0, weight=2) == pytest.approx(0.5)


def test_skip_leaves_another_stage_out():
    clock = Clock()
    eta = EtaEstimator(20, clock)
    for done in range(1, 6):
        clock.tick(1.0)
        eta.eta(done)
    clock.tick(60.0)  # validation between two epochs
    eta.skip(5)
    clock.tick(1.0)
    assert eta.eta(6) == pytest.approx(1.0 * 14)


def test_moving_average_warmup_replaces_the_first_value():
    avg = MovingAverage(alpha=0.5, warmup=True)
    assert avg.add(10.0) == 10.0  # the first validation pass, with its one-off costs
    assert avg.add(1.0) == 1.0
    assert avg.add(3.0) == 2.0
