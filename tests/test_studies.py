"""Studies: k-fold cross-validation, repeated seeds, label efficiency with draws and step budgets, presets, resume."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from engine.data.catalog import Catalog
from engine.data.splits import Split
from engine.errors import ConfigError
from engine.evaluation.predictions import read_predictions_csv
from engine.jobs import CancelToken
from engine.studies import (
    build_study_config, error_bars, expand, format_study_table, list_studies, load_study, run_study,
)
from engine.studies.grid import check_recipes, imagenet_problem
from tests.helpers import tiny_demo

#: Study settings that keep every run tiny: basic CNN at 32 px, one epoch, few bootstrap replicates.
TINY = {"epochs": 1, "image_size": 32, "batch_size": 8,
        "overrides": {"precise_bn": "off", "evaluation": {"n_bootstrap": 50}, "early_stopping": {"patience": 0}}}
CNN = [{"name": "cnn", "preset": "s1-basic-cnn", "overrides": {"model": {"head_hidden": 16}}}]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """A tiny demo dataset: 10 patients (5 per class), 2 images each."""
    return tiny_demo(tmp_path_factory.mktemp("study-data"), patients_per_class=5, images=1)


def _study(data, tmp_path, **settings) -> dict:
    return {"dataset": str(data), "runs_dir": str(tmp_path / "runs"), "recipes": CNN, **TINY, **settings}


def _config(run: str) -> dict:
    return json.loads((Path(run) / "config.json").read_text())


def test_kfold_study_tests_every_patient_once_and_pools_out_of_fold_predictions(data, tmp_path):
    events = []
    results = run_study(_study(data, tmp_path, folds=5), progress=events.append)
    path = Path(results["path"])
    assert results["status"] == "completed" and results["kind"] == "kfold"
    rows = results["rows"]
    assert [r["fold"] for r in rows] == [0, 1, 2, 3, 4] and all(r["status"] == "completed" for r in rows)
    # every image and every patient is tested exactly once across the folds (read from the split files)
    catalog = Catalog.load(path / "catalog.json")
    splits = [Split.load(path / "splits" / f"fold-{i}.json") for i in range(5)]
    tested = Counter(p for s in splits for p, part in s.assignments.items() if part == "test")
    assert set(tested) == {r.path for r in catalog.records} and set(tested.values()) == {1}
    patient_folds = Counter(r.patient for s in splits for r in catalog.records if s.assignments[r.path] == "test")
    by_fold = [{r.patient for r in catalog.records if s.assignments[r.path] == "test"} for s in splits]
    assert sum(len(f) for f in by_fold) == len(patient_folds) == 10  # patient-level: disjoint test folds
    assert results["coverage"]["images_tested_once"] and results["coverage"]["patients_in_one_test_fold"]
    for i, row in enumerate(rows):  # each run trained on its own fold's split file
        cfg = _config(row["run"])
        assert cfg["split"]["file"].endswith(f"fold-{i}.json") and (cfg["split"]["k_folds"], cfg["split"]["fold"]) \
            == (5, i)
        assert json.loads((Path(row["run"]) / "split.json").read_text())["assignments"] == splits[i].assignments
    # per-fold metrics, mean +- std over folds
    summary = results["summaries"][0]
    accs = [r["metrics"]["accuracy"] for r in rows]
    assert summary["n_runs"] == 5 and summary["figures"]["accuracy"]["mean"] == pytest.approx(np.mean(accs))
    assert summary["figures"]["accuracy"]["std"] == pytest.approx(np.std(accs, ddof=1))
    # pooled out-of-fold predictions: every image once, evaluated as one set with intervals
    pooled = results["pooled"][0]
    assert pooled["covers_all"] and pooled["n_images"] == 20 and pooled["n_patients"] == 10
    pooled_rows = read_predictions_csv(Path(pooled["path"]) / "predictions.csv")
    assert Counter(r["path"] for r in pooled_rows) == Counter({r.path: 1 for r in catalog.records})
    metrics = json.loads((Path(pooled["path"]) / "evaluation.json").read_text())["pooled"]
    assert metrics["n"] == 20 and len(metrics["ci"]["accuracy"]) == 2 and metrics["bootstrap"]["unit"] == "patient"
    # one job: run i/N progress with a study-wide ETA, results readable and listed
    study = [e for e in events if e.stage == "study"]
    assert any(e.message.startswith("run 5/5") for e in study) and study[-1].step == 1000
    assert any(e.eta_s is not None for e in study)
    assert load_study(path)["pooled"][0]["covers_all"]
    listed = list_studies(tmp_path / "runs")
    assert [(s["kind"], s["status"], s["n_done"], s["n_runs"]) for s in listed] == [("kfold", "completed", 5, 5)]
    assert "pooled out-of-fold" in format_study_table(results)


def test_repeated_seeds_keep_the_same_test_set(data, tmp_path):
    results = run_study(_study(data, tmp_path, seeds=[0, 1, 2], split={"seed": 7}))
    assert results["status"] == "completed" and results["kind"] == "seeds"
    rows = results["rows"]
    assert [r["seed"] for r in rows] == [0, 1, 2]
    configs = [_config(r["run"]) for r in rows]
    assert [c["seed"] for c in configs] == [0, 1, 2] and {c["split"]["seed"] for c in configs} == {7}
    assignments = [json.loads((Path(r["run"]) / "split.json").read_text())["assignments"] for r in rows]
    assert assignments[0] == assignments[1] == assignments[2]  # same split, different initialisations
    weights = [(Path(r["run"]) / "model.safetensors").read_bytes() for r in rows]
    assert len(set(weights)) == 3
    figures = results["summaries"][0]["figures"]["accuracy"]
    assert figures["n"] == 3 and figures["std"] is not None


def test_cancel_mid_study_then_resume_runs_only_the_rest(data, tmp_path):
    cancel = CancelToken()

    def progress(event):  # cancel once the second run has finished its first epoch
        if event.stage == "study" and event.message.startswith("run 2/3") and ": epoch " in event.message:
            cancel.cancel()

    results = run_study(_study(data, tmp_path, seeds=[0, 1, 2], epochs=2), progress=progress, cancel=cancel)
    path = Path(results["path"])
    assert results["status"] == "cancelled"
    assert [(r["seed"], r["status"]) for r in results["rows"]] == [(0, "completed"), (1, "cancelled")]
    first, second = Path(results["rows"][0]["run"]), Path(results["rows"][1]["run"])
    assert not (path / "runs" / "cnn-s2").exists()
    kept = {f: (first / f).stat().st_mtime_ns for f in ("model.safetensors", "train.log", "summary.json")}
    assert list_studies(tmp_path / "runs")[0]["status"] == "cancelled"

    from engine.cli.main import main

    assert main(["--quiet", "study", "--resume", str(path)]) == 0
    results = load_study(path)
    assert results["status"] == "completed" and results["resumes"] == 1
    assert [(r["seed"], r["status"]) for r in results["rows"]] == [(0, "completed"), (1, "completed"),
                                                                  (2, "completed")]
    assert {f: (first / f).stat().st_mtime_ns for f in kept} == kept  # the completed run was not touched
    assert "Resumed after epoch 1" in (second / "train.log").read_text()  # engine.training.job.resume
    assert json.loads((second / "summary.json").read_text())["epochs_run"] == 2
    assert "Resumed" not in (path / "runs" / "cnn-s2" / "train.log").read_text()


def test_label_efficiency_draws_give_error_bars_within_the_step_budget(data, tmp_path):
    results = run_study(_study(data, tmp_path, fractions=[0.5, 1.0], draws=3, steps=4, batch_size=4))
    assert results["status"] == "completed" and results["kind"] == "label_efficiency"
    rows = results["rows"]
    assert [(r["fraction"], r["draw"]) for r in rows] == [(0.5, 0), (0.5, 1), (0.5, 2), (1.0, None)]
    seeds = [_config(r["run"])["data"]["train_fraction_seed"] for r in rows]
    assert seeds == [0, 1, 2, None]
    for r in rows:  # each run gets the same optimiser-step budget, not the same epochs
        cfg = _config(r["run"])
        assert r["steps_budget"] == 4 and r["epochs"] == max(1, 4 // r["batches_per_epoch"]) == cfg["epochs"]
        assert r["steps_run"] == r["epochs_run"] * r["batches_per_epoch"] <= 4 or r["epochs"] == 1
        assert r["steps_run"] > 4 - r["batches_per_epoch"]
    full, half = rows[3], rows[0]
    assert half["n_train_images"] < full["n_train_images"] and half["epochs"] >= full["epochs"]
    bars = error_bars(results)["cnn"]
    xs, means, stds = bars["accuracy"]
    assert xs == [0.5, 1.0] and stds[0] is not None and stds[1] is None
    assert means[0] == pytest.approx(np.mean([r["accuracy"] for r in rows[:3]]))
    by_fraction = {s["fraction"]: s["n_runs"] for s in results["summaries"]}
    assert by_fraction == {0.5: 3, 1.0: 1}
    assert "+-" in format_study_table(results)


def test_label_efficiency_settings_are_a_study_kind(tmp_path):
    from engine.ssl.label_efficiency import LabelEfficiencyConfig, study_config
    from engine.studies.grid import train_config

    le = LabelEfficiencyConfig.from_dict({
        "dataset": "demo", "encoders": ["random", "imagenet"], "fractions": [1.0, 0.1], "draws": 3, "steps": 50,
        "epochs": 4, "mode": "finetune", "frozen_epochs": 1, "seed": 2,
        "base": {"batch_size": 8, "data": {"max_images": 30, "image_size": 32}, "split": {"seed": 5}}})
    study = study_config(le)
    assert (study.kind, study.draws, study.steps, study.seeds, study.max_images, study.split.seed) == (
        "label_efficiency", 3, 50, [2], 30, 5)
    assert [r.name for r in study.recipes] == ["random", "imagenet"]
    assert study.recipes[1].overrides["model"]["pretrained"] == "imagenet"
    cells = expand(study)
    assert [(c.recipe, c.fraction, c.draw) for c in cells[:4]] == [
        ("random", 0.1, 0), ("random", 0.1, 1), ("random", 0.1, 2), ("random", 1.0, None)] and len(cells) == 8
    tc = train_config(study, cells[1], split_file=str(tmp_path / "split.json"), runs_dir=tmp_path, epochs=6)
    assert [(p.trainable, p.epochs) for p in tc.phases] == [("head", 2), ("all", 4)]  # 1:3 of 4 epochs, scaled to 6
    assert (tc.batch_size, tc.data.image_size, tc.data.train_fraction, tc.data.train_fraction_seed) == (8, 32, 0.1, 1)
    assert tc.model.pretrained == "none" and tc.split.seed == 5 and tc.split.file == str(tmp_path / "split.json")


@pytest.mark.parametrize("name, recipes, kinds", [
    ("s1", ["basic-cnn", "resnet50-transfer", "simclr-probe"], ["train", "train", "ssl"]),
    ("s2", ["simple-cnn", "mobilenet-scratch", "resnet101-transfer"], ["train", "train", "train"]),
    ("s4", ["simclr", "byol", "dino", "mocov3"], ["ssl", "ssl", "ssl", "ssl"]),
    ("s1-labels", ["basic-cnn", "simclr-finetune"], ["train", "ssl"]),
])
def test_presets_expand_and_validate(name, recipes, kinds, tmp_path):
    cfg = build_study_config(name, {"dataset": "demo"})
    assert [r.name for r in cfg.recipes] == recipes and [r.kind for r in cfg.recipes] == kinds
    check_recipes(cfg, tmp_path)  # every recipe's training / SSL config builds and validates
    per_seed = sum(cfg.draws if f < 1 else 1 for f in cfg.fractions) if cfg.kind == "label_efficiency" else 1
    assert len(expand(cfg)) == len(recipes) * len(cfg.seeds) * per_seed
    folded = build_study_config(name, {"dataset": "demo", "folds": 5, "fractions": [1.0], "steps": None,
                                       "seeds": [0, 1]})
    assert folded.kind == "kfold" and len(expand(folded)) == len(recipes) * 2 * 5
    tiny = build_study_config(name, {"dataset": "demo", **TINY, "max_images": 12})
    from engine.studies.grid import Cell, ssl_config, train_config

    for r in tiny.recipes:
        cell = Cell(r.name, 0, fraction=0.5 if tiny.kind == "label_efficiency" else None)
        if r.kind == "ssl":
            ssl = ssl_config(tiny, cell, split_file=str(tmp_path / "split.json"), runs_dir=tmp_path)
            assert (ssl.epochs, ssl.data.image_size, ssl.data.max_images, ssl.scope) == (1, 32, 12, "train")
            assert ssl.split.file == str(tmp_path / "split.json")
        else:
            tc = train_config(tiny, cell, split_file=str(tmp_path / "split.json"), runs_dir=tmp_path)
            assert (tc.total_epochs(), tc.data.image_size, tc.data.max_images) == (1, 32, 12)
    with pytest.raises(ConfigError, match="study recipe"):
        check_recipes(build_study_config(name, {"dataset": "demo", "overrides": {"optim": {"lr": -1}},
                                                "ssl_overrides": {"epochs": 0}}), tmp_path)


def test_study_schema_refuses_bad_grids():
    base = {"dataset": "demo", "recipes": CNN}
    for bad, match in (({"folds": 1}, "folds"), ({"kind": "kfold"}, "at least 2"), ({"kind": "seeds", "folds": 3},
                       "only a kfold"), ({"recipes": CNN * 2}, "unique"), ({"recipes": []}, "at least one recipe"),
                       ({"draws": 0}, "draws"), ({"fractions": [0.0]}, "fractions"), ({"seeds": []}, "seed"),
                       ({"recipes": [{"name": "x/y"}]}, "name"), ({"unknown": 1}, "unknown setting"),
                       ({"recipes": [{"name": "a", "ssl_run": "r", "ssl_preset": "s4-simclr"}]}, "either")):
        with pytest.raises(ConfigError, match=match):
            build_study_config(None, base, bad)
    with pytest.raises(ConfigError, match="Unknown study preset"):
        build_study_config("s9")


def _flat_cfg(preset_cfg, data, tmp_path, **ssl):
    return build_study_config(preset_cfg, {"dataset": str(data), "runs_dir": str(tmp_path / "runs"), "seeds": [0],
                                           **TINY, "batch_size": 4, "ssl_overrides": ssl})


@pytest.mark.slow
def test_preset_s1_end_to_end_pretrains_on_the_split_and_skips_missing_weights(data, tmp_path):
    cfg = _flat_cfg("s1", data, tmp_path, pretrained="none", backbone="basic_cnn")
    assert imagenet_problem(cfg, "resnet50-transfer", tmp_path) is None  # exists, but not downloadable here
    results = run_study(cfg)
    assert results["status"] == "completed"
    assert [r["recipe"] for r in results["rows"]] == ["basic-cnn", "simclr-probe"]
    skipped = results["skipped"][0]
    assert skipped["recipe"] == "resnet50-transfer" and "ImageNet weights for resnet50" in skipped["reason"]
    probe = results["rows"][1]
    ssl_cfg = _config(probe["ssl_run"])
    assert ssl_cfg["kind"] == "ssl" and ssl_cfg["scope"] == "train"
    assert ssl_cfg["split"]["file"] == str(Path(results["path"]) / "split.json")
    down = _config(probe["run"])
    assert down["model"]["pretrained"].endswith("encoder.safetensors") and down["phases"][0]["trainable"] == "head"
    assert "ssl_scope" in probe and probe["status"] == "completed"


@pytest.mark.slow
def test_preset_s2_end_to_end(data, tmp_path):
    results = run_study(_flat_cfg("s2", data, tmp_path))
    assert results["status"] == "completed"
    assert [r["recipe"] for r in results["rows"]] == ["simple-cnn", "mobilenet-scratch"]
    assert [s["recipe"] for s in results["skipped"]] == ["resnet101-transfer"]
    assert all(0.0 <= r["accuracy"] <= 1.0 for r in results["rows"])


@pytest.mark.slow
def test_preset_s4_end_to_end_compares_ssl_methods_by_probe(data, tmp_path):
    results = run_study(_flat_cfg("s4", data, tmp_path, backbone="basic_cnn"))
    assert results["status"] == "completed"
    assert [r["recipe"] for r in results["rows"]] == ["simclr", "byol", "dino", "mocov3"]
    methods = [_config(r["ssl_run"])["method"] for r in results["rows"]]
    assert methods == ["simclr", "byol", "dino", "mocov3"]
    assert all(_config(r["run"])["phases"][0]["trainable"] == "head" for r in results["rows"])  # linear probes
    assert {s["recipe"] for s in results["summaries"]} == {"simclr", "byol", "dino", "mocov3"}


def test_study_cli(data, tmp_path, capsys):
    from engine.cli.main import main

    study = tmp_path / "study.yaml"
    study.write_text(json.dumps({"recipes": CNN, "folds": 2, **TINY}))
    runs = tmp_path / "runs"
    assert main(["--quiet", "study", "--config", str(study), "--data", str(data), "--runs-dir", str(runs),
                 "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "2 runs:" in out and "cnn/s0/f1" in out and '"kind": "kfold"' in out
    assert main(["--quiet", "study", "--config", str(study), "--data", str(data), "--runs-dir", str(runs),
                 "--name", "cli-study"]) == 0
    out = capsys.readouterr().out
    assert "completed, kfold" in out and "pooled out-of-fold" in out
    assert main(["--quiet", "studies", "--runs-dir", str(runs)]) == 0
    assert "cli-study" in capsys.readouterr().out
    folder = next((runs / "studies").iterdir())
    log = (folder / "runs" / "cnn-s0-f0" / "train.log").read_text()
    assert main(["--quiet", "study", "--resume", str(folder)]) == 0  # nothing left: no run retrains
    assert (folder / "runs" / "cnn-s0-f0" / "train.log").read_text() == log
    assert main(["--quiet", "study", "--data", str(data)]) == 2
    assert "--preset" in capsys.readouterr().err
    assert main(["--quiet", "study", "--preset", "s2", "--data", str(data), "--set", "draws=0"]) == 2
    assert "study.draws" in capsys.readouterr().err
    assert main(["--quiet", "study-presets"]) == 0 and "s4" in capsys.readouterr().out
    assert main(["--quiet", "ssl-presets"]) == 0 and "s1-simclr\n    S1 SimCLR" in capsys.readouterr().out
    assert main(["--quiet", "label-efficiency", str(data), "--fractions", "0.1,x"]) == 2
    assert "--fractions: expected comma-separated numbers" in capsys.readouterr().err
    # label-efficiency is the same runner: draws and a step budget from its own command
    assert main(["--quiet", "label-efficiency", str(data), "--encoders", "random", "--fractions", "0.5",
                 "--draws", "2", "--steps", "3", "--runs-dir", str(tmp_path / "le"), "--set", "model.name=basic_cnn",
                 "--set", "data.image_size=32", "--set", "batch_size=4", "--set", "precise_bn='off'"]) == 0
    out = capsys.readouterr().out
    rows = load_study(next((tmp_path / "le" / "studies").iterdir()))["rows"]
    assert [(r["draw"], r["steps_budget"]) for r in rows] == [(0, 3), (1, 3)] and "+-" in out
    assert "(completed)\naccuracy / ROC AUC on the test split:" in out
