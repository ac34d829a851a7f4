"""Reports: one self-contained HTML file and a PDF for a run or a study (engine/report, `python main.py report`)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from engine.cli.main import main as cli_main
from engine.errors import CancelledError, ConfigError, HistoDeskError
from engine.evaluation.bootstrap import BootstrapSpec
from engine.evaluation.predictions import read_predictions_csv
from engine.jobs import CancelToken
from engine.report.export import export_report, run_sections
from engine.report.study import study_sections
from tests.helpers import tiny_config, tiny_demo

#: Words every run report's section headings must contain (the assignment's list).
RUN_HEADINGS = ("Dataset", "Recipe", "Training curves", "Confusion matrix", "ROC", "Calibration", "Patients",
                "Worst errors", "Environment", "Metrics with intervals", "Magnifications")
IMG = "data:image/png;base64,"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A tiny binary BreaKHis-layout run (basic_cnn at 32 px, 2 epochs) with patients and magnifications."""
    from engine.training.job import train

    root = tmp_path_factory.mktemp("report")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HISTODESK_HOME", str(root / "home"))
        data = tiny_demo(root)
        return train(tiny_config(data, root / "runs", epochs=2, data={"cache": False}))


def pdf_pages(data: bytes) -> int:
    """Page objects in a PDF (fpdf2 never compresses object dictionaries)."""
    return len(re.findall(rb"/Type /Page\b", data))


def pdf_text(path: str) -> str:
    """The PDF's text by pdftotext when installed, else its bookmark titles (section titles)."""
    if shutil.which("pdftotext"):
        return subprocess.run(["pdftotext", "-enc", "UTF-8", path, "-"], capture_output=True, check=True,
                              timeout=60).stdout.decode("utf-8", "replace")
    return " ".join(m.decode("latin-1") for m in re.findall(rb"/Title \(([^)]*)\)", Path(path).read_bytes()))


def headings(html: str) -> list[str]:
    return re.findall(r"<h2>\d+\. ([^<]+)</h2>", html)


def test_run_report_has_every_section_figures_and_a_paged_pdf(run, tmp_path):
    before = sorted(p.name for p in run.path.rglob("*"))
    events = []
    out = export_report(run.path, tmp_path / "out", progress=events.append)
    html = Path(out["html"]).read_text(encoding="utf-8")
    assert Path(out["html"]).name == f"{run.id}-report.html" and Path(out["pdf"]).name == f"{run.id}-report.pdf"
    found = headings(html)
    for word in RUN_HEADINGS:
        assert any(word in h for h in found), (word, found)
    # self-contained: images inline, no external file, script or network reference
    assert html.count(IMG) >= 4 and out["figures"] >= 4
    assert not re.search(r"""(src|href)=["'](?!data:|#)""", html) and "<script" not in html and "<link" not in html
    # the figures carry intervals and the small-sample warnings are shown first, prominently
    assert "Read first" in html and "Small sample" in html
    assert re.search(r"accuracy</td><td>[0-9.]+ \[[0-9.]+, [0-9.]+\]", html)
    cell = r"<td>[0-9.]+ \[[0-9.]+, [0-9.]+\]</td>"  # pooling rules and magnifications: accuracy and AUC intervals
    assert re.search(rf"<td>median</td><td>\d+</td>{cell}{cell}", html)
    assert re.search(rf"<td>\d+X?</td><td>\d+</td><td>\d+</td>{cell}{cell}", html)
    assert "Leakage audit: passed" in html and "vertical averaging" in html
    pdf = Path(out["pdf"]).read_bytes()
    assert pdf.startswith(b"%PDF") and pdf_pages(pdf) > 1
    text = pdf_text(out["pdf"])
    for word in RUN_HEADINGS:
        assert word in text, word
    # one progress event per section, then the files; the run folder is not touched
    titles = [e.message for e in events if e.stage == "report"]
    assert [t for t in titles if t in {s[1] for s in run_sections()}] == [s[1] for s in run_sections()]
    assert sorted(p.name for p in run.path.rglob("*")) == before


def test_default_folder_is_histodesk_outputs_never_the_dataset(run, tmp_path):
    from engine.paths import outputs_dir

    out = export_report(run.path, formats="html", explain=False)
    assert Path(out["html"]).parent == outputs_dir() / "reports" and out["pdf"] is None
    dataset = Path(run.config["data"]["path"])
    events = []
    with pytest.raises(ConfigError, match="inside the dataset"):
        export_report(run.path, dataset / "reports", formats="html", explain=False, progress=events.append)
    assert not (dataset / "reports").exists() and events == []  # refused before any section is built
    with pytest.raises(ConfigError, match="html, pdf"):
        export_report(run.path, tmp_path, formats="html,docx")


def test_cancel_stops_the_job_and_writes_nothing(run, tmp_path):
    token = CancelToken()

    def progress(event):
        if event.message == "Confusion matrix":
            token.cancel()

    with pytest.raises(CancelledError):
        export_report(run.path, tmp_path / "out", progress=progress, cancel=token)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_an_older_run_without_intervals_or_evaluation_still_reports(run, tmp_path):
    old = tmp_path / "old-run"
    shutil.copytree(run.path, old)
    evaluation = json.loads((old / "evaluation.json").read_text())
    for metrics in evaluation.values():  # what evaluation.json held before intervals and calibration existed
        for key in ("ci", "bootstrap", "warnings", "calibration", "threshold", "magnification"):
            metrics.pop(key, None)
        metrics["patient"].pop("aggregation", None)
    (old / "evaluation.json").write_text(json.dumps(evaluation))
    split = json.loads((old / "split.json").read_text())
    split.pop("audit")
    (old / "split.json").write_text(json.dumps(split))
    summary = json.loads((old / "summary.json").read_text())
    summary.pop("curation", None)
    (old / "summary.json").write_text(json.dumps(summary))
    out = export_report(old, tmp_path / "out", explain=False)
    html = Path(out["html"]).read_text(encoding="utf-8")
    for what in ("Intervals: not recorded", "Reliability diagram: not recorded", "Leakage audit: not recorded",
                 "Patient aggregation rules: not recorded", "Per-magnification figures: not recorded",
                 "Curation: not recorded"):
        assert what in html, what
    assert html.count(IMG) >= 3  # curves, confusion matrix, ROC/PR (bands from predictions.csv)

    for name in ("evaluation.json", "predictions.csv", "metrics.jsonl", "catalog.json"):
        (old / name).unlink()
    (old / "summary.json").write_text("{ not json")
    (old / "config.json").write_text(json.dumps({"kind": "ssl", "method": "simclr", "backbone": "basic_cnn"}))
    out = export_report(old, tmp_path / "out2", explain=False)
    html = Path(out["html"]).read_text(encoding="utf-8")
    assert len(headings(html)) == len(run_sections()) and html.count("not recorded for this run") >= 6
    assert "simclr pretraining of basic_cnn" in html and "summary.json could not be read" in html
    assert pdf_pages(Path(out["pdf"]).read_bytes()) >= 2
    with pytest.raises(HistoDeskError, match="neither a HistoDesk run"):
        export_report(tmp_path, tmp_path / "out3")


def test_curation_split_notes_and_exposure_are_reported(run, tmp_path):
    curated = tmp_path / "curated-run"
    shutil.copytree(run.path, curated)
    summary = json.loads((curated / "summary.json").read_text())
    summary.update(curation={"file": "/data/.histodesk/curation.json", "sha1": "ab" * 20, "scope": "all",
                             "excluded": {"train": 2, "test": 1}, "relabelled": {"val": 3}, "not_applied": {},
                             "evaluation_changed": True},
                   split_notes=["The val split holds a single class (benign)."],
                   transductive={"message": "The SSL encoder saw 4 test images."})
    (curated / "summary.json").write_text(json.dumps(summary))
    html = Path(export_report(curated, tmp_path / "out", formats="html", explain=False)["html"]).read_text("utf-8")
    dataset = html.split('id="dataset"')[1].split("</section>")[0]
    assert "<td>test</td><td>1</td><td>0</td><td>0</td>" in dataset and "sha1 abababababab, scope all" in dataset
    assert "Split note: The val split holds a single class (benign)." in dataset
    first = html.split('class="warnings"')[1].split("</div>")[0]
    assert "Curation changed validation/test images" in first and "The SSL encoder saw 4 test images." in first


def test_external_and_tta_evaluations_get_their_own_blocks(run, tmp_path):
    external = pytest.importorskip("engine.evaluation.external")
    copy = tmp_path / "run-with-external"
    shutil.copytree(run.path, copy)
    external.evaluate_external(copy, run.config["data"]["path"], label_map="benign=benign", name="other-set",
                               device="cpu")
    (copy / "evaluation_tta.json").write_text((copy / "evaluation.json").read_text())
    html = Path(export_report(copy, tmp_path / "out", formats="html", explain=False)["html"]).read_text("utf-8")
    section = html.split('id="external"')[1].split("</section>")[0]
    assert "External dataset other-set" in section and "Re-evaluation evaluation_tta.json (test)" in section
    assert re.search(r"left out \(label maps to no class\)</td><td>18 ", section)  # the malignant images
    assert re.search(r"accuracy</td><td>[0-9.]+ \[[0-9.]+, [0-9.]+\]", section)


def test_non_utf8_and_odd_class_names_and_paths_never_crash(tmp_path):
    """A real run whose class folder and file names hold a non-UTF-8 byte, CJK, '$' and a newline-free quote."""
    import cv2

    from engine.training.job import train

    rng = np.random.default_rng(0)
    root = os.fsencode(tmp_path / "odd")
    names = [b"b\xc3\xa9nin \xe8\x89\xaf\xe6\x80\xa7", b"mal\xffin $x$ \"q\""]  # "bénin 良性", undecodable \xff
    for k, name in enumerate(names):
        folder = os.path.join(root, name)
        os.makedirs(folder)
        for i in range(10):
            img = (rng.random((40, 40, 3)) * 120).astype(np.uint8)
            img[..., k] += 40
            stem = b"img%d" % i + (b"\xfe" if i == 0 else b"")
            with open(os.path.join(folder, stem + b".png"), "wb") as fh:
                fh.write(cv2.imencode(".png", img)[1].tobytes())
    trained = train(tiny_config(os.fsdecode(root), tmp_path / "runs", epochs=1, data={"cache": False},
                                model={"head_hidden": None}))
    assert "mal\udcffin $x$ \"q\"" in trained.summary["classes"]
    out = export_report(trained.path, tmp_path / "out")
    html = Path(out["html"]).read_text(encoding="utf-8")
    assert "mal\\xffin $x$ &quot;q&quot;" in html and "bénin 良性" in html
    pdf = Path(out["pdf"]).read_bytes()
    assert pdf.startswith(b"%PDF") and pdf_pages(pdf) > 1
    text = pdf_text(out["pdf"])
    assert "Environment" in text
    if shutil.which("pdftotext"):  # DejaVu prints é; CJK (not in the font) is written as escapes, never dropped
        assert "mal\\xffin" in text and "bénin \\u826f\\u6027" in text


def test_bands_are_the_curve_of_a_patient_bootstrap():
    from sklearn.metrics import precision_recall_curve, roc_curve

    from engine.report.bands import GRID, _Sorted, curve_bands, roc_pr_curves

    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 200).astype(bool)
    s = np.round(rng.random(200) + 0.6 * y, 2)  # ties included
    ones = roc_pr_curves(*_Sorted(y, s, np.arange(200)).cumulative(np.ones((1, 200))))
    fpr, tpr, _ = roc_curve(y, s, drop_intermediate=False)
    assert np.allclose(ones["roc"][0], np.interp(GRID, fpr, tpr))
    precision, recall, _ = precision_recall_curve(y, s)
    assert np.allclose(ones["pr"][0], [precision[recall >= g].max() for g in GRID])

    patients = [f"p{i % 20}" for i in range(200)]
    band = curve_bands(y, s, patients, BootstrapSpec(300, 0.95, 0))
    assert band["unit"] == "patient" and band["n_units"] == 20
    lo, hi, point = np.array(band["roc_lo"]), np.array(band["roc_hi"]), np.interp(GRID, fpr, tpr)
    assert np.all(lo <= hi) and np.mean((lo <= point + 1e-9) & (point <= hi + 1e-9)) > 0.95
    assert band == curve_bands(y, s, patients, BootstrapSpec(300, 0.95, 0))  # seeded
    # 2 patients, one per class: every replicate drawing one patient twice has a single class and is dropped
    tiny = curve_bands(np.array([0, 0, 1, 1], bool), np.array([0.1, 0.4, 0.35, 0.8]), ["a", "a", "b", "b"],
                       BootstrapSpec(200, 0.95, 0))
    assert 0 < tiny["dropped_roc"] < 200
    token = CancelToken()
    token.cancel()
    with pytest.raises(CancelledError):
        curve_bands(y, s, patients, BootstrapSpec(300), cancel=token)


def test_gallery_explains_the_worst_errors_and_notes_a_missing_image(run):
    from engine.report.gallery import explain_errors, worst_errors

    rows = read_predictions_csv(run.file("predictions.csv"))
    worst = worst_errors(rows, "train", 3)
    assert worst, "the 2-epoch tiny run makes training errors"
    probs = [r["predicted_probability"] for r in worst]
    assert probs == sorted(probs, reverse=True) and all(r["correct"] is False for r in worst)
    gone = dict(worst[0], path=str(run.path / "moved-away.png"))
    items, notes = explain_errors(run.path, [*worst, gone])
    assert len(items) == len(worst) and all(png.startswith(b"\x89PNG") for png, _ in items)
    assert len(notes) == 1 and "moved-away.png" in notes[0]
    items, notes = explain_errors(run.path / "no-such-run", worst)
    assert items == [] and "could not be explained" in notes[0]


@pytest.fixture(scope="module")
def kfold_study(tmp_path_factory):
    """A real 2-fold patient-level study (engine.studies) of basic_cnn at 32 px, 1 epoch per fold."""
    studies = pytest.importorskip("engine.studies")
    root = tmp_path_factory.mktemp("study")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HISTODESK_HOME", str(root / "home"))
        data = tiny_demo(root, patients_per_class=4, images=2)
        recipe = {"name": "cnn", "overrides": {"model": {"name": "basic_cnn", "pretrained": "none", "head_hidden": 16},
                                               "data": {"normalize": "unit", "cache": False}, "batch_size": 8}}
        results = studies.run_study({"kind": "kfold", "name": "cv", "dataset": str(data), "folds": 2, "epochs": 1,
                                     "image_size": 32, "recipes": [recipe], "runs_dir": str(root / "runs")})
    return Path(results["path"])


def test_study_report_has_grid_runs_aggregates_pooled_figures_and_run_links(kfold_study, tmp_path):
    results = json.loads((kfold_study / "results.json").read_text())
    out = export_report(kfold_study, tmp_path / "out", explain=False)
    html = Path(out["html"]).read_text(encoding="utf-8")
    assert Path(out["html"]).name == f"{kfold_study.name}-report.html"
    assert headings(html) == [s[1] for s in study_sections()]
    acc = results["summaries"][0]["figures"]["accuracy"]
    assert f"{acc['mean']:.3f} +- {acc['std']:.3f} (n=2)" in html and "recorded by the study" in html
    runs = html.split('id="runs"')[1].split("</section>")[0]
    assert runs.count('href="#run-') == 2 and 'id="run-2"' in html and "python main.py report" in html
    assert re.search(r"<td>0\.\d{3} \[0\.\d{3}, [01]\.\d{3}\]</td>", runs)  # each run's accuracy and interval
    pooled = html.split('id="pooled"')[1].split("</section>")[0]
    n = results["pooled"][0]["n_images"]
    assert f"2 folds, {n} images" in pooled and re.search(r"accuracy</td><td>[0-9.]+ \[[0-9.]+, [0-9.]+\]", pooled)
    assert html.count(IMG) >= 1  # every run's accuracy per recipe
    pdf = Path(out["pdf"]).read_bytes()
    assert pdf.startswith(b"%PDF") and pdf_pages(pdf) > 1 and "Pooled out-of-fold" in pdf_text(out["pdf"])
    dataset = Path(results["config"]["dataset"])
    with pytest.raises(ConfigError, match="inside the dataset"):  # a study's dataset is read-only too
        export_report(kfold_study, dataset / "reports", formats="html", explain=False)
    assert not (dataset / "reports").exists()


@pytest.mark.parametrize("recorded", [False, True], ids=["legacy-rows-only", "with-summaries"])
def test_label_efficiency_study_plots_error_bars_per_fraction(tmp_path, recorded):
    """Older label-efficiency results (rows only: mean +- std computed here) and the study runner's summaries."""
    study = tmp_path / "studies" / "20261202-000000-le"
    study.mkdir(parents=True)
    rows = [{"encoder": "random", "fraction": f, "draw": d, "accuracy": 0.6 + f / 4 + d / 50, "roc_auc": 0.7 + f / 5,
             "status": "completed", "run": str(study / "runs" / f"random-{f}-{d}")} for f in (0.1, 0.5, 1.0)
            for d in range(3)]
    results = {"status": "running" if recorded else "completed", "rows": rows}  # running, yet nobody holds its lock
    if recorded:
        results["summaries"] = [{"recipe": "random", "fraction": f, "n_runs": 3, "figures": {
            "accuracy": {"mean": 0.5 + f, "std": 0.01, "n": 3}, "roc_auc": {"mean": 0.6, "std": None, "n": 1}}}
            for f in (0.1, 0.5, 1.0)]
    (study / "results.json").write_text(json.dumps(results))
    out = export_report(study, tmp_path / "out", formats="html", explain=False)
    html = Path(out["html"]).read_text(encoding="utf-8")
    efficiency = html.split('id="efficiency"')[1].split("</section>")[0]
    assert efficiency.count(IMG) == 1 and "fraction of training labels" in efficiency
    expected = "1.000 +- 0.010 (n=3)" if recorded else f"{0.6 + 0.5 / 4 + 0.02:.3f} +- 0.020 (n=3)"
    assert expected in html and ("recorded by the study" if recorded else "computed by the report") in html
    assert "Run folder not found" in html and "Pooled out-of-fold figures: not recorded for this study" in html
    assert re.search(r"status</t[dh]><td>" + ("interrupted" if recorded else "completed"), html)


def test_cli_report(run, tmp_path, capsys):
    assert cli_main(["--quiet", "report", str(run.path), "--out", str(tmp_path), "--format", "html",
                     "--no-explain"]) == 0
    printed = capsys.readouterr().out
    assert f"HTML: {tmp_path / (run.id + '-report.html')}" in printed and "PDF:" not in printed
    assert (tmp_path / f"{run.id}-report.html").exists() and not (tmp_path / f"{run.id}-report.pdf").exists()
    assert cli_main(["report", str(run.path), "--format", "doc"]) == 2
    assert cli_main(["report", str(tmp_path)]) == 2
    assert "neither a HistoDesk run" in capsys.readouterr().err
