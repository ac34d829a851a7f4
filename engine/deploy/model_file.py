"""The ONNX files of a package: every tensor stored inline, and a stamp that binds each to its package.json.

Two checks run on a model file after its SHA-256 matched package.json and
before onnxruntime opens it (:func:`check_model_file`):

- no tensor anywhere (initializers, sparse initializers' values and indices,
  attribute tensors, If/Loop/Scan bodies at any depth, local functions)
  keeps its data in another file, which no SHA-256 would cover;
- its metadata ``histodesk.manifest_sha256`` equals :func:`manifest_binding`
  of package.json (the SHA-256 of its content without ``files``), stamped by
  export (:func:`seal_package`). So package.json cannot be changed after
  export (class names swapped, normalisation changed, TTA switched) even
  when package.sha256 and the files' hashes are recomputed, unless the model
  itself is rewritten too. Like the hashes this is integrity, not a
  signature: a package rebuilt from scratch is simply a different package.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from engine.deploy.manifest import sha256_file, write_manifest
from engine.errors import UntrustedFileError
from engine.io_utils import atomic_write_bytes, display_path, to_jsonable

STAMP_KEY = "histodesk.manifest_sha256"


def _refuse(path: Path, what: str) -> UntrustedFileError:
    return UntrustedFileError(f"{display_path(path)} was refused: {what}. Re-export the package from its run.")


def _shown(text: str, limit: int = 80) -> str:
    """``text`` (from the untrusted file) escaped to printable ASCII on one line and cut to ``limit``."""
    return ascii(text)[1:-1][:limit]


def _tensors(model):
    """Every tensor of an ONNX model with where it sits: initializers, sparse initializers (values and
    indices), attribute tensors and sparse tensors, in the main graph, in every subgraph (If/Loop/Scan
    bodies, at any depth) and in local functions. Iterative, so a deep subgraph chain cannot recurse."""
    graphs = [(model.graph, "graph")]
    for fn in model.functions:
        yield from _attribute_tensors(fn.node, f"function {fn.name}", graphs)
    while graphs:
        graph, where = graphs.pop()
        for t in graph.initializer:
            yield t, f"{where} initializer"
        for s in graph.sparse_initializer:
            yield s.values, f"{where} sparse initializer (values)"
            yield s.indices, f"{where} sparse initializer (indices)"
        yield from _attribute_tensors(graph.node, where, graphs)


def _attribute_tensors(nodes, where: str, graphs: list):
    """Tensors held by node attributes; subgraphs are appended to ``graphs`` for the caller to walk."""
    for node in nodes:
        for attr in node.attribute:
            at = f"{where} node {node.name or node.op_type} attribute {attr.name}"
            if attr.HasField("t"):
                yield attr.t, at
            yield from ((t, at) for t in attr.tensors)
            sparse = ([attr.sparse_tensor] if attr.HasField("sparse_tensor") else []) + list(attr.sparse_tensors)
            for s in sparse:
                yield s.values, f"{at} (sparse values)"
                yield s.indices, f"{at} (sparse indices)"
            if attr.HasField("g"):
                graphs.append((attr.g, f"{at} subgraph"))
            graphs.extend((g, f"{at} subgraph") for g in attr.graphs)


def load_model(path: str | Path):
    """The ModelProto of ``path`` without resolving external data; UntrustedFileError for a non-ONNX file."""
    import onnx

    try:
        return onnx.load(os.fspath(path), load_external_data=False)
    except Exception as exc:  # DecodeError and friends: not a protobuf ONNX model
        raise _refuse(Path(path), f"it is not a valid ONNX model ({type(exc).__name__})") from exc


def refuse_external_data(path: str | Path, model=None) -> None:
    """Refuse an ONNX file with any tensor whose data lives in another file (it would escape the SHA-256
    check): every tensor of :func:`_tensors` is checked; the message names the first such tensor."""
    from onnx import TensorProto

    model = model if model is not None else load_model(path)
    for tensor, where in _tensors(model):
        if tensor.data_location == TensorProto.EXTERNAL or len(tensor.external_data):
            location = next((e.value for e in tensor.external_data if e.key == "location"), "?")
            raise _refuse(Path(path), f"tensor '{_shown(tensor.name)}' ({_shown(where, 200)}) stores its data in "
                                      f"the external file '{_shown(location)}', which a HistoDesk package never uses")


def manifest_binding(manifest: dict[str, Any]) -> str:
    """SHA-256 of package.json's content without "files" (canonical JSON: sorted keys, compact, ASCII)."""
    body = {k: v for k, v in manifest.items() if k != "files"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def check_model_file(path: str | Path, manifest: dict[str, Any]) -> None:
    """A package's model file is plain ONNX, all inline, and stamped with this package.json's binding."""
    path = Path(path)
    model = load_model(path)
    refuse_external_data(path, model)
    stamps = [p.value for p in model.metadata_props if p.key == STAMP_KEY]
    if stamps != [manifest_binding(manifest)]:
        raise _refuse(path, "package.json differs from the description stamped into "
                            f"{path.name} at export (package.json was edited afterwards, or the model "
                            "comes from another package)")


def stamp_model(path: str | Path, binding: str) -> None:
    """Write ``binding`` into the metadata of the ONNX file ``path`` (atomically; the graph is unchanged)."""
    model = load_model(path)
    kept = [p for p in model.metadata_props if p.key != STAMP_KEY]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    model.metadata_props.add(key=STAMP_KEY, value=binding)
    atomic_write_bytes(path, model.SerializeToString())


def seal_package(folder: str | Path, manifest: dict[str, Any]) -> dict[str, Any]:
    """The last step of export: stamp every .onnx file of ``folder`` with the binding of ``manifest``,
    list their SHA-256 in ``files``, then write package.json and package.sha256. Returns what was written."""
    folder = Path(folder)
    body = json.loads(json.dumps(to_jsonable({k: v for k, v in manifest.items() if k != "files"})))
    binding = manifest_binding(body)  # of the JSON as it will be read back
    files = {}
    for path in sorted(folder.glob("*.onnx")):
        stamp_model(path, binding)
        files[path.name] = sha256_file(path)
    manifest = {**manifest, "files": files}
    write_manifest(folder, manifest)
    return manifest
