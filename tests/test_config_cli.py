"""One schema per job: a wrong value on any command is refused before anything is written, presets load through
one validated loader, the CLI's choices come from the schemas and ``--epochs N`` runs exactly N epochs."""

from __future__ import annotations

import argparse
import json
import typing

import pytest

from engine.cli.main import build_parser, main
from engine.errors import ConfigError
from engine.options import CamMethod, EvaluateOptions, ExplainOptions, ExportOptions, literal_values
from engine.paths import data_home
from engine.presets import KINDS, preset_description, preset_dict, preset_names, schema_class
from engine.schema import choices
from engine.training.config import TrainConfig, build_config

PHASED = [name for name in preset_names("train") if preset_dict("train", name).get("phases")]


def test_string_batch_size_and_negative_epochs_are_both_refused():
    with pytest.raises(ConfigError) as info:
        TrainConfig.from_dict({"batch_size": "abc", "epochs": -3})
    message = str(info.value)
    assert "config.batch_size: got 'abc'" in message and "config.epochs: got -3" in message
    assert "\n" not in message


@pytest.mark.parametrize("preset", PHASED)
@pytest.mark.parametrize("epochs", [1, 2, 3, 7, 50])
def test_epochs_on_every_phased_preset_run_exactly_that_many(preset, epochs):
    cfg = build_config(preset, epochs=epochs)
    assert cfg.phases and cfg.total_epochs() == epochs and cfg.epochs == epochs
    assert all(p.epochs >= 1 for p in cfg.phases)


def test_the_phased_presets_are_found():
    assert {"s3-hybrid", "s1-resnet50-transfer"} <= set(PHASED)


@pytest.mark.parametrize("epochs", [1, 7])
def test_cli_epochs_on_a_phased_preset_shares_exactly_n(capsys, epochs):
    assert main(["train", "--preset", "s3-hybrid", "--data", "demo", "--epochs", str(epochs), "--dry-run"]) == 0
    resolved = json.loads(capsys.readouterr().out)
    assert sum(p["epochs"] for p in resolved["phases"]) == epochs


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_preset_of_every_kind_loads_validated(kind):
    names = preset_names(kind)
    assert names
    for name in names:
        data = preset_dict(kind, name)
        assert data["preset"] == name and preset_description(kind, name)
        assert "\n" not in preset_description(kind, name)
    with pytest.raises(ConfigError, match="Available:"):
        preset_dict(kind, "no-such-preset")


def test_a_broken_preset_is_refused_naming_preset_and_field(tmp_path, monkeypatch):
    (tmp_path / "presets").mkdir()
    (tmp_path / "presets" / "broken.yaml").write_text("description: x\nepochs: 0\noptim: {name: rmsprop}\n")
    monkeypatch.setattr("engine.presets.resources_dir", lambda: tmp_path)
    with pytest.raises(ConfigError) as info:
        preset_dict("train", "broken")
    assert "preset 'broken'.epochs: got 0" in str(info.value) and "'adam', 'adamw' or 'sgd'" in str(info.value)
    assert schema_class("train") is TrainConfig


def _choice_actions(parser: argparse.ArgumentParser):
    """(command, flag, choices) of every argparse option with choices, sub-commands included."""
    for action in parser._actions:  # argparse keeps no public list of them
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from ((f"{name} {flag}", values) for flag, values in _options_with_choices(sub))


def _options_with_choices(parser):
    for action in parser._actions:
        if action.choices and action.option_strings:
            yield action.option_strings[-1], list(action.choices)


def test_cli_choices_come_from_the_schemas():
    found = dict(_choice_actions(build_parser()))
    assert found["export --int8-method"] == choices(ExportOptions, "int8_method")
    assert found["explain --colormap"] == choices(ExplainOptions, "colormap")
    assert found["explain --tta"] == found["evaluate --tta"] == choices(EvaluateOptions, "tta")
    assert found["explain --method"] == found["predict --cam-method"] == list(literal_values(CamMethod))
    assert found["robustness --split"] == found["embed --split"] == ["train", "val", "test"]


def test_shared_literals_match_their_engines():
    from engine.explain.cams import cam_methods
    from engine.explain.overlay import COLORMAPS

    assert set(literal_values(CamMethod)) <= set(cam_methods())
    assert list(COLORMAPS) == choices(ExplainOptions, "colormap")
    assert typing.get_args(typing.get_type_hints(ExportOptions)["int8_method"]) == ("auto", "static", "dynamic")


def _new_entries(*folders):
    return {str(p) for folder in folders if folder.exists() for p in folder.rglob("*")}


BAD_COMMANDS = [
    (["train", "--data", "demo", "--set", "optim.name=rmsprop"], "config.optim.name: got 'rmsprop'", "'sgd'"),
    (["train", "--data", "demo", "--batch-size", "0"], "config.batch_size: got 0", "greater than or equal to 1"),
    (["pretrain", "demo", "--batch-size", "1"], "ssl.batch_size: got 1", "greater than or equal to 2"),
    (["pretrain", "demo", "--set", "amp=maybe"], "ssl.amp: got 'maybe'", "'auto', 'on' or 'off'"),
    (["study", "--preset", "s1", "--data", "demo", "--set", "kind=grid"], "study.kind: got 'grid'", "'kfold'"),
    (["study", "--preset", "s1", "--data", "demo", "--epochs", "0"], "study.epochs: got 0", "greater than or equal"),
    (["predict", "RUN", "IMAGE", "--batch-size", "0"], "predict.batch_size: got '0'", "greater than or equal to 1"),
    (["evaluate", "RUN", "--split", "val,holdout"], "evaluate.splits[1]: got 'holdout'", "'train', 'val' or 'test'"),
    (["export", "RUN", "--parity-images", "0"], "export.parity_images: got 0", "greater than or equal to 1"),
    (["explain", "RUN", "IMAGE", "--alpha", "2"], "explain.alpha: got 2.0", "less than or equal to 1"),
    (["embed", "RUN", "--out", "OUT/e.npz", "--image-size", "4"], "embed.image_size: got 4", "8"),
]


@pytest.mark.parametrize("argv,field,allowed", BAD_COMMANDS, ids=[" ".join(a[:1] + a[-2:]) for a, _, _ in BAD_COMMANDS])
def test_a_wrong_value_is_refused_before_any_folder_exists(tmp_path, capsys, argv, field, allowed):
    runs, out = tmp_path / "runs", tmp_path / "out"
    argv = [a.replace("RUN", str(tmp_path / "run")).replace("OUT", str(out)).replace("IMAGE", str(tmp_path / "x.png"))
            for a in argv]
    if argv[0] in ("train", "pretrain", "study"):
        argv += ["--runs-dir", str(runs)]
    before = _new_entries(data_home())
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and err.startswith("error: ")
    assert field in err and allowed in err  # the field, the value given and what is allowed
    assert not runs.exists() and not out.exists() and not (tmp_path / "run").exists()
    assert _new_entries(data_home()) - before <= {str(p) for p in data_home().rglob("logs*")}


@pytest.mark.parametrize("argv,flag", [(["export", "RUN", "--int8-method", "fastest"], "--int8-method"),
                                       (["predict", "RUN", "DIR", "--tta", "d8"], "--tta"),
                                       (["explain", "RUN", "--colormap", "rainbow"], "--colormap"),
                                       (["train", "--device", "tpu"], "--device")])
def test_a_wrong_choice_is_refused_by_the_parser_naming_flag_value_and_choices(capsys, argv, flag):
    with pytest.raises(SystemExit) as info:
        main(argv)
    lines = capsys.readouterr().err.strip().splitlines()
    assert info.value.code == 2
    assert len(lines) == 1, lines  # one line, no usage block
    assert f"argument {flag}: invalid choice: '{argv[-1]}' (choose from" in lines[0] and "--help" in lines[0]
