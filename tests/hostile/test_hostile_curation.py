"""Hostile curation files: a malformed ``<dataset>/.histodesk/curation.json`` never crashes a run.

Every case: the CLI exits 2 with one line ``error: Curation file <path> is invalid: ...`` that says how to
fix it (no traceback), nothing hangs (a FIFO is never opened for reading), and no run folder is left behind.
"""

from __future__ import annotations

import json
import os
import shutil

import pytest

from engine.cli.main import main as cli
from tests.helpers import tiny_demo


def _json(obj) -> bytes:
    return json.dumps(obj).encode()


CASES = {
    "not-json": b'{"exclude": ["a.png",',
    "not-utf8": b"\xff\xfe\x00{",
    "top-level-list": _json(["a.png"]),
    "exclude-is-a-string": _json({"exclude": "a.png"}),
    "exclude-holds-numbers": _json({"exclude": [1, 2]}),
    "relabel-is-a-list": _json({"relabel": ["a.png", "benign"]}),
    "relabel-to-a-number": _json({"relabel": {"a.png": 3}}),
    "relabel-to-empty": _json({"relabel": {"a.png": ""}}),
    "relabel-to-blank": _json({"relabel": {"a.png": "   "}}),
    "unknown-key": _json({"exclude": [], "include": ["a.png"]}),
    "ten-megabytes": _json({"exclude": [f"img/{i:09d}-{'x' * 60}.png" for i in range(140_000)]}),
    "deeply-nested": b'{"exclude": ' + b"[" * 200_000 + b"]" * 200_000 + b"}",
    "nested-in-a-label": _json({"relabel": {"a.png": {"label": "benign"}}}),
    "outside-relative": _json({"exclude": ["../../../../etc/passwd"]}),
    "outside-absolute": _json({"exclude": ["/etc/passwd"]}),
    "fifo": None,
    "folder": None,
}


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    return tiny_demo(tmp_path_factory.mktemp("hostile-curation"), patients_per_class=2, images=1)


def _plant(dataset, case: str):
    target = dataset / ".histodesk" / "curation.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    if case == "fifo":
        os.mkfifo(target)
    elif case == "folder":
        target.mkdir()
    else:
        target.write_bytes(CASES[case])
    return target


@pytest.mark.timeout(60)
@pytest.mark.parametrize("command", ["train", "pretrain"])
@pytest.mark.parametrize("case", list(CASES))
def test_malformed_curation_is_refused_in_one_line(case, command, pristine, tmp_path, capsys):
    if case == "fifo" and not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs on this platform")
    dataset = shutil.copytree(pristine, tmp_path / "data")
    target = _plant(dataset, case)
    if case == "ten-megabytes":
        assert target.stat().st_size > 10_000_000
    runs = tmp_path / "runs"
    common = ["--image-size", "32", "--epochs", "1", "--runs-dir", str(runs), "--batch-size", "4"]
    if command == "train":
        argv = ["train", "--data", str(dataset), "--model", "basic_cnn", *common]
    else:
        argv = ["pretrain", str(dataset), "--method", "deepcluster", "--backbone", "basic_cnn", *common]
    assert cli(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: Curation file ") and str(target) in err[0], err
    assert "is invalid" in err[0] and "delete it" in err[0] and "Traceback" not in err[0]
    assert not runs.exists() or not any(runs.iterdir())  # refused before any run folder was made
