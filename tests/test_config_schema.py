"""The validated config schema: every bad value is refused, naming the field, before a run folder exists."""

from __future__ import annotations

import math

import pytest

from engine.cli.main import main
from engine.errors import ConfigError
from engine.schema import choices, number_list
from engine.presets import preset_dict, preset_names
from engine.ssl.config import SSLConfig, build_ssl_config
from engine.training.config import OptimConfig, SplitConfig, TrainConfig, build_config, scale_phases

BAD_TRAIN_VALUES = [
    ({"epochs": 0}, "config.epochs: got 0"),
    ({"epochs": -3}, "config.epochs: got -3"),
    ({"batch_size": 0}, "config.batch_size: got 0"),
    ({"batch_size": -4}, "config.batch_size: got -4"),
    ({"batch_size": "abc"}, "config.batch_size: got 'abc'"),
    ({"optim": {"lr": math.nan}}, "config.optim.lr: got nan; input should be a finite number"),
    ({"optim": {"lr": math.inf}}, "config.optim.lr: got inf"),
    ({"optim": {"lr": -1e-3}}, "config.optim.lr: got -0.001; input should be greater than 0"),
    ({"optim": {"lr": 0}}, "config.optim.lr: got 0"),
    ({"optim": {"name": "rmsprop"}}, "allowed values are 'adam', 'adamw' or 'sgd'"),
    ({"data": {"resize": True}}, "config.data.resize: got True"),
    ({"data": {"image_size": 15000}}, "config.data.image_size: got 15000"),
    ({"data": {"train_fraction": 0}}, "config.data.train_fraction: got 0"),
    ({"split": {"ratios": [0.5, 0.5, 0.5]}}, "sum to 1.5000"),
    ({"split": {"k_folds": 3, "fold": 5}}, "fold 5 does not exist"),
    ({"augment": {"rotation": 400}}, "config.augment.rotation: got 400"),
    ({"phases": [{"epochs": 0}]}, "config.phases[0].epochs: got 0"),
    ({"schedule": {"monitor": "val_banana"}}, "config.schedule.monitor: got 'val_banana'"),
    ({"evaluation": {"threshold": "median"}}, "config.evaluation.threshold: got 'median'"),
    ({"nonsense": 1}, "config.nonsense: unknown setting (valid settings:"),
]


@pytest.mark.parametrize("data,message", BAD_TRAIN_VALUES, ids=[m for _, m in BAD_TRAIN_VALUES])
def test_bad_values_are_refused_with_the_field_named(data, message):
    with pytest.raises(ConfigError) as info:
        TrainConfig.from_dict(data)
    assert message in str(info.value)
    assert "\n" not in str(info.value)  # one line for the CLI


def test_direct_construction_and_assignment_raise_config_error():
    with pytest.raises(ConfigError, match="SplitConfig.mode: got 'slide'"):
        SplitConfig(mode="slide")
    cfg = TrainConfig()
    with pytest.raises(ConfigError, match="OptimConfig.lr"):
        cfg.optim.lr = float("nan")


def test_config_round_trips_through_json_and_every_preset_validates():
    import json

    for name in preset_names("train"):
        cfg = build_config(name)
        assert TrainConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
        assert cfg.preset == name and preset_dict("train", name)["preset"] == name
    for name in preset_names("ssl"):
        assert isinstance(build_ssl_config(name), SSLConfig)


@pytest.mark.parametrize("epochs", [1, 2, 3, 7, 10, 29, 30, 31, 100])
def test_epochs_on_a_phased_preset_run_exactly_that_many(epochs):
    cfg = build_config("s3-hybrid", epochs=epochs)
    assert cfg.total_epochs() == epochs
    assert all(p.epochs >= 1 for p in cfg.phases)


def test_scale_phases_keeps_proportions():
    phases = scale_phases([{"epochs": 7}, {"epochs": 10}, {"epochs": 13}], 60)
    assert [p["epochs"] for p in phases] == [14, 20, 26]


def test_weighted_sampler_with_balanced_weights_is_noted():
    notes = build_config("s3-hybrid").notes()
    assert any("corrected twice" in n for n in notes)
    assert not build_config("s1-basic-cnn").notes()


def test_choices_come_from_the_schema():
    assert choices(OptimConfig, "name") == ["adam", "adamw", "sgd"]
    assert "dataset" in choices(SplitConfig, "mode")
    assert choices(SSLConfig, "scope") == ["train", "train+val", "all"]


def test_number_lists_from_text():
    assert number_list("0.1, 0.25,1") == [0.1, 0.25, 1.0] and number_list("0;1/2", int, "--seeds") == [0, 1, 2]
    assert number_list(" ") == []
    with pytest.raises(ConfigError, match="--seeds: expected comma-separated numbers, got '0,x'"):
        number_list("0,x", int, "--seeds")


def test_ssl_config_ranges():
    with pytest.raises(ConfigError, match="ssl.batch_size: got 1"):
        SSLConfig.from_dict({"batch_size": 1})
    with pytest.raises(ConfigError, match="ssl.scope: got 'test'"):
        SSLConfig.from_dict({"scope": "test"})


@pytest.mark.parametrize("flags", [["--epochs", "0"], ["--epochs", "-3"], ["--lr", "nan"], ["--lr", "-1"],
                                   ["--lr", "inf"], ["--batch-size", "0"], ["--batch-size", "-2"]])
def test_cli_refuses_bad_values_before_any_run_folder(tmp_path, capsys, flags):
    runs = tmp_path / "runs"
    code = main(["train", "--data", "demo", "--runs-dir", str(runs), *flags])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.startswith("error: config.") and len(err.splitlines()) == 1
    assert not runs.exists() or not any(runs.iterdir())
