"""Untrusted model packages are refused with clear messages before any graph runs.

(Pickled ``.pth`` weights with a malicious ``__reduce__`` are refused by
``torch.load(weights_only=True)``: tests/test_weights.py::test_malicious_pickle_is_refused.)
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from engine.deploy.manifest import is_package, nesting_depth, sha256_file, write_manifest
from engine.deploy.model_file import seal_package
from engine.deploy.package import ModelPackage
from engine.errors import DataError, HistoDeskError, UntrustedFileError
from tests.test_deploy_predict import fake_run


@pytest.fixture(scope="module")
def package(tmp_path_factory) -> Path:
    """An intact package (32 px basic_cnn, random weights)."""
    from engine.deploy.export import export_run

    root = tmp_path_factory.mktemp("deploy-untrusted")
    return Path(export_run(fake_run(root / "runs").path, root / "pk", parity_images=2)["package"])


@pytest.fixture
def copy(package, tmp_path) -> Path:
    """A private copy of the package to damage."""
    return Path(shutil.copytree(package, tmp_path / package.name))


def _edit_manifest(folder: Path, *, restamp: bool = False, **changes) -> None:
    """Change package.json and recompute package.sha256 (a crafted, not merely damaged, package); with
    ``restamp`` the models are stamped and hashed again too, as export does, so the checks after the
    model's stamp are reached."""
    data = json.loads((folder / "package.json").read_text())
    data.update(changes)
    seal_package(folder, data) if restamp else write_manifest(folder, data)


def _reseal(folder: Path) -> None:
    """package.sha256 recomputed for whatever package.json now holds."""
    (folder / "package.sha256").write_text(sha256_file(folder / "package.json") + "  package.json\n")


def _replace_model(folder: Path, data: bytes, *, onnx_file: bool = True) -> None:
    """Swap model.onnx and re-seal the package (a file that is not ONNX cannot be stamped: hash only)."""
    (folder / "model.onnx").write_bytes(data)
    manifest = json.loads((folder / "package.json").read_text())
    if onnx_file:
        return seal_package(folder, manifest)
    manifest["files"]["model.onnx"] = sha256_file(folder / "model.onnx")
    write_manifest(folder, manifest)


def _graph(inputs: list[tuple[str, int, list]]) -> bytes:
    """A tiny valid ONNX model whose 'probs' output is its first input."""
    vis = [helper.make_tensor_value_info(n, t, s) for n, t, s in inputs]
    out = helper.make_tensor_value_info("probs", inputs[0][1], None)
    graph = helper.make_graph([helper.make_node("Identity", [inputs[0][0]], ["probs"])], "g", vis, [out])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8).SerializeToString()


def test_intact_package_loads(package):
    pkg = ModelPackage.load(package, device="cpu")
    assert pkg.classes == ["benign", "malignant"] and pkg.providers == ["CPUExecutionProvider"]


def test_tampered_model_is_refused(copy):
    with open(copy / "model.onnx", "ab") as fh:
        fh.write(b"\x00")
    with pytest.raises(UntrustedFileError, match="model.onnx does not match its SHA-256"):
        ModelPackage.load(copy)


def test_missing_file_is_refused(copy):
    (copy / "model.onnx").unlink()
    with pytest.raises(UntrustedFileError, match="model.onnx is missing"):
        ModelPackage.load(copy)


def test_non_onnx_file_renamed_onnx_is_refused(copy):
    _replace_model(copy, b"MZ\x90\x00 this is a Windows program, not an ONNX model" * 10, onnx_file=False)
    with pytest.raises(UntrustedFileError, match="not a valid ONNX model"):
        ModelPackage.load(copy)


def test_external_tensor_data_is_refused(copy):
    weight = onnx.TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[3],
                              data_location=TensorProto.EXTERNAL)
    for key, value in {"location": "weights.bin", "offset": "0", "length": "12"}.items():
        entry = weight.external_data.add()
        entry.key, entry.value = key, value
    (copy / "weights.bin").write_bytes(b"\x00" * 12)  # data next to the model, even listed with its hash
    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, 32, 32])
    graph = helper.make_graph([helper.make_node("Identity", ["input"], ["probs"])], "g", [x],
                              [helper.make_tensor_value_info("probs", TensorProto.FLOAT, None)], [weight])
    _replace_model(copy, helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString())
    manifest = json.loads((copy / "package.json").read_text())
    manifest["files"]["weights.bin"] = sha256_file(copy / "weights.bin")  # listed, hashed, and still refused
    write_manifest(copy, manifest)
    with pytest.raises(UntrustedFileError, match="tensor 'w' \\(graph initializer\\) stores its data in the "
                                                 "external file 'weights.bin'"):
        ModelPackage.load(copy)


def test_declared_size_differs_from_the_graph(copy):
    data = json.loads((copy / "package.json").read_text())
    _edit_manifest(copy, input={**data["input"], "size": 64}, restamp=True)
    with pytest.raises(UntrustedFileError, match="32 x 32 instead of 64 x 64"):
        ModelPackage.load(copy)


@pytest.mark.parametrize("inputs,message", [
    ([("input", TensorProto.DOUBLE, ["N", 3, 32, 32])], "tensor\\(double\\) instead of float32"),
    ([("input", TensorProto.FLOAT, ["N", 3072])], "rank 2"),
    ([("input", TensorProto.FLOAT, ["N", 1, 32, 32])], "1 channels instead of 3"),
    ([("input", TensorProto.FLOAT, ["N", 3, 32, 32]), ("extra", TensorProto.FLOAT, [1])], "2 inputs instead of 1"),
])
def test_graph_input_differs_from_the_declaration(copy, inputs, message):
    _replace_model(copy, _graph(inputs))
    with pytest.raises(UntrustedFileError, match=message):
        ModelPackage.load(copy)


def test_graph_output_differs_from_the_classes(copy):
    _edit_manifest(copy, classes=["a", "b", "c"], restamp=True)  # a single logit cannot give three classes
    with pytest.raises(UntrustedFileError, match="binary_single_logit is true but there are 3 classes"):
        ModelPackage.load(copy)
    _edit_manifest(copy, binary_single_logit=False, restamp=True)  # consistent, but not the graph's output
    with pytest.raises(UntrustedFileError, match="instead of \\[N, 3\\]"):
        ModelPackage.load(copy)


@pytest.mark.parametrize("change,message", [
    ({"format": "something-else"}, "not a HistoDesk package"),
    ({"format_version": 99}, "Update HistoDesk"),
    ({"classes": ["only-one"]}, "package.json: classes: got \\['only-one'\\]; list should have at least 2 items"),
    ({"files": {"model.onnx": "ab" * 32, "../../evil.onnx": "cd" * 32}}, "package.json: files.*string should match"),
    ({"input": {"size": 32, "channels": 3, "dtype": "float64", "layout": "NCHW", "normalize": "unit",
                "mean": [0.0] * 3, "std": [1.0] * 3}}, "package.json: input.dtype: got 'float64'"),
])
def test_malformed_manifest_is_refused(copy, change, message):
    _edit_manifest(copy, **change)
    with pytest.raises(UntrustedFileError, match=message):
        ModelPackage.load(copy)


def test_manifest_not_json_or_missing_keys(copy):
    data = json.loads((copy / "package.json").read_text())
    del data["classes"]
    seal_package(copy, data)
    with pytest.raises(UntrustedFileError, match="package.json: classes: required setting is missing"):
        ModelPackage.load(copy)
    (copy / "package.json").write_text("{not json")
    _reseal(copy)
    with pytest.raises(UntrustedFileError, match="not valid JSON"):
        ModelPackage.load(copy)
    with pytest.raises(HistoDeskError, match="not a model package folder"):
        ModelPackage.load(copy / "model.onnx")


def test_batches_are_checked_before_running(package):
    pkg = ModelPackage.load(package, device="cpu")
    with pytest.raises(DataError, match="float32"):
        pkg.predict(np.zeros((1, 3, 32, 32), np.float64))
    with pytest.raises(DataError, match="N x 3 x 32 x 32"):
        pkg.predict(np.zeros((1, 3, 16, 16), np.float32))
    with pytest.raises(DataError, match="numpy array"):
        pkg.predict([[0.0]])
    assert pkg.predict(np.zeros((2, 3, 32, 32), np.float32)).shape == (2, 2)


def test_exported_graph_is_plain_onnx(package):
    model = onnx.load(str(package / "model.onnx"))
    onnx.checker.check_model(model)
    assert [o.name for o in model.graph.output] == ["probs", "logits"]
    assert max(op.version for op in model.opset_import if op.domain in ("", "ai.onnx")) >= 17


def test_nesting_depth_counts_brackets_outside_strings_only():
    assert nesting_depth(b'{"a": [1, {"b": "[[[[{{"}], "c": {}}') == 3
    assert nesting_depth(b'{"a": "\\"[[[", "b": "\\\\"}') == 1  # escaped quotes and backslashes end no string early
    assert nesting_depth(b"[" * 100_000) == 100_000 and nesting_depth(b"[1]," * 250_000) == 1
    assert nesting_depth(b"") == nesting_depth(b'"[[["') == 0


def test_is_package_is_cheap_and_never_parses_the_json(tmp_path):
    folder = tmp_path / "x.hdpkg"
    folder.mkdir()
    (folder / "package.json").write_bytes(b"[" * 100_000)  # recognised by name, refused later by read_manifest
    assert is_package(folder)
    node = tmp_path / "web-app"
    node.mkdir()
    (node / "package.json").write_text('{"name": "left-pad", "version": "1.3.0"}')  # an npm project is no package
    assert not is_package(node) and not is_package(tmp_path / "missing")
