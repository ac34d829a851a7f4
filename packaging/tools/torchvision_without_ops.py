"""Make an installed CUDA-built torchvision importable beside a CPU-only torch, without its compiled ops.

Only for building the CPU bundle where no CPU build of torchvision exists (see packaging/README.md,
"Where the CPU wheels come from"); a build from the PyTorch CPU index never needs it. Run it with the
build venv's Python:  build/venv-cpu/bin/python packaging/tools/torchvision_without_ops.py

Why: PyPI's Linux torchvision wheel is built for CUDA torch; its compiled ops (``_C*.so``, ``image*.so``)
link ``libtorch_cuda.so`` and ``libc10_cuda.so``, which a CPU torch does not have, so they cannot load.
torchvision tolerates that (``extension._has_ops()`` is then False) except for two fake-tensor
registrations (``torchvision::nms`` and ``torchvision::qnms``) that its ``_meta_registrations.py``
makes unconditionally, so ``import torchvision`` fails with "operator torchvision::nms does not exist".

HistoDesk needs only torchvision's pure-Python parts (``transforms.v2``, ``tv_tensors``, and through
timm ``ops.misc.FrozenBatchNorm2d`` and ``models.feature_extraction``); never its compiled detection ops
or image decoders. So this script removes the compiled extensions and their bundled CUDA/codec
libraries (``torchvision.libs``) and guards those two registrations the way torchvision guards the
others, then checks that the parts HistoDesk uses import and work.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

UNGUARDED = ('@torch.library.register_fake("torchvision::nms")', '@torch.library.register_fake("torchvision::qnms")')
GUARD = "@(torch.library.register_fake({op}) if torchvision.extension._has_ops() else (lambda fn: fn))"
CHECK = """
import torch, torchvision
from torchvision import tv_tensors
from torchvision.transforms import v2
from torchvision.ops.misc import FrozenBatchNorm2d
assert torch.version.cuda is None, "not a CPU-only torch"
assert not torchvision.extension._has_ops()
out = v2.Compose([v2.RandomResizedCrop(32, antialias=True), v2.ToDtype(torch.float32, scale=True)])(
    tv_tensors.Image(torch.zeros(3, 64, 64, dtype=torch.uint8)))
assert out.shape == (3, 32, 32)
print(f"torch {torch.__version__} (CPU) + torchvision {torchvision.__version__} without compiled ops: ok")
"""


def torchvision_dir() -> Path:
    """The installed torchvision package folder (found without importing it: the import is what fails)."""
    spec = importlib.util.find_spec("torchvision")
    if spec is None or not spec.origin:
        raise SystemExit("torchvision is not installed in this environment")
    return Path(spec.origin).parent


def remove_compiled(folder: Path) -> list[str]:
    """Delete the compiled extensions and the bundled libraries they need; returns what was removed."""
    removed = [p for pattern in ("_C*.so", "image*.so", "_C*.pyd", "image*.pyd") for p in folder.glob(pattern)]
    for path in removed:
        path.unlink()
    libs = folder.parent / "torchvision.libs"
    if libs.is_dir():
        shutil.rmtree(libs)
        removed.append(libs)
    return [p.name for p in removed]


def guard_registrations(folder: Path) -> int:
    """Guard the unconditional fake registrations by ``_has_ops()``; returns how many were changed."""
    path = folder / "_meta_registrations.py"
    text = path.read_text()
    changed = 0
    for line in UNGUARDED:
        if line in text:
            op = line[len("@torch.library.register_fake("):-1]
            text = text.replace(line, GUARD.format(op=op))
            changed += 1
    path.write_text(text)
    return changed


def main() -> int:
    """Strip and patch the installed torchvision, then check it in a fresh interpreter."""
    folder = torchvision_dir()
    removed = remove_compiled(folder)
    changed = guard_registrations(folder)
    print(f"torchvision at {folder}: removed {', '.join(removed) or 'nothing'}; guarded {changed} registrations")
    return subprocess.run([sys.executable, "-c", CHECK], check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
