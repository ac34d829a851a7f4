"""The train job: runs on disk, phases, schedules, early stopping, cancel, resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest
import torch

from engine.errors import ConfigError
from engine.jobs import CancelToken
from engine.runs import Run, list_runs
from engine.training.job import resume, train
from tests.helpers import tiny_config, tiny_demo


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return tiny_demo(tmp_path_factory.mktemp("data"))


def test_train_writes_complete_run(data, tmp_path):
    events = []
    run = train(tiny_config(data, tmp_path), progress=events.append)
    for name in ("config.json", "catalog.json", "split.json", "metrics.jsonl", "predictions.csv",
                 "evaluation.json", "summary.json", "train.log", "model.safetensors"):
        assert run.file(name).exists(), name
    assert run.last_checkpoint.exists() and run.best_weights.exists()
    s = run.summary
    assert s["status"] == "completed" and s["split_mode"] == "patient" and not s["image_level_split"]
    assert s["epochs_run"] == 2 and len(run.metrics()) == 2
    assert {"train_loss", "val_loss", "val_acc", "val_auc", "lr"} <= set(run.metrics()[0])
    split = json.loads(run.file("split.json").read_text())
    assert split["audit"]["ok"] and not split["audit"]["patient_overlap"]
    evaluation = run.read("evaluation.json")
    assert {"train", "val", "test"} <= set(evaluation)
    assert "patient" in evaluation["test"] and s["metrics"]["test"]["accuracy"] is not None
    rows = run.file("predictions.csv").read_text().strip().splitlines()
    n = len(json.loads(run.file("catalog.json").read_text())["records"])
    assert len(rows) == n + 1
    stages = {e.stage for e in events}
    assert {"train", "epoch", "done"} <= stages
    train_events = [e for e in events if e.stage == "train"]
    assert train_events[-1].eta_s is not None and train_events[-1].total
    assert run in list_runs(tmp_path) or any(r.path == run.path for r in list_runs(tmp_path))


def test_image_level_split_is_marked(data, tmp_path):
    run = train(tiny_config(data, tmp_path, epochs=1, split={"mode": "image"}))
    assert run.summary["image_level_split"] is True
    assert "image-level split" in run.file("train.log").read_text()


@pytest.mark.parametrize("optim", ["adam", "adamw", "sgd"])
@pytest.mark.parametrize("schedule", ["plateau", "step", "cosine"])
def test_optimizers_and_schedules(data, tmp_path, optim, schedule):
    cfg = tiny_config(data, tmp_path, epochs=3, optim={"name": optim, "lr": 0.01},
                      schedule={"name": schedule, "step_size": 1, "gamma": 0.5, "patience": 0, "factor": 0.5,
                                "min_lr": 1e-5})
    run = train(cfg)
    lrs = [row["lr"] for row in run.metrics()]
    assert run.summary["status"] == "completed"
    if schedule in ("step", "cosine"):
        assert lrs[1] < lrs[0]


def test_balanced_weights_smoothing_sampler_clip(data, tmp_path):
    cfg = tiny_config(data, tmp_path, epochs=1, sampler="weighted", grad_clip=1.0,
                      loss={"class_weights": "balanced", "label_smoothing": 0.2},
                      model={"binary_single_logit": False})
    run = train(cfg)
    assert run.summary["status"] == "completed"


def test_early_stopping_restores_best(data, tmp_path):
    cfg = tiny_config(data, tmp_path, epochs=6, optim={"lr": 1e-30},  # below float32 resolution: no update
                      early_stopping={"monitor": "val_loss", "patience": 2, "restore_best": True})
    run = train(cfg)
    assert run.summary["epochs_run"] == 3  # epoch 1 best, then 2 epochs without improvement
    assert "Early stopping" in run.file("train.log").read_text()


def test_phases_freeze_then_unfreeze(data, tmp_path):
    cfg = tiny_config(data, tmp_path, model={"name": "resnet18", "head_hidden": None},
                      data={"normalize": "imagenet"},
                      phases=[{"epochs": 1, "trainable": "head", "lr": 0.01},
                              {"epochs": 1, "trainable": "all", "lr": 0.001, "backbone_lr": 0.0001}])
    run = train(cfg)
    rows = run.metrics()
    assert [r["phase"] for r in rows] == [1, 2]
    assert set(rows[0]["lr_groups"]) == {"head"}
    assert rows[1]["lr_groups"] == {"head": 0.001, "backbone": 0.0001}


def test_cancel_stops_within_one_batch_and_leaves_usable_run(data, tmp_path):
    token = CancelToken()
    asked_at = []

    def progress(event):
        if event.stage == "train" and event.metrics["epoch"] == 2 and not asked_at:
            asked_at.append(event.step)
            token.cancel()

    run = train(tiny_config(data, tmp_path, epochs=5), progress=progress, cancel=token)
    assert run.summary["status"] == "cancelled"
    assert run.model_weights.exists() and run.last_checkpoint.exists()
    log = run.file("train.log").read_text()
    stopped_at = int(log.split("Cancelled after ")[1].split(" batches")[0])
    assert stopped_at == asked_at[0]  # not one more batch after the request
    assert len(run.metrics()) == 1
    resumed = resume(run.path)
    assert resumed.summary["status"] == "completed" and len(resumed.metrics()) == 5


KILL_SCRIPT = textwrap.dedent("""
    import os, signal, sys, torch
    sys.path.insert(0, {repo!r})
    torch.set_num_threads(2)
    from engine.training.config import TrainConfig
    from engine.training.job import train
    cfg = TrainConfig.from_dict({cfg!r})
    def progress(e):
        if e.stage == "train" and e.metrics.get("epoch") == 3:
            os.kill(os.getpid(), signal.SIGKILL)
    train(cfg, progress=progress, run_dir={run_dir!r})
""")


def test_resume_after_kill9_matches_uninterrupted(data, tmp_path):
    cfg = tiny_config(data, tmp_path / "runs", epochs=4, schedule={"name": "cosine"},
                      optim={"name": "adamw", "lr": 0.003})
    full = train(cfg)
    run_dir = tmp_path / "killed"
    repo = str(__import__("pathlib").Path(__file__).resolve().parents[1])
    script = KILL_SCRIPT.format(repo=repo, cfg=cfg.to_dict(), run_dir=str(run_dir))
    env = dict(os.environ)
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    assert len(Run(run_dir).metrics()) == 2
    resumed = resume(run_dir)
    a, b = full.metrics(), resumed.metrics()
    assert [r["epoch"] for r in b] == [1, 2, 3, 4]
    for ra, rb in zip(a, b):
        for key in ("train_loss", "val_loss", "lr"):
            assert ra[key] == pytest.approx(rb[key], rel=1e-5, abs=1e-7), (ra["epoch"], key)


def test_bad_settings_raise_config_errors(data, tmp_path):
    with pytest.raises(ConfigError, match=r"config\.optim\.name: got 'rmsprop'; allowed values are"):
        train(tiny_config(data, tmp_path, optim={"name": "rmsprop"}))
    with pytest.raises(ConfigError, match=r"config\.optim\.nmae: unknown setting"):
        tiny_config(data, tmp_path, optim={"nmae": "adam"})
    assert list_runs(tmp_path) == []  # refused before any run folder exists


def test_device_selection():
    from engine.training.devices import select_device, use_amp

    assert select_device("auto").type in ("cpu", "cuda", "mps")
    assert select_device("cpu").type == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError):
            select_device("cuda")
    assert use_amp("auto", torch.device("cpu")) is False


def test_multiclass_run_with_an_mlp_head_reloads(tmp_path):
    """A 3-class run whose config sets head_hidden is rebuilt with the same head (evaluate/explain/export)."""
    import numpy as np
    from PIL import Image

    from engine.evaluation.run_model import load_run_model

    rng = np.random.default_rng(0)
    root = tmp_path / "three"
    for c, name in enumerate(("a", "b", "c")):
        for p in range(3):
            folder = root / f"patient{c}{p}" / name
            folder.mkdir(parents=True)
            for i in range(3):
                pixels = (rng.random((32, 32, 3)) * 60 + 60 * c).astype(np.uint8)
                Image.fromarray(pixels).save(folder / f"{i}.png")
    for model in ("basic_cnn", "simple_cnn"):
        cfg = tiny_config(root, tmp_path / model, epochs=1, model={"name": model, "head_hidden": 16},
                          evaluation={"n_bootstrap": 0})
        run = train(cfg)
        assert run.summary["status"] == "completed", run.summary.get("error")
        loaded, classes, _ = load_run_model(run)
        assert classes == ["a", "b", "c"] and loaded.num_outputs == 3
