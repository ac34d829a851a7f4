"""package.json of a model package: constants, its seal, file hashes and validation.

Everything read from a package is untrusted. package.json is sealed by
``package.sha256`` (its SHA-256, written by export and checked first),
bounded in size and nesting before it is parsed, and validated by the
schema in :mod:`engine.deploy.manifest_schema`; the folder must hold
exactly the listed files, and every file's SHA-256 is compared with
package.json before its model is opened. Problems raise
:class:`~engine.errors.UntrustedFileError` with a one-line message naming
the file and the reason.

The seal is an integrity check (a damaged or partly edited package is
refused), like the files' hashes; it is not a signature.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
from pathlib import Path
from typing import Any

from engine.data.outputs import PACKAGE_SUFFIX
from engine.deploy.manifest_schema import check_manifest
from engine.errors import ConfigError, ImageReadError, UntrustedFileError, with_step
from engine.io_utils import atomic_write_bytes, atomic_write_text, display_path, to_jsonable

FORMAT = "histodesk-package"
FORMAT_VERSION = 1
MANIFEST = "package.json"
FP32_FILE = "model.onnx"
INT8_FILE = "model.int8.onnx"
MANIFEST_SHA = "package.sha256"
SUFFIX = PACKAGE_SUFFIX  # ".hdpkg": importers skip such folders (engine.data.outputs)
MAX_MANIFEST_BYTES = 1 << 20  # 1 MiB: a package.json is a few KiB
MAX_DEPTH = 32  # bracket nesting allowed in package.json (it needs 4)
SEAL_BYTES = 256
_SEAL = re.compile(rb"\A([0-9a-fA-F]{64})(?:[ \t]+\*?package\.json)?[ \t\r\n]*\Z")
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a regular file, read in chunks (a FIFO or device is refused, never opened)."""
    h = hashlib.sha256()
    with _open_regular(Path(path).parent, Path(path).name) as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def _fail(folder: Path, what: str) -> UntrustedFileError:
    refused = f"Model package {display_path(folder)} was refused: {what}."
    return with_step(UntrustedFileError(f"{refused} Re-export it from its run (python main.py export RUN) or get an "
                                        "intact copy."), refused, "reexport_package")


def _open_regular(folder: Path, name: str):
    """``folder/name`` opened for binary reading when it is a regular file, else UntrustedFileError."""
    from engine.data.imageio import open_regular

    try:
        return open_regular(folder / name)
    except ImageReadError as exc:
        raise _fail(folder, f"{name} cannot be read ({getattr(exc, 'reason', exc)})") from None


def _read_limited(folder: Path, name: str, limit: int) -> bytes:
    """At most ``limit + 1`` bytes of ``folder/name`` (so a caller sees when it is over ``limit``)."""
    with _open_regular(folder, name) as fh:
        return fh.read(limit + 1)


def nesting_depth(text: bytes) -> int:
    """Deepest bracket nesting of a JSON text, counting brackets outside strings only (nothing is parsed).

    Linear time and no recursion (a regular expression drops the strings, numpy sums the brackets), so
    a hostile 1 MiB text takes milliseconds.
    """
    import numpy as np

    b = np.frombuffer(_JSON_STRING.sub(b"", text), dtype=np.uint8)
    if not b.size:
        return 0
    step = ((b == ord("[")) | (b == ord("{"))).astype(np.int32) - ((b == ord("]")) | (b == ord("}")))
    return max(0, int(np.cumsum(step).max()))


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError(f"duplicate key {ascii(next(k for k in keys if keys.count(k) > 1))[:60]}")
    return dict(pairs)


def _sealed_bytes(folder: Path) -> bytes:
    """package.json's bytes after its size and its SHA-256 in package.sha256 were checked."""
    for name in (MANIFEST, MANIFEST_SHA):
        if not os.path.lexists(folder / name):
            raise _fail(folder, f"it has no {name}" + ("" if name == MANIFEST else
                                                       " (the SHA-256 of package.json that export writes)"))
    seal = _SEAL.match(_read_limited(folder, MANIFEST_SHA, SEAL_BYTES))
    if seal is None:
        raise _fail(folder, f"{MANIFEST_SHA} does not hold the SHA-256 of {MANIFEST} (64 hex digits)")
    raw = _read_limited(folder, MANIFEST, MAX_MANIFEST_BYTES)
    if len(raw) > MAX_MANIFEST_BYTES:
        raise _fail(folder, f"{MANIFEST} is larger than {MAX_MANIFEST_BYTES // 1024} KiB, far more than a "
                            "package description needs")
    if hashlib.sha256(raw).hexdigest() != seal.group(1).decode().lower():
        raise _fail(folder, f"{MANIFEST} does not match its SHA-256 in {MANIFEST_SHA} (the file was edited "
                            "or damaged)")
    return raw


def read_manifest(folder: str | Path) -> dict[str, Any]:
    """package.json of ``folder``: sealed (package.sha256), bounded, parsed and validated by its schema.

    Order: package.sha256 present and well formed, package.json at most 1 MiB and matching it, UTF-8,
    nested at most 32 deep (checked before parsing, so parsing cannot recurse without bound), JSON
    without duplicate keys, a supported format version, then :mod:`engine.deploy.manifest_schema`.
    """
    folder = Path(folder)
    raw = _sealed_bytes(folder)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _fail(folder, f"{MANIFEST} is not UTF-8 text (byte {exc.start})") from None
    if nesting_depth(raw) > MAX_DEPTH:
        raise _fail(folder, f"{MANIFEST} is nested more than {MAX_DEPTH} levels deep")
    try:
        data = json.loads(text, object_pairs_hook=_no_duplicate_keys)
    except ValueError as exc:  # JSONDecodeError is a ValueError
        raise _fail(folder, f"{MANIFEST} is not valid JSON ({str(exc)[:200]})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise _fail(folder, f"{MANIFEST} is not a HistoDesk package description (format != '{FORMAT}')")
    version = data.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise _fail(folder, f"{MANIFEST}: format_version {ascii(version)[:40]} is not a positive whole number")
    if version > FORMAT_VERSION:
        raise UntrustedFileError(f"Model package {display_path(folder)} has format version {version}; this "
                                 f"HistoDesk reads version {FORMAT_VERSION}. Update HistoDesk to open it.")
    try:
        check_manifest(data)
    except ConfigError as exc:
        raise _fail(folder, f"{MANIFEST}: {exc}") from None
    return data


def write_manifest(folder: str | Path, manifest: dict[str, Any]) -> str:
    """Write package.json, then package.sha256 holding its SHA-256 (both atomic); returns the SHA-256."""
    folder = Path(folder)
    data = (json.dumps(to_jsonable(manifest), indent=2) + "\n").encode("utf-8")
    atomic_write_bytes(folder / MANIFEST, data)
    digest = hashlib.sha256(data).hexdigest()
    atomic_write_text(folder / MANIFEST_SHA, f"{digest}  {MANIFEST}\n")
    return digest


def check_contents(folder: str | Path, manifest: dict[str, Any]) -> None:
    """The folder holds exactly the listed files (plus package.json/package.sha256), each a regular file."""
    folder = Path(folder)
    listed = set(manifest["files"])
    present = {p.name for p in folder.iterdir()}
    extra = sorted(present - listed - {MANIFEST, MANIFEST_SHA})
    if extra:
        more = f" (and {len(extra) - 1} more)" if len(extra) > 1 else ""
        raise _fail(folder, f"{ascii(extra[0])[:80]}{more} is in the package but not listed in {MANIFEST}; "
                            "a package holds only its listed files")
    for name in sorted(listed):
        if name not in present:
            raise _fail(folder, f"{name} is missing (it is listed in {MANIFEST})")
        try:
            regular = stat.S_ISREG(os.stat(folder / name).st_mode)
        except OSError as exc:  # a dangling link, no permission...
            raise _fail(folder, f"{name} cannot be read ({exc.strerror or type(exc).__name__})") from None
        if not regular:
            raise _fail(folder, f"{name} is not a regular file")


def verify_files(folder: str | Path, manifest: dict[str, Any], names: list[str] | None = None) -> None:
    """Compare the SHA-256 of each listed file (or of ``names``) with the file on disk."""
    folder = Path(folder)
    for name in names if names is not None else list(manifest["files"]):
        expected = manifest["files"].get(name)
        if expected is None:
            raise _fail(folder, f"{name} is not listed in {MANIFEST}")
        if not os.path.lexists(folder / name):
            raise _fail(folder, f"{name} is missing")
        if sha256_file(folder / name) != expected.lower():
            raise _fail(folder, f"{name} does not match its SHA-256 in {MANIFEST} (the file was modified "
                                "or damaged)")


def is_package(path: str | Path) -> bool:
    """True when ``path`` looks like a model package (not yet verified: :func:`read_manifest` does that).

    A folder with a package.json that is named ``*.hdpkg``, has a package.sha256, or whose first
    4 KiB name the package format. Cheap and never parses the (untrusted) JSON.
    """
    path = Path(path)
    try:
        if not (path / MANIFEST).is_file():
            return False
        if path.suffix == SUFFIX or (path / MANIFEST_SHA).is_file():
            return True
        with open(path / MANIFEST, "rb") as fh:
            return f'"{FORMAT}"'.encode() in fh.read(4096)
    except OSError:
        return False
