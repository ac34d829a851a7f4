"""No test image ever shapes a model or a selection: SSL scope, downstream refusal, curation by split,
the split seed, degenerate splits and a meaningful random baseline (issue 12)."""

from __future__ import annotations

import json

import pytest
import torch

from engine.data.catalog import Catalog
from engine.data.splits import Split
from engine.errors import ConfigError
from engine.ssl.job import pretrain, ssl_split
from engine.ssl.config import SSLConfig
from engine.training.job import train
from tests.helpers import tiny_config, tiny_demo


def ssl_config(data_path, runs, **overrides) -> dict:
    """1 epoch of DeepCluster on a 32 px basic CNN: cheap, and it respects the downstream split like any method."""
    cfg = {"method": "deepcluster", "backbone": "basic_cnn", "epochs": 1, "batch_size": 8, "seed": 0,
           "hparams": {"augment": {"rotation": 0, "shift": 0, "zoom": 0, "blur_p": 0}}, "runs_dir": str(runs),
           "val_fraction": 0.2, "knn_every": 0, "data": {"path": str(data_path), "image_size": 32, "normalize": "unit"},
           "deepcluster": {"k": 4, "kmeans_device": "cpu"}}
    cfg.update(overrides)
    return cfg


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return tiny_demo(tmp_path_factory.mktemp("leak"), patients_per_class=5, images=2)


@pytest.fixture(scope="module")
def ssl_runs(data, tmp_path_factory):
    """Pretraining runs by scope, made on first use."""
    cache: dict = {}

    def get(scope: str):
        if scope not in cache:
            events: list = []
            run = pretrain(ssl_config(data, tmp_path_factory.mktemp(scope.replace("+", "-")), scope=scope),
                           progress=events.append)
            cache[scope] = (run, events)
        return cache[scope]

    return get


def _seen(run) -> set[str]:
    return set(json.loads(run.file("encoder_images.json").read_text())["images"])


def _paths(split: Split, name: str) -> set[str]:
    return {p for p, s in split.assignments.items() if s == name}


def test_ssl_default_scope_sees_only_downstream_training_images(ssl_runs):
    run, _events = ssl_runs("train")
    split = Split.load(run.file("split.json"))
    seen = _seen(run)
    assert _paths(split, "test") and _paths(split, "val")  # split.json is the downstream train/val/test split
    assert seen and seen <= _paths(split, "train")  # neither val nor test images shaped the encoder
    assert not seen & (_paths(split, "test") | _paths(split, "val"))
    summary = run.summary
    assert summary["scope"] == "train" and summary["transductive"] is False
    info = summary["encoder_images"]
    assert info["n_images"] == len(seen) and len(info["sha1"]) == 40 and info["downstream_split"]
    # its best encoder was chosen on a val carved from the training images, not on test
    catalog = Catalog.load(run.file("catalog.json"))
    inner = ssl_split(catalog, SSLConfig.from_dict(run.config), split)
    assert inner.records(catalog, "val") and _paths(inner, "val") <= _paths(split, "train")
    assert run.metrics()[0]["val_loss"] is not None


def test_ssl_scopes_train_val_and_all(data, ssl_runs):
    run, _events = ssl_runs("train+val")
    split = Split.load(run.file("split.json"))
    seen = _seen(run)
    assert _paths(split, "val") <= seen and not seen & _paths(split, "test")
    run, events = ssl_runs("all")
    split = Split.load(run.file("split.json"))
    assert _paths(split, "test") <= _seen(run)
    assert run.summary["transductive"] is True and run.summary["encoder_images"]["transductive"] is True
    log = run.file("train.log").read_text()
    assert "WARNING: scope 'all' is transductive" in log
    assert any(e.stage == "log" and "transductive" in e.message for e in events)


def test_unlabelled_folder_without_patients_keeps_every_image(tmp_path):
    import numpy as np
    from PIL import Image

    folder = tmp_path / "flat"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(10):
        Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(folder / f"img{i:02d}.png")
    run = pretrain(ssl_config(folder, tmp_path / "runs", data={"path": str(folder), "importer": "unlabelled",
                                                                "image_size": 32, "normalize": "unit"}))
    assert len(_seen(run)) == 10 and run.summary["encoder_images"]["downstream_split"] is False


def test_downstream_refuses_test_images_the_encoder_saw(data, ssl_runs, tmp_path, capsys):
    from engine.cli.main import main
    from engine.ssl.downstream import downstream_config
    from engine.ssl.label_efficiency import label_efficiency

    clean, _ = ssl_runs("train")
    cfg = downstream_config(clean.path, str(data), mode="probe", epochs=1, runs_dir=str(tmp_path / "ok"))
    assert cfg.split.file == str(clean.file("split.json"))  # the same dataset: the SSL run's split by default

    leaky, _ = ssl_runs("all")
    n_test = len(_paths(Split.load(leaky.file("split.json")), "test"))
    with pytest.raises(ConfigError, match=f"saw {n_test} of the {n_test} test images") as err:
        downstream_config(leaky.path, str(data), mode="probe", epochs=1, runs_dir=str(tmp_path / "refused"))
    assert "--allow-transductive" in str(err.value) and "scope 'train'" in str(err.value)
    assert not (tmp_path / "refused").exists()
    # a split made by the probe itself is checked too (after the scan, inside the job)
    own = downstream_config(leaky.path, str(data), mode="probe", epochs=1, runs_dir=str(tmp_path / "own"),
                            split={"file": None})
    with pytest.raises(ConfigError, match="test images of this split"):
        train(own)
    assert main(["probe", str(leaky.path), str(data), "--epochs", "1", "--runs-dir", str(tmp_path / "cli")]) == 2
    assert "saw" in capsys.readouterr().err and not (tmp_path / "cli").exists()
    with pytest.raises(ConfigError, match="test images"):
        label_efficiency({"dataset": str(data), "ssl_run": str(leaky.path), "fractions": [1.0], "encoders": ["ssl"],
                          "epochs": 1, "mode": "probe", "runs_dir": str(tmp_path / "study")})
    assert not (tmp_path / "study" / "studies").exists() or not any((tmp_path / "study" / "studies").iterdir())

    # explicitly allowed: it runs, loudly marked
    events: list = []
    allowed = downstream_config(leaky.path, str(data), mode="probe", epochs=1, runs_dir=str(tmp_path / "allowed"),
                                allow_transductive=True, batch_size=8)
    run = train(allowed, progress=events.append)
    marked = run.summary["transductive"]
    assert run.summary["status"] == "completed" and marked["test_seen"] == n_test == marked["n_test"]
    assert "WARNING: transductive evaluation" in run.file("train.log").read_text()
    assert any(e.stage == "log" and "transductive" in e.message for e in events)


@pytest.fixture(scope="module")
def curated_runs(data, tmp_path_factory):
    """Runs on a copy of the data: plain (seed 1), then with every test image but one excluded, that one relabelled
    and one training image excluded (seed 2, curation scope train), then the same curation with scope all."""
    import shutil

    from engine.data import curation

    root = tmp_path_factory.mktemp("curated")
    own = shutil.copytree(data, root / "data")
    runs = root / "runs"
    quick = {"epochs": 1, "evaluation": {"n_bootstrap": 0}}
    plain = train(tiny_config(own, runs, seed=1, name="plain", **quick))
    split = Split.load(plain.file("split.json"))
    test = sorted(_paths(split, "test"))
    train_image = sorted(_paths(split, "train"))[0]
    assert len(test) >= 2
    curation.add_exclusions(own, test[:-1] + [train_image])
    curation.set_labels(own, {test[-1]: "benign"})
    events: list = []
    curated = train(tiny_config(own, runs, seed=2, name="curated", **quick), progress=events.append)
    everywhere = train(tiny_config(own, runs, seed=2, name="all", data={"curation_scope": "all"}, **quick))
    return plain, curated, everywhere, events, test, train_image


def test_split_seed_is_not_the_init_seed(curated_runs):
    plain, curated, *_ = curated_runs
    assert plain.config["seed"] == 1 and curated.config["seed"] == 2
    a, b = (Split.load(r.file("split.json")) for r in (plain, curated))
    assert a.assignments == b.assignments and a.seed == b.seed == 0


def test_curating_test_images_leaves_the_test_set_alone(curated_runs):
    plain, curated, _everywhere, events, test, train_image = curated_runs
    assert Split.load(curated.file("split.json")).assignments == Split.load(plain.file("split.json")).assignments
    n_test = plain.summary["metrics"]["test"]["n"]
    assert curated.summary["metrics"]["test"]["n"] == n_test == len(test)
    report = curated.summary["curation"]
    assert report["scope"] == "train" and report["excluded"] == {"train": 1}
    assert report["not_applied"] == {"test": len(test)} and report["evaluation_changed"] is False
    assert len(report["sha1"]) == 40 and report["file"].endswith("curation.json")
    assert train_image not in curated.file("predictions.csv").read_text()
    log = curated.file("train.log").read_text()
    assert "Curation applied from" in log and "excluded 1 image(s) (train 1), relabelled 0 image(s)" in log
    assert f"Curation entries for {len(test)} image(s) (test {len(test)}) of validation/test were not applied" in log
    assert any(e.stage == "log" and "Curation file" in e.message for e in events)  # printed by the CLI too


def test_curation_scope_all_marks_the_run(curated_runs):
    plain, _curated, everywhere, _events, test, _train_image = curated_runs
    assert Split.load(everywhere.file("split.json")).assignments == Split.load(plain.file("split.json")).assignments
    assert everywhere.summary["metrics"]["test"]["n"] == 1
    report = everywhere.summary["curation"]
    assert report["evaluation_changed"] is True and report["excluded"] == {"train": 1, "test": len(test) - 1}
    assert report["relabelled"] == {"test": 1}
    assert "WARNING: data.curation_scope 'all'" in everywhere.file("train.log").read_text()


def test_no_validation_images_disable_early_stopping_with_a_note(data, tmp_path, capsys):
    from engine.cli.main import main

    args = ["train", "--data", str(data), "--model", "basic_cnn", "--image-size", "32", "--epochs", "3",
            "--batch-size", "8", "--ratios", "80/0/20", "--runs-dir", str(tmp_path), "--name", "noval",
            "--set", "early_stopping.patience=1", "--set", "schedule.name=plateau",
            "--set", "sampler=weighted", "--set", "loss.class_weights=balanced", "--set", "data.normalize=unit"]
    assert main(args) == 0
    captured = capsys.readouterr()
    run_dir = next(p for p in tmp_path.iterdir() if p.is_dir())
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["epochs_run"] == 3  # patience 1 would have stopped it without a val split to watch
    log = (run_dir / "train.log").read_text()
    assert "No validation images, so these are disabled for this run: early stopping on val_loss" in log
    assert "the plateau schedule on val_loss" in log
    assert any("val split is empty" in n for n in summary["split_notes"])
    assert "corrected twice" in log and any("corrected twice" in n for n in summary["notes"])
    assert "No validation images" in captured.err and "corrected twice" in captured.err  # printed as it happens
    out = captured.out
    assert out.index("notes:") < out.index("== test ==") and "corrected twice" in out  # and first in the result
    assert "Split: patient-level (grouped by" in out


@pytest.mark.parametrize("arch", ["resnet18", "resnet50"])
def test_random_resnet_residual_branches_are_not_zero(arch):
    """The 'random' arm of a probe: a frozen random ResNet in eval mode must not output zero from every branch."""
    from engine.models import create_model

    model = create_model(arch, 2, pretrained="none", image_size=64).eval()
    blocks = [b for layer in (model.backbone.layer1, model.backbone.layer2, model.backbone.layer3,
                              model.backbone.layer4) for b in layer]
    last_bn = [getattr(b, "bn3", None) or b.bn2 for b in blocks]
    assert all(float(bn.weight.detach().abs().min()) > 0 for bn in last_bn)
    outputs: list = []
    hooks = [bn.register_forward_hook(lambda _m, _i, out: outputs.append(float(out.abs().mean()))) for bn in last_bn]
    with torch.no_grad():
        model.forward_features(torch.rand(2, 3, 64, 64))
    for hook in hooks:
        hook.remove()
    assert len(outputs) == len(blocks) and min(outputs) > 1e-3


def test_cli_split_refuses_an_empty_test_split_and_says_how_it_grouped(shared_data, tmp_path, capsys):
    from engine.cli.main import main

    idc = str(shared_data / "idc-sample")
    assert main(["--quiet", "split", idc, "--out", str(tmp_path / "idc.json")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no test images: 2 patients are too few" in err[0]
    assert not (tmp_path / "idc.json").exists()
    assert main(["--quiet", "split", idc, "--allow-no-test", "--out", str(tmp_path / "idc.json")]) == 0
    report = json.loads(capsys.readouterr().out)
    assert sum(report["counts"]["test"].values()) == 0 and any("test split is empty" in n for n in report["notes"])
    breakhis = str(shared_data / "breakhis-sample")
    assert main(["--quiet", "split", breakhis, "--group-by", "slide", "--out", str(tmp_path / "b.json")]) in (0, 1)
    report = json.loads(capsys.readouterr().out)
    assert report["split"] == "patient-level (grouped by slide), seed 0"
    assert Split.load(tmp_path / "b.json").group_by == "slide"
