"""External validation: a run trained on one sample dataset evaluated on another with a label map."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from engine.errors import ConfigError, DataError
from engine.evaluation.evaluate import evaluate_run
from engine.evaluation.external import (
    evaluate_external, external_name, list_external_evaluations, load_external_evaluation, parse_label_map,
    resolve_label_map,
)
from engine.evaluation.predictions import read_predictions_csv
from engine.training.job import train
from tests.helpers import tiny_config

CRC_MAP = "benign=NORM,STR,ADI;malignant=TUM"


def _files(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in sorted(folder.rglob("*"))}


@pytest.fixture(scope="module")
def setup(tmp_path_factory, shared_data):
    """A basic CNN trained 1 epoch on a copy of breakhis-224-flat; copies of crc-he-sample and breakhis-sample."""
    root = tmp_path_factory.mktemp("external")
    flat, crc, bh = root / "flat", root / "crc-he-sample", root / "breakhis-sample"
    shutil.copytree(shared_data / "breakhis-224-flat", flat)
    shutil.copytree(shared_data / "crc-he-sample", crc)
    shutil.copytree(shared_data / "breakhis-sample", bh)
    with pytest.MonkeyPatch.context() as mp:  # module fixtures run before the per-test isolated home
        mp.setenv("HISTODESK_HOME", str(tmp_path_factory.getbasetemp() / "histodesk-home"))
        run = train(tiny_config(flat, root / "runs", epochs=1, split={"mode": "image"},
                                evaluation={"n_bootstrap": 200}))
    assert run.summary["status"] == "completed"
    return run, crc, bh


def test_label_map_parsing_and_checks():
    assert parse_label_map("benign=Benign, Normal; malignant=InSitu,Invasive") == {
        "benign": ["Benign", "Normal"], "malignant": ["InSitu", "Invasive"]}
    assert parse_label_map({"benign": "Normal", "malignant": ["TUM"]}) == {"benign": ["Normal"], "malignant": ["TUM"]}
    assert parse_label_map(None) == {} and parse_label_map("") == {}
    with pytest.raises(ConfigError, match="CLASS=LABEL"):
        parse_label_map("benign")
    mapping, notes = resolve_label_map({"benign": ["A", "Z"]}, ["benign", "malignant"], ["A", "B"])
    assert mapping == {"A": "benign", "Z": "benign"} and "'Z'" in notes[0]
    assert resolve_label_map({}, ["benign", "malignant"], ["benign"])[0] == {"benign": "benign",
                                                                             "malignant": "malignant"}
    with pytest.raises(ConfigError, match="does not have"):
        resolve_label_map({"tumour": ["TUM"]}, ["benign", "malignant"], ["TUM"])
    with pytest.raises(ConfigError, match="both"):
        resolve_label_map({"benign": ["X"], "malignant": ["X"]}, ["benign", "malignant"], ["X"])


def test_default_names_can_be_loaded_back(tmp_path):
    """The default name of any dataset folder (long, spaces, TTA suffix) is one load_external_evaluation takes."""
    for dataset, mode, suffix in (("/data/" + "a" * 120, "d4", "-tta-d4"), ("/data/BACH set (2018)/", None, ""),
                                  ("demo", "s3", "-tta")):
        name = external_name(dataset, mode)
        assert len(name) <= 80 and name.endswith(suffix) and " " not in name
        with pytest.raises(DataError, match="no external evaluation"):
            load_external_evaluation(tmp_path, name)


def test_external_evaluation_with_a_label_map(setup):
    run, crc, _bh = setup
    before = _files(crc)
    calibration = json.loads(run.file("calibration.json").read_text())
    results = evaluate_run(run.path, dataset=str(crc), label_map=CRC_MAP)  # the CLI's path through evaluate_run
    metrics, meta = results["external"], results["meta"]
    assert _files(crc) == before  # the external dataset is only read
    # 9 tiles, one per class: 4 mapped (3 benign, 1 malignant), the 5 others counted per label, not dropped silently
    assert meta["n_images"] == 4 and meta["per_class"] == {"benign": 3, "malignant": 1}
    assert meta["n_unmapped"] == 5 and meta["unmapped"] == {"BACK": 1, "DEB": 1, "LYM": 1, "MUC": 1, "MUS": 1}
    assert meta["importer"] == "prefix" and meta["label_map"] == parse_label_map(CRC_MAP)
    # figures with intervals, calibrated with the run's own val-fitted temperature, applied unchanged
    assert metrics["n"] == 4 and 0.0 <= metrics["accuracy"] <= 1.0
    lo, hi = metrics["ci"]["accuracy"]
    assert lo <= metrics["accuracy"] <= hi and metrics["bootstrap"]["n"] == 200
    assert metrics["calibration"]["temperature"] == pytest.approx(calibration["temperature"])
    assert json.loads(run.file("calibration.json").read_text()) == calibration
    assert any("Small sample" in w for w in metrics["warnings"])
    # stored in the run under its own name, and listed for the Runs tab
    folder = run.path / "external" / "crc-he-sample"
    assert json.loads((folder / "evaluation.json").read_text())["external"]["n"] == 4
    rows = read_predictions_csv(folder / "predictions.csv")
    assert len(rows) == 4 and {r["source_label"] for r in rows} == {"NORM", "STR", "ADI", "TUM"}
    assert all(r["split"] == "external" for r in rows)
    listed = list_external_evaluations(run)
    assert [m["name"] for m in listed] == ["crc-he-sample"]
    assert listed[0]["n_unmapped"] == 5 and listed[0]["headline"]["accuracy"] == metrics["accuracy"]
    assert load_external_evaluation(run, "crc-he-sample")["external"]["accuracy"] == metrics["accuracy"]


def test_external_evaluation_without_a_map_uses_matching_names_and_no_curation(setup):
    from engine.data.curation import add_exclusions

    run, _crc, bh = setup
    first = sorted(bh.rglob("*.png"))[0]
    add_exclusions(bh, [str(first)])  # curation is for training data: an external test set is used whole
    results = evaluate_external(run.path, str(bh), name="bh-all")
    meta, metrics = results["meta"], results["external"]
    assert meta["n_images"] == 49 and meta["n_unmapped"] == 0 and meta["importer"] == "breakhis"
    assert metrics["bootstrap"]["unit"] == "patient" and metrics["patient"]  # BreaKHis ids: patient intervals
    assert str(first) in {r["path"] for r in read_predictions_csv(run.path / "external" / "bh-all" / "predictions.csv")}
    assert "bh-all" in [m["name"] for m in list_external_evaluations(run.path)]


def test_external_evaluation_errors(setup, tmp_path):
    run, crc, _bh = setup
    with pytest.raises(ConfigError, match="does not have"):
        evaluate_external(run.path, str(crc), label_map="tumour=TUM")
    with pytest.raises(DataError, match="maps"):
        evaluate_external(run.path, str(crc))  # no label of crc-he-sample is 'benign' or 'malignant'
    with pytest.raises(ConfigError, match="--data"):
        evaluate_run(run.path, label_map=CRC_MAP)
    with pytest.raises(ConfigError, match="--name"):
        evaluate_external(run.path, str(crc), label_map=CRC_MAP, name="../escape")
    with pytest.raises(DataError):
        load_external_evaluation(run, "nothing-here")


def test_older_run_gets_its_calibration_fitted_on_val_first(setup, tmp_path):
    run, crc, _bh = setup
    old = tmp_path / "old-run"
    shutil.copytree(run.path, old, ignore=shutil.ignore_patterns("external", "calibration.json"))
    meta = evaluate_external(old, str(crc), label_map=CRC_MAP)["meta"]
    saved = json.loads((old / "calibration.json").read_text())
    assert saved["fitted_on"] == "val" and meta["calibration"]["temperature"] == pytest.approx(saved["temperature"])


def test_cli_evaluate_external(setup, capsys):
    from engine.cli.main import main

    run, crc, _bh = setup
    code = main(["--quiet", "evaluate", str(run.path), "--data", str(crc), "--label-map", CRC_MAP,
                 "--name", "crc-cli"])
    out = capsys.readouterr().out
    assert code == 0 and "== external ==" in out
    assert "not evaluated: 5 images" in out and "BACK 1" in out and "crc-cli" in out
    assert main(["--quiet", "evaluate", str(run.path), "--data", str(crc), "--label-map", "tumour=TUM"]) == 2
    assert "does not have" in capsys.readouterr().err
