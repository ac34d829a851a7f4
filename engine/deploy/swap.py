"""Replacing a folder (a model package) so that a failure or a kill -9 never loses the old one.

The new folder is built in ``.<name>.tmp-<pid>`` beside the destination;
:func:`publish` moves the old folder aside to ``.<name>.old-<pid>``, moves
the new one into place and only then deletes the old one (putting it back
if the move fails). :func:`build_folder` first clears what dead processes
left beside the destination: their temp folders are deleted, and an old
folder that a process killed in mid-swap had moved aside is put back.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from engine.run_lock import pid_alive

TMP_MARK, OLD_MARK = ".tmp-", ".old-"


def _leftover_pid(path: Path, final: Path) -> tuple[str, int] | None:
    """(mark, pid) when ``path`` is a temp/old folder of ``final``, else None."""
    rest = path.name[len(final.name) + 1:] if path.name.startswith(f".{final.name}") else ""
    for mark in (TMP_MARK, OLD_MARK):
        if rest.startswith(mark) and rest[len(mark):].isdigit():
            return mark, int(rest[len(mark):])
    return None


def _owner_gone(path: Path, pid: int) -> bool:
    if pid == os.getpid():
        return True  # this process builds one folder at a time: an earlier attempt's leftover
    try:
        since = path.stat().st_mtime
    except OSError:
        return False
    return pid_alive(pid, since) is False


def clean_leftovers(final: str | os.PathLike) -> list[Path]:
    """Delete the temp folders of ``final`` left by dead processes; put back an old folder moved aside by a
    process killed during its swap when ``final`` is missing. Returns the folders removed or restored."""
    final = Path(final)
    if not final.parent.is_dir():
        return []
    done = []
    for path in sorted(final.parent.iterdir()):
        found = _leftover_pid(path, final)
        if found is None or not _owner_gone(path, found[1]):
            continue
        if found[0] == OLD_MARK and not final.exists():
            os.replace(path, final)
        else:
            shutil.rmtree(path, ignore_errors=True)
        done.append(path)
    return done


def build_folder(final: str | os.PathLike) -> Path:
    """An empty hidden folder beside ``final`` to build its replacement in (leftovers cleaned first)."""
    final = Path(final)
    clean_leftovers(final)
    tmp = final.with_name(f".{final.name}{TMP_MARK}{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    return tmp


def publish(tmp: str | os.PathLike, final: str | os.PathLike) -> None:
    """Move the built folder ``tmp`` to ``final``; an existing ``final`` is deleted only once the new one is
    in place, and put back if the move fails."""
    tmp, final = Path(tmp), Path(final)
    old = None
    if final.exists():
        old = final.with_name(f".{final.name}{OLD_MARK}{os.getpid()}")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(final, old)
    try:
        os.replace(tmp, final)
    except BaseException:
        if old is not None and not final.exists():
            os.replace(old, final)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
