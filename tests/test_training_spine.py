"""The training spine (engine.training.spine): a method extends the loop from its own module; checkpoints
written before the spine still resume exactly."""

from __future__ import annotations

import pytest

from engine import registry
from engine.ssl.job import pretrain, resume_pretrain
from engine.ssl.methods.simclr import DEFAULTS, SimCLR
from engine.training.callbacks import Callback
from engine.training.checkpoint import load_state, save_state
from tests.helpers import pretrain_cancelled_after_first_epoch, tiny_demo

LIGHT = {"augment": {"rotation": 0, "shift": 0, "zoom": 0, "blur_p": 0}}


def ssl_config(data, runs, method: str, **overrides) -> dict:
    """A 32 px basic-CNN pretraining config with tiny heads."""
    heads = {"proj_hidden": 32, "proj_dim": 16}
    if method == "byol":
        heads["pred_hidden"] = 32
    return {"method": method, "backbone": "basic_cnn", "epochs": 2, "batch_size": 8, "seed": 1,
            "hparams": {**LIGHT, **heads}, "runs_dir": str(runs),
            "data": {"path": str(data), "image_size": 32, "normalize": "unit"}, **overrides}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return tiny_demo(tmp_path_factory.mktemp("spine-data"), images=2)


class CountSteps(Callback):
    """Counts optimizer steps and writes the count into each epoch's row."""

    def __init__(self):
        self.steps = 0

    def on_train_batch_end(self, loop) -> None:
        self.steps += 1

    def on_epoch_end(self, loop, row: dict) -> None:
        row["counted_steps"] = self.steps


class CountingSimCLR(SimCLR):
    """SimCLR plus a loop callback, declared in the method's own class only."""

    def loop_callbacks(self, config) -> list:
        return [CountSteps()]


@pytest.fixture
def counting_method():
    name = "test-counting-simclr"
    registry.register("ssl", name, label="Counting SimCLR", defaults=DEFAULTS)(CountingSimCLR)
    yield name
    registry._ENTRIES["ssl"].pop(name, None)
    registry._META["ssl"].pop(name, None)


def test_a_method_adds_callbacks_to_the_loop_from_its_own_module(data, tmp_path, counting_method):
    events = []
    run = pretrain(ssl_config(data, tmp_path, counting_method), progress=events.append)
    assert run.summary["status"] == "completed"
    counted = [row["counted_steps"] for row in run.metrics()]
    last_batch = [e for e in events if e.stage == "pretrain"][-1]
    assert counted[0] > 0 and counted == [counted[0], 2 * counted[0]] and counted[-1] == last_batch.step


def as_pre_spine_checkpoint(path) -> None:
    """Rewrite an SSL checkpoint in the layout written before the spine (flat best/early-stopping keys)."""
    state = load_state(path)
    best, early = state["callbacks"]
    legacy = {k: state[k] for k in ("epoch", "method", "optimizer", "scheduler", "scaler", "history", "rng")}
    legacy.update(best_val=best["best"], best_epoch=max(best["best_epoch"], 0), wait=early["wait"],
                  early_stopped=False)
    save_state(legacy, path)


def test_a_pre_spine_ssl_checkpoint_resumes_exactly(data, tmp_path):
    cfg = ssl_config(data, tmp_path / "full", "byol")  # BYOL: EMA target net and momentum schedule
    full = pretrain(cfg)
    part = pretrain_cancelled_after_first_epoch(cfg, tmp_path / "part")
    assert part.summary["status"] == "cancelled" and len(part.metrics()) == 1
    as_pre_spine_checkpoint(part.last_checkpoint)
    assert "phase_index" not in load_state(part.last_checkpoint)
    resumed = resume_pretrain(part.path)
    assert resumed.summary["status"] == "completed" and resumed.summary["epochs_run"] == 2
    assert resumed.summary["best_epoch"] == full.summary["best_epoch"]
    for ra, rb in zip(full.metrics(), resumed.metrics(), strict=True):
        for key in ("loss", "val_loss", "lr", "knn_acc", "best_val_loss"):
            assert ra[key] == pytest.approx(rb[key], rel=1e-4, abs=1e-7), (ra["epoch"], key)
