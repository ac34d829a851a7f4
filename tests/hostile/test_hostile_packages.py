"""Hostile model packages: every kind is refused before any graph runs, and nothing is written.

Each case damages a private copy of one intact package (a tiny trained run exported with int8) and
checks three entry points: ``ModelPackage.load`` raises :class:`UntrustedFileError` whose one-line
message names the file and the reason; ``python main.py package-info PKG`` and ``python main.py
predict PKG FOLDER`` exit with code 2 and print exactly that one line; the package, the image folder
and HistoDesk's home are byte-identical afterwards and no output folder appears.

package.json edits come twice: with package.sha256 left stale (the seal refuses them) and with it
recomputed (so the schema, the size and nesting limits and the model's stamp are what refuse them).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from engine.cli.main import main as cli
from engine.deploy.manifest import sha256_file, write_manifest
from engine.deploy.package import ModelPackage
from engine.errors import UntrustedFileError
from tests.helpers import tree_digest


@pytest.fixture(scope="module")
def package(tmp_path_factory) -> Path:
    """An intact package of a 1-epoch basic_cnn run on the tiny demo set, with model.int8.onnx."""
    from engine.deploy.export import export_run
    from engine.training.job import train
    from tests.helpers import tiny_config, tiny_demo

    root = tmp_path_factory.mktemp("hostile-packages")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HISTODESK_HOME", str(root / "home"))
        run = train(tiny_config(tiny_demo(root), root / "runs", epochs=1, evaluation={"n_bootstrap": 0}))
        return Path(export_run(run.path, root / "pk", parity_images=2, int8=True)["package"])


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> Path:
    """A folder of two small PNG images to classify."""
    import cv2

    folder = tmp_path_factory.mktemp("hostile-package-images")
    rng = np.random.default_rng(0)
    for i in range(2):
        cv2.imwrite(str(folder / f"img{i}.png"), rng.integers(0, 256, (40, 48, 3), dtype=np.uint8))
    return folder


# --- damage ---------------------------------------------------------------------------------------------------
def _read(folder: Path) -> dict:
    return json.loads((folder / "package.json").read_text())


def _write_raw(folder: Path, data: bytes, reseal: bool) -> None:
    """package.json replaced by ``data``; package.sha256 recomputed or left stale."""
    (folder / "package.json").write_bytes(data)
    if reseal:
        (folder / "package.sha256").write_text(f"{hashlib.sha256(data).hexdigest()}  package.json\n")


def _edit(change: Callable[[dict], None]) -> Callable[[Path, bool], None]:
    def damage(folder: Path, reseal: bool) -> None:
        data = _read(folder)
        change(data)
        _write_raw(folder, json.dumps(data, indent=2).encode(), reseal)  # NaN stays NaN, as a forger writes it
    return damage


def _set_input(key, value):
    return _edit(lambda m: m["input"].__setitem__(key, value))


def _nested(folder: Path, reseal: bool) -> None:
    depth = 100_000
    _write_raw(folder, b'{"format": "histodesk-package", "x": ' + b"[" * depth + b"]" * depth + b"}", reseal)


def _huge(folder: Path, reseal: bool) -> None:
    _write_raw(folder, b'{"format": "histodesk-package", "pad": "' + b"a" * (50 << 20) + b'"}', reseal)


def _not_utf8(folder: Path, reseal: bool) -> None:
    text = (folder / "package.json").read_bytes()
    _write_raw(folder, text.replace(b'"name": "', b'"name": "caf\xe9 ', 1), reseal)


def _not_onnx(folder: Path, reseal: bool) -> None:
    (folder / "model.onnx").write_bytes(b"MZ\x90\x00 a Windows program renamed model.onnx " * 50)
    if reseal:
        manifest = _read(folder)
        manifest["files"]["model.onnx"] = sha256_file(folder / "model.onnx")
        write_manifest(folder, manifest)


def _replace_int8(make: Callable[[Path], None]) -> Callable[[Path, bool], None]:
    """model.int8.onnx replaced by what ``make`` creates at its path (a FIFO, a dangling link)."""
    def damage(folder: Path, _reseal: bool) -> None:
        (folder / "model.int8.onnx").unlink()
        make(folder / "model.int8.onnx")
    return damage


def _external(name: str, dtype: int = TensorProto.FLOAT) -> TensorProto:
    """A tensor whose 12 bytes are declared to live in weights.bin next to the model."""
    tensor = TensorProto(name=name, data_type=dtype, dims=[3 if dtype == TensorProto.FLOAT else 1],
                         data_location=TensorProto.EXTERNAL)
    for key, value in {"location": "weights.bin", "offset": "0", "length": "12"}.items():
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    return tensor


def _const(name: str) -> onnx.NodeProto:
    return helper.make_node("Constant", [], [f"{name}_out"], name=f"const_{name}", value=_external(name))


def _crafted_model(*, nodes=(), sparse=(), functions=()) -> bytes:
    """A parseable ONNX model (never run: the refusal comes first) with the given parts."""
    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, 32, 32])
    out = helper.make_tensor_value_info("probs", TensorProto.FLOAT, None)
    graph = helper.make_graph([*nodes, helper.make_node("Identity", ["input"], ["probs"])], "g", [x], [out],
                              sparse_initializer=list(sparse))
    opsets = [helper.make_opsetid("", 17)] + ([helper.make_opsetid("local", 1)] if functions else [])
    return helper.make_model(graph, opset_imports=opsets, functions=list(functions)).SerializeToString()


def _with_model(model: bytes) -> Callable[[Path, bool], None]:
    """model.onnx replaced by ``model``, weights.bin beside it, both listed with their hashes, resealed."""
    def damage(folder: Path, _reseal: bool) -> None:
        (folder / "model.onnx").write_bytes(model)
        (folder / "weights.bin").write_bytes(b"\x00" * 12)
        manifest = _read(folder)
        manifest["files"].update({"model.onnx": sha256_file(folder / "model.onnx"),
                                  "weights.bin": sha256_file(folder / "weights.bin")})
        write_manifest(folder, manifest)
    return damage


def _branch(name: str) -> onnx.GraphProto:
    out = helper.make_tensor_value_info(f"{name}_out", TensorProto.FLOAT, None)
    return helper.make_graph([_const(name)], f"body_{name}", [], [out])


SPARSE_VALUES = _crafted_model(sparse=[helper.make_sparse_tensor(
    _external("sparse_w"), helper.make_tensor("sparse_i", TensorProto.INT64, [1], [0]), [3])])
SPARSE_INDICES = _crafted_model(sparse=[helper.make_sparse_tensor(
    helper.make_tensor("sparse_v", TensorProto.FLOAT, [1], [1.0]), _external("sparse_idx", TensorProto.INT64), [3])])
ATTRIBUTE = _crafted_model(nodes=[_const("attr_w")])
SUBGRAPH = _crafted_model(nodes=[
    helper.make_node("Constant", [], ["cond"], value=helper.make_tensor("c", TensorProto.BOOL, [], [True])),
    helper.make_node("If", ["cond"], ["branch_out"], then_branch=_branch("then_w"), else_branch=_branch("else_w"))])
FUNCTION = _crafted_model(nodes=[helper.make_node("F", [], ["f_out"], domain="local")], functions=[
    helper.make_function("local", "F", [], ["fn_w_out"], [_const("fn_w")], [helper.make_opsetid("", 17)])])

STALE = "package.json does not match its SHA-256 in package.sha256"
EDITS = [  # (id, damage, what refuses it once package.sha256 is recomputed)
    ("swapped-classes", _edit(lambda m: m["classes"].reverse()),
     "package.json differs from the description stamped into model.onnx"),
    ("changed-mean", _set_input("mean", [0.5, 0.0, 0.0]),
     r"input.mean \[0.5, 0.0, 0.0\] does not match normalize 'unit'"),
    ("resize-true", _edit(lambda m: m.__setitem__("resize", True)),
     "resize: got True; input should be a valid integer"),
    ("resize-15000", _edit(lambda m: m.__setitem__("resize", 15000)),
     "resize: got 15000; .*less than or equal to 8192"),
    ("size-15000", _set_input("size", 15000), "input.size: got 15000; .*less than or equal to 4096"),
    ("duplicate-classes", _edit(lambda m: m.__setitem__("classes", ["benign", "benign"])),
     r"classes: \['benign'\] appear more than once"),
    ("empty-class", _edit(lambda m: m.__setitem__("classes", ["", "malignant"])), r"classes\[0\]: got ''"),
    ("unknown-tta", _edit(lambda m: m.__setitem__("tta", "x8")), "tta: got 'x8'; allowed values are"),
    ("unknown-stain", _edit(lambda m: m.__setitem__("stain", "magic")), "stain: got 'magic'; allowed values are"),
    ("nan-std", _set_input("std", [float("nan"), 1.0, 1.0]), r"input.std\[0\]: got nan; input should be a finite"),
    ("nested-100000", _nested, "package.json is nested more than 32 levels deep"),
    ("not-utf8", _not_utf8, "package.json is not UTF-8 text"),
]
CASES = [pytest.param(damage, True, "package.json", refusal, id=f"{name}-resealed") for name, damage, refusal in EDITS]
CASES += [pytest.param(damage, False, "package.json", STALE, id=f"{name}-stale") for name, damage, _ in EDITS]
CASES += [
    pytest.param(_huge, False, "package.json", "package.json is larger than 1024 KiB", id="50MB-stale"),
    pytest.param(_huge, True, "package.json", "package.json is larger than 1024 KiB", id="50MB-resealed"),
    pytest.param(_not_onnx, False, "model.onnx", "model.onnx does not match its SHA-256", id="not-onnx-stale"),
    pytest.param(_not_onnx, True, "model.onnx", "it is not a valid ONNX model", id="not-onnx-rehashed"),
    pytest.param(lambda f, _: (f / "model.int8.onnx").unlink(), False, "model.int8.onnx",
                 r"model.int8.onnx is missing \(it is listed in package.json\)", id="listed-int8-missing"),
    pytest.param(_replace_int8(os.mkfifo), False, "model.int8.onnx",
                 "model.int8.onnx is not a regular file", id="listed-file-is-a-fifo"),
    pytest.param(_replace_int8(lambda p: p.symlink_to(p.parent / "gone.onnx")), False, "model.int8.onnx",
                 r"model.int8.onnx cannot be read \(No such file", id="listed-file-is-a-dangling-link"),
    pytest.param(lambda f, _: (f / "notes.txt").write_text("hi"), False, "notes.txt",
                 "'notes.txt' is in the package but not listed in package.json", id="unlisted-file"),
    pytest.param(lambda f, _: (f / "package.sha256").unlink(), False, "package.sha256",
                 "it has no package.sha256", id="missing-package-sha256"),
    pytest.param(lambda f, _: (f / "package.sha256").write_text("not a hash\n"), False, "package.sha256",
                 "package.sha256 does not hold the SHA-256 of package.json", id="malformed-package-sha256"),
    pytest.param(_with_model(SPARSE_VALUES), True, "model.onnx",
                 r"tensor 'sparse_w' \(graph sparse initializer \(values\)\) stores its data in the external file "
                 "'weights.bin'", id="external-sparse-values"),
    pytest.param(_with_model(SPARSE_INDICES), True, "model.onnx",
                 r"tensor 'sparse_idx' \(graph sparse initializer \(indices\)\) stores its data",
                 id="external-sparse-indices"),
    pytest.param(_with_model(ATTRIBUTE), True, "model.onnx",
                 r"tensor 'attr_w' \(graph node const_attr_w attribute value\) stores its data",
                 id="external-attribute"),
    pytest.param(_with_model(SUBGRAPH), True, "model.onnx",
                 r"tensor '(then|else)_w' \(graph node .* attribute (then|else)_branch subgraph node const_\1_w "
                 r"attribute value\) stores its data", id="external-in-if-subgraph"),
    pytest.param(_with_model(FUNCTION), True, "model.onnx",
                 r"tensor 'fn_w' \(function F node const_fn_w attribute value\) stores its data",
                 id="external-in-function"),
]


def _one_line_refusal(capsys, argv: list[str], file: str, refusal: str) -> None:
    import re

    assert cli(argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and captured.out == ""
    assert file in lines[0] and re.search(refusal, lines[0])


@pytest.mark.timeout(60)
@pytest.mark.parametrize("damage,reseal,file,refusal", CASES)
def test_hostile_package_is_refused_and_nothing_is_written(package, images, tmp_path, capsys, damage, reseal,
                                                          file, refusal):
    pkg = Path(shutil.copytree(package, tmp_path / package.name))
    damage(pkg, reseal)
    home = Path(os.environ["HISTODESK_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    before = [tree_digest(f) for f in (pkg, images, home)]
    with pytest.raises(UntrustedFileError, match=refusal) as info:
        ModelPackage.load(pkg, device="cpu")
    message = str(info.value)
    assert "\n" not in message and file in message and "refused" in message
    _one_line_refusal(capsys, ["package-info", str(pkg)], file, refusal)
    out = tmp_path / "results"
    _one_line_refusal(capsys, ["--quiet", "predict", str(pkg), str(images), "--out", str(out)], file, refusal)
    assert not out.exists() and [tree_digest(f) for f in (pkg, images, home)] == before


def test_the_intact_package_is_accepted(package, images, tmp_path, capsys):
    """The control: the package every case damages loads, verifies and classifies."""
    pkg = Path(shutil.copytree(package, tmp_path / package.name))
    assert sorted(p.name for p in pkg.iterdir()) == ["model.int8.onnx", "model.onnx", "package.json",
                                                    "package.sha256"]
    assert ModelPackage.load(pkg, device="cpu").predict(np.zeros((1, 3, 32, 32), np.float32)).shape == (1, 2)
    assert ModelPackage.load(pkg, device="cpu", variant="int8").classes == ["benign", "malignant"]
    assert cli(["package-info", str(pkg)]) == 0 and "2 file(s) match their SHA-256" in capsys.readouterr().out
    assert cli(["--quiet", "predict", str(pkg), str(images), "--out", str(tmp_path / "results")]) == 0


@pytest.mark.timeout(60)
def test_a_damaged_unused_int8_model_is_caught_when_verified_or_used(package, tmp_path, capsys):
    """The model that runs is hashed at every load; the other one is checked for presence only, then hashed
    by package-info (verify="all") and whenever it is the one used."""
    pkg = Path(shutil.copytree(package, tmp_path / package.name))
    with open(pkg / "model.int8.onnx", "ab") as fh:
        fh.write(b"\x00")
    assert ModelPackage.load(pkg, device="cpu").classes == ["benign", "malignant"]
    with pytest.raises(UntrustedFileError, match="model.int8.onnx does not match its SHA-256"):
        ModelPackage.load(pkg, device="cpu", variant="int8")
    with pytest.raises(UntrustedFileError, match="model.int8.onnx does not match its SHA-256"):
        ModelPackage.load(pkg, device="cpu", verify="all")
    _one_line_refusal(capsys, ["package-info", str(pkg)], "model.int8.onnx", "does not match its SHA-256")
