"""`python main.py <command>`: help, config files, presets, the real sample data."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from engine.cli import main as cli
from engine.runs import Run, list_runs
from engine.presets import preset_names
from engine.training.config import build_config
from tests.helpers import tiny_demo

REPO = Path(__file__).resolve().parents[1]
def _all_commands() -> list[str]:
    """Every sub-command the parser registers (so a new command cannot ship without working --help)."""
    import argparse

    from engine.cli.main import build_parser

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sorted(sub.choices)


COMMANDS = _all_commands()


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exc:
        cli([command, "--help"])
    assert exc.value.code == 0
    assert "usage" in capsys.readouterr().out


def test_main_py_help_runs_as_a_script():
    out = subprocess.run([sys.executable, str(REPO / "main.py"), "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "train" in out.stdout


@pytest.mark.parametrize("preset", preset_names("train"))
def test_presets_resolve_to_valid_configs(preset):
    from engine.registry import names

    cfg = build_config(preset)
    assert cfg.model.name in names("model")
    assert cfg.total_epochs() > 0


def test_s3_preset_is_the_recipe():
    cfg = build_config("s3-hybrid")
    assert [p.epochs for p in cfg.phases] == [7, 10, 13]
    assert cfg.phases[1].trainable == {"effnet": {"last": 3}, "vit": {"last": 4}}
    assert cfg.loss.label_smoothing == 0.2 and cfg.loss.class_weights == "balanced"
    assert cfg.sampler == "weighted" and cfg.grad_clip == 1.0 and cfg.optim.name == "adamw"
    assert cfg.early_stopping.monitor == "val_auc" and cfg.early_stopping.patience == 7


def test_dry_run_merges_preset_config_file_flags_and_set(tmp_path, capsys):
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text("batch_size: 4\noptim: {name: sgd}\n")
    code = cli(["train", "--preset", "s1-basic-cnn", "--config", str(cfg_file), "--epochs", "3",
                "--set", "optim.lr=0.05", "--set", "augment.vflip=true", "--dry-run"])
    assert code == 0
    cfg = json.loads(capsys.readouterr().out)
    assert cfg["batch_size"] == 4 and cfg["optim"] == {**cfg["optim"], "name": "sgd", "lr": 0.05}
    assert cfg["epochs"] == 3 and cfg["augment"]["vflip"] is True and cfg["preset"] == "s1-basic-cnn"


def test_bad_setting_is_a_clear_error(capsys):
    assert cli(["train", "--preset", "demo", "--set", "optim.nmae=1", "--dry-run"]) == 2
    assert "unknown setting" in capsys.readouterr().err


def test_missing_weights_error_tells_what_to_do(tmp_path, capsys):
    code = cli(["--quiet", "train", "--preset", "s1-resnet50-transfer", "--data", str(tiny_demo(tmp_path)),
                "--image-size", "32", "--runs-dir", str(tmp_path / "runs")])
    assert code == 2
    err = capsys.readouterr().err
    assert "pretrained" in err and "none" in err


def test_scan_and_split_on_breakhis_sample(shared_data, tmp_path, capsys):
    root = shared_data / "breakhis-sample"
    assert cli(["--quiet", "scan", str(root)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["images"] == 49 and summary["importer"] == "breakhis"
    out = tmp_path / "split.json"
    assert cli(["--quiet", "split", str(root), "--out", str(out), "--seed", "3"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["mode"] == "patient" and report["audit"]["patient_overlap"] == []
    assert out.exists()


def test_train_preset_on_breakhis_sample_then_evaluate_and_predict(shared_data, tmp_path, capsys):
    runs = tmp_path / "runs"
    code = cli(["--quiet", "train", "--preset", "s1-basic-cnn", "--data", str(shared_data / "breakhis-sample"),
                "--epochs", "2", "--image-size", "48", "--runs-dir", str(runs), "--set", "model.head_hidden=32"])
    assert code == 0
    run = list_runs(runs)[0]
    s = run.summary
    assert s["status"] == "completed" and s["split_mode"] == "patient" and s["preset"] == "s1-basic-cnn"
    assert "== test ==" in capsys.readouterr().out
    assert cli(["--quiet", "evaluate", str(run.path), "--tta"]) == 0
    assert run.file("evaluation_tta.json").exists()
    folder = tmp_path / "new"
    folder.mkdir()
    src = next((shared_data / "breakhis-224-flat" / "benign").glob("*.png"))
    (folder / "a.png").write_bytes(src.read_bytes())
    (folder / "broken.png").write_bytes(b"not a png")
    assert cli(["--quiet", "predict", str(run.path), str(folder), "--out", str(tmp_path / "p")]) == 0
    lines = (tmp_path / "p" / "predictions.csv").read_text().splitlines()
    assert len(lines) == 3 and any(",error," in line for line in lines) and any(",ok," in line for line in lines)
    assert cli(["runs", "--runs-dir", str(runs)]) == 0
    assert Run.open(run.path).id in capsys.readouterr().out


def test_terminal_progress_shows_bar_and_eta():
    import io

    from engine.cli.progress import TerminalProgress
    from engine.jobs import Progress

    out = io.StringIO()
    bar = TerminalProgress(stream=out, min_interval=0)
    bar(Progress(stage="train", step=5, total=10, eta_s=75, message="epoch 1/2", metrics={"batch_loss": 0.5}))
    bar(Progress(stage="epoch", step=1, total=2, metrics={"epoch": 1, "phase": 1, "train_loss": 0.4, "val_auc": 0.9}))
    text = out.getvalue()
    assert "50.0%" in text and "ETA 1m15s" in text and "loss 0.5000" in text
    assert "epoch 1 (phase 1): train_loss 0.4" in text and "val_auc 0.9" in text
