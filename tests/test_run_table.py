"""The runs table (CLI `runs` and the Runs tab): ranked by validation figures, held-out test figures apart."""

from __future__ import annotations

import pytest

from engine.cli.main import main as cli
from engine.run_table import ci_text, format_runs_table, rank_rows, run_rows
from tests.fake_runs import fake_external, fake_run, fake_study


@pytest.fixture
def runs(tmp_path):
    """Three runs whose val and test orders disagree, one interrupted, plus a study with two runs."""
    base = tmp_path / "runs"
    a = fake_run(base, "val-best", val=(0.95, 0.90), test=(0.70, 0.66))
    b = fake_run(base, "test-best", val=(0.80, 0.78), test=(0.97, 0.93))
    c = fake_run(base, "middle", val=(0.90, 0.85), test=(0.85, 0.80))
    dead = fake_run(base, "killed", status="running")
    fake_external(a, "bach", auc=0.81, acc=0.74)
    study = fake_study(base, "20260101-000000-s1-seeds", [("cnn-s0", (0.85, 0.8), (0.9, 0.9)),
                                                           ("cnn-s1", (0.99, 0.95), (0.6, 0.6))])
    return base, a, b, c, dead, study


def test_rows_are_ranked_by_val_never_by_test(runs):
    base, a, b, c, dead, study = runs
    rows = run_rows(base)
    assert [r.run.id for r in rows] == ["cnn-s1", a.id, c.id, "cnn-s0", b.id, dead.id]
    assert [r.run.id for r in run_rows(base, key="val_acc", studies=False)] == [a.id, c.id, b.id, dead.id]
    by_test = sorted(rows[:-1], key=lambda r: -r.figure("test", "roc_auc"))
    assert [r.run.id for r in by_test] != [r.run.id for r in rows[:-1]]  # the orders really disagree
    assert {r.run.id: r.study for r in rows}["cnn-s0"] == study.name
    assert {r.run.id: r.status for r in rows}[dead.id] == "interrupted"
    ext = next(r for r in rows if r.run.id == a.id).external
    assert [(e["name"], e["roc_auc"]) for e in ext] == [("bach", 0.81)]
    assert rank_rows(list(reversed(rows)))[0].run.id == "cnn-s1"


def test_cli_runs_prints_val_ranking_and_test_intervals_apart(runs, capsys):
    base, a, b, c, dead, _study = runs
    assert cli(["runs", "--runs-dir", str(base)]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    header = lines[0]
    assert header.index("val AUC") < header.index("|") < header.index("held-out test AUC [95% CI]")
    order = [next(i for i, line in enumerate(lines) if line.startswith(rid)) for rid in (a.id, c.id, b.id, dead.id)]
    assert order == sorted(order)
    line_b = lines[order[2]]
    assert line_b.index("0.800") < line_b.index("|") < line_b.index("0.970 [0.920, 1.000]")
    assert "interrupted" in lines[order[3]]
    assert "external 'bach': 30 images, AUC 0.810 [0.760, 0.860]" in lines[order[0] + 1]
    assert "Ranked by val AUC" in out and "never used for ranking" in out
    assert cli(["runs", "--runs-dir", str(base), "--sort", "val_acc", "--top", "1", "--no-studies"]) == 0
    out = capsys.readouterr().out
    assert a.id in out and b.id not in out and "Ranked by val acc" in out
    assert cli(["runs", "--runs-dir", str(base), "--study", "s1-seeds"]) == 0
    out = capsys.readouterr().out
    assert "cnn-s0" in out and a.id not in out
    with pytest.raises(SystemExit) as exit_info:  # test figures never rank
        cli(["runs", "--runs-dir", str(base), "--sort", "test_auc"])
    assert exit_info.value.code == 2 and "val_auc" in capsys.readouterr().err


def test_ci_text_and_empty_table():
    assert ci_text(0.91234, [0.85, 0.96]) == "0.912 [0.850, 0.960]"
    assert ci_text(0.5) == "0.500" and ci_text(None) == "–" and ci_text(float("nan")) == "–"
    assert ci_text(float("inf")) == "–" and ci_text(True) == "–" and ci_text(1) == "1.000"
    assert format_runs_table([]) == "No runs yet."
