"""gui.run_lists: the runs the deploy, explain and SSL dialogs offer."""

from __future__ import annotations

import json

from engine.runs import Run


def _run(root, name, *, summary=None, config=None, weights=True, broken_summary=False):
    path = root / name
    path.mkdir(parents=True)
    (path / "config.json").write_text(json.dumps({"model": {"name": "basic_cnn"}} if config is None else config))
    if broken_summary:
        (path / "summary.json").write_text("{ not json")
    elif summary is not None:
        (path / "summary.json").write_text(json.dumps(summary))
    if weights:
        (path / "model.safetensors").write_bytes(b"")
    return path


def test_completed_runs_skip_ssl_unfinished_weightless_and_broken_runs(tmp_path):
    from gui.run_lists import completed_runs, ssl_runs

    _run(tmp_path, "a_done", summary={"status": "completed"})
    _run(tmp_path, "b_ssl", summary={"status": "completed", "kind": "ssl"},
         config={"kind": "ssl", "method": "simclr", "backbone": "simple_cnn"})
    _run(tmp_path, "c_running", summary={"status": "running"})
    _run(tmp_path, "d_noweights", summary={"status": "completed"}, weights=False)
    _run(tmp_path, "e_broken", broken_summary=True)
    assert [r.id for r in completed_runs(tmp_path)] == ["a_done"]
    assert [r.id for r in ssl_runs(tmp_path)] == ["b_ssl"]
    assert completed_runs(tmp_path / "missing") == []


def test_deploy_explain_and_ssl_share_the_helpers():
    import gui.deploy.fields
    import gui.explain.image_dialog
    import gui.run_lists
    import gui.ssl.widgets

    assert gui.deploy.fields.completed_runs is gui.run_lists.completed_runs
    assert gui.explain.image_dialog.completed_runs is gui.run_lists.completed_runs
    assert gui.ssl.widgets.ssl_runs is gui.run_lists.ssl_runs


def test_run_label_uses_the_runs_list_model_label(tmp_path):
    from gui.explain.image_dialog import run_label

    sup = Run(_run(tmp_path, "sup", summary={"status": "completed", "metrics": {"test": {"accuracy": 0.9}}},
                   config={"model": {"name": "resnet18"}}))
    assert run_label(sup) == "sup · resnet18 · test acc 0.900"
    bare = Run(_run(tmp_path, "bare", summary={}, config={}))
    assert run_label(bare) == "bare · ?"
