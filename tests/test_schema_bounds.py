"""Ranges live once in the schema: ``bounds`` reads them, and cross-field rules refuse bad label-efficiency settings."""

from __future__ import annotations

import pytest

from engine.cli.main import main
from engine.errors import ConfigError
from engine.schema import Bounds, bounds
from engine.ssl.config import SSLConfig
from engine.ssl.label_efficiency import LabelEfficiencyConfig
from engine.training.config import OptimConfig, TrainConfig

REAL_FIELDS = [
    (TrainConfig, "epochs", Bounds(1, None)),
    (TrainConfig, "batch_size", Bounds(1, None)),
    (SSLConfig, "batch_size", Bounds(2, None)),
    (TrainConfig, "optim.lr", Bounds(0, None, lo_inclusive=False)),
    (OptimConfig, "lr", Bounds(0, None, lo_inclusive=False)),
    (TrainConfig, "data.image_size", Bounds(8, 4096)),
    (TrainConfig, "data.resize", Bounds(8, 4096)),  # Optional[...]: the range of the number
    (TrainConfig, "data.max_images", Bounds(1, None)),
    (TrainConfig, "augment.color_jitter", Bounds(0, 1)),  # a probability
    (TrainConfig, "evaluation.target_sensitivity", Bounds(0, 1)),
    (TrainConfig, "model.dropout", Bounds(0, 1, hi_inclusive=False)),
    (TrainConfig, "schedule.gamma", Bounds(0, 1, lo_inclusive=False)),
    (TrainConfig, "evaluation.ci_level", Bounds(0.5, 1, lo_inclusive=False, hi_inclusive=False)),
    (TrainConfig, "evaluation.n_bootstrap", Bounds(0, 100_000)),
    (SSLConfig, "val_fraction", Bounds(0, 0.9, hi_inclusive=False)),
    (TrainConfig, "seed", Bounds(0, None)),
]


@pytest.mark.parametrize("cls,field,expected", REAL_FIELDS, ids=[f"{c.__name__}.{f}" for c, f, _ in REAL_FIELDS])
def test_bounds_of_real_fields(cls, field, expected):
    assert bounds(cls, field) == expected


def test_bounds_agree_with_what_validation_refuses():
    lo, hi, _, _ = bounds(TrainConfig, "data.image_size")
    TrainConfig.from_dict({"data": {"image_size": lo}})
    TrainConfig.from_dict({"data": {"image_size": hi}})
    for bad in (lo - 1, hi + 1):
        with pytest.raises(ConfigError, match="image_size"):
            TrainConfig.from_dict({"data": {"image_size": bad}})
    with pytest.raises(ConfigError, match="gamma"):
        TrainConfig.from_dict({"schedule": {"gamma": bounds(TrainConfig, "schedule.gamma").lo}})  # excluded


def test_bounds_of_an_unknown_or_non_numeric_field():
    assert bounds(TrainConfig, "name") == Bounds(None, None)
    with pytest.raises(KeyError, match="no setting 'nonsense'"):
        bounds(TrainConfig, "optim.nonsense")


def test_label_efficiency_refuses_frozen_epochs_not_below_epochs():
    base = {"dataset": "demo", "encoders": ["random"], "epochs": 3}
    for frozen in (3, 7):
        with pytest.raises(ConfigError, match=r"frozen_epochs \(\d\) must be below epochs \(3\)") as err:
            LabelEfficiencyConfig.from_dict({**base, "frozen_epochs": frozen})
        assert "\n" not in str(err.value) and "ArgsKwargs" not in str(err.value)
    assert LabelEfficiencyConfig.from_dict({**base, "frozen_epochs": 2}).frozen_epochs == 2
    assert LabelEfficiencyConfig.from_dict({**base, "mode": "probe", "frozen_epochs": 5}).mode == "probe"  # unused
    with pytest.raises(ConfigError, match="must be below epochs"):
        LabelEfficiencyConfig(epochs=2, frozen_epochs=2)


def test_cli_label_efficiency_refuses_frozen_epochs_in_one_line(tmp_path, capsys):
    runs = tmp_path / "runs"
    code = main(["label-efficiency", "demo", "--encoders", "random", "--epochs", "2", "--frozen-epochs", "2",
                 "--runs-dir", str(runs)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "frozen_epochs (2) must be below epochs (2)" in err
    assert len(err.splitlines()) == 1 and "Traceback" not in err and not runs.exists()
