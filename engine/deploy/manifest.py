"""package.json of a model package: constants, file hashes and validation.

Everything read from a package is untrusted: the JSON is checked key by
key and every listed file's SHA-256 is compared with the file on disk
before any model is opened; problems raise
:class:`~engine.errors.UntrustedFileError` with a message saying what is wrong.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from engine.errors import UntrustedFileError

FORMAT = "histodesk-package"
FORMAT_VERSION = 1
MANIFEST = "package.json"
FP32_FILE = "model.onnx"
INT8_FILE = "model.int8.onnx"
SUFFIX = ".hdpkg"
REQUIRED = ("format", "format_version", "name", "classes", "input", "binary_single_logit", "files")


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def _fail(folder: Path, what: str) -> UntrustedFileError:
    return UntrustedFileError(f"Model package {folder} was refused: {what}. "
                              "Re-export it from its run (python main.py export RUN) or get an intact copy.")


def read_manifest(folder: str | Path) -> dict[str, Any]:
    """package.json of ``folder``, parsed and validated (format, version, keys, types)."""
    folder = Path(folder)
    path = folder / MANIFEST
    if not path.is_file():
        raise _fail(folder, f"it has no {MANIFEST}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _fail(folder, f"{MANIFEST} is not valid JSON ({exc})") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise _fail(folder, f"{MANIFEST} is not a HistoDesk package description (format != '{FORMAT}')")
    version = data.get("format_version")
    if not isinstance(version, int) or version < 1:
        raise _fail(folder, f"format_version {version!r} is not a positive whole number")
    if version > FORMAT_VERSION:
        raise UntrustedFileError(f"Model package {folder} has format version {version}; this HistoDesk reads "
                                 f"version {FORMAT_VERSION}. Update HistoDesk to open it.")
    missing = [k for k in REQUIRED if k not in data]
    if missing:
        raise _fail(folder, f"{MANIFEST} lacks {', '.join(missing)}")
    _check_types(folder, data)
    return data


def _check_types(folder: Path, data: dict) -> None:
    classes = data["classes"]
    if not isinstance(classes, list) or len(classes) < 2 or not all(isinstance(c, str) and c for c in classes):
        raise _fail(folder, "'classes' must list at least two class names")
    inp = data["input"]
    if not isinstance(inp, dict):
        raise _fail(folder, "'input' must be an object")
    size = inp.get("size")
    checks = [
        (isinstance(size, int) and 8 <= size <= 4096, f"input.size {size!r} must be 8-4096 pixels"),
        (inp.get("channels") == 3, f"input.channels {inp.get('channels')!r} must be 3"),
        (inp.get("dtype") == "float32", f"input.dtype {inp.get('dtype')!r} must be 'float32'"),
        (inp.get("layout") == "NCHW", f"input.layout {inp.get('layout')!r} must be 'NCHW'"),
        (inp.get("normalize") in ("imagenet", "unit"), f"input.normalize {inp.get('normalize')!r} "
                                                      "must be 'imagenet' or 'unit'"),
        (isinstance(data["binary_single_logit"], bool), "'binary_single_logit' must be true or false"),
        (data.get("resize") is None or isinstance(data.get("resize"), int), "'resize' must be a whole number"),
    ]
    for ok, what in checks:
        if not ok:
            raise _fail(folder, what)
    files = data["files"]
    if not isinstance(files, dict) or FP32_FILE not in files:
        raise _fail(folder, f"'files' must list {FP32_FILE} with its SHA-256")
    for name, digest in files.items():
        if not isinstance(name, str) or Path(name).name != name or name in (".", "..", MANIFEST):
            raise _fail(folder, f"file name {name!r} is not a plain file name inside the package")
        if not (isinstance(digest, str) and len(digest) == 64):
            raise _fail(folder, f"the SHA-256 of {name} is malformed")


def verify_files(folder: str | Path, manifest: dict[str, Any], names: list[str] | None = None) -> None:
    """Compare the SHA-256 of each listed file (or of ``names``) with the file on disk."""
    folder = Path(folder)
    for name in names if names is not None else list(manifest["files"]):
        expected = manifest["files"].get(name)
        path = folder / name
        if expected is None:
            raise _fail(folder, f"{name} is not listed in {MANIFEST}")
        if not path.is_file():
            raise _fail(folder, f"{name} is missing")
        if sha256_file(path) != expected.lower():
            raise _fail(folder, f"{name} does not match its SHA-256 in {MANIFEST} (the file was modified "
                                "or damaged)")


def is_package(path: str | Path) -> bool:
    """True when ``path`` is a folder with a HistoDesk package.json (not yet verified)."""
    manifest = Path(path) / MANIFEST
    if not manifest.is_file():
        return False
    try:
        return json.loads(manifest.read_text(encoding="utf-8")).get("format") == FORMAT
    except (OSError, UnicodeDecodeError, ValueError, AttributeError):
        return False
