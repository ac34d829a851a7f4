"""One writer per run: the ``run.lock`` file of a run folder.

The lock is created with ``O_CREAT | O_EXCL`` (atomic on every platform and on
network shares) and holds the owner's pid, host, start time and command. A
lock whose owner is dead is *stale*: on the owner's host that is decided by
asking the operating system about the pid (POSIX ``kill(pid, 0)`` plus
``/proc`` for zombies and reused pids on Linux, ``OpenProcess`` on Windows);
from another host, or when the system cannot tell, by the lock's heartbeat
(its modification time, refreshed while the owner runs) being older than
:data:`STALE_AFTER_S`. Taking over a stale lock is serialised by a second
``O_EXCL`` file, so two processes never both take it.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import socket
import sys
import time
import uuid
from pathlib import Path

from engine.errors import RunLockedError

LOCK_NAME = "run.lock"
#: A lock whose heartbeat is older than this is stale when its pid cannot be checked (another host).
STALE_AFTER_S = 6 * 3600.0
#: A lock file still being written (empty or torn) counts as held for this long.
_WRITING_GRACE_S = 10.0
_TAKEOVER_GRACE_S = 30.0
#: A process started this long after a lock was written is another program that reused the pid (the slack
#: absorbs clock adjustments: a live owner must never be judged dead).
_REUSE_SLACK_S = 30.0


def _host() -> str:
    return socket.gethostname()


def pid_alive(pid: int, since: float | None = None) -> bool | None:
    """Whether process ``pid`` of this host runs (None when the system cannot tell).

    ``since`` (epoch seconds): on Linux a process started later than that is
    another program that reused the pid, so the owner counts as dead.
    """
    if pid <= 0:
        return False
    if os.name == "nt":
        return _windows_pid_alive(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by another user
    except OSError:
        return None
    return _linux_alive(pid, since)


def _linux_alive(pid: int, since: float | None) -> bool:
    """False for a zombie or for a pid reused after ``since``; True otherwise (and off Linux)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    fields = stat.rsplit(")", 1)[-1].split()
    if fields and fields[0] in ("Z", "X"):
        return False
    if since is None or len(fields) < 20:
        return True
    try:
        boot = next(float(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines()
                    if line.startswith("btime"))
        started = boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, StopIteration):
        return True
    return started <= since + _REUSE_SLACK_S


def _windows_pid_alive(pid: int) -> bool | None:
    if sys.platform != "win32":  # only called on Windows; tells type checkers that ctypes.WinDLL exists below
        return None
    try:
        import ctypes
        from ctypes import wintypes

        kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
        handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
        if not handle:
            return ctypes.get_last_error() == 5  # access denied: it exists; invalid parameter: gone
        try:
            code = wintypes.DWORD()
            if not kernel32.GetExitCodeProcess(handle, ctypes.byref(code)):
                return None
            return code.value == 259  # STILL_ACTIVE
        finally:
            kernel32.CloseHandle(handle)
    except (OSError, AttributeError):
        return None


def read_lock(folder: str | os.PathLike) -> dict | None:
    """The lock of a run folder as a dict (``{}`` while unreadable), or None when there is none."""
    path = Path(folder) / LOCK_NAME
    try:
        text = path.read_text(encoding="utf-8")
        age = time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return None
    except OSError:
        return {}
    try:
        info = json.loads(text)
    except ValueError:
        info = None
    if not isinstance(info, dict):
        return {"unreadable": True, "age_s": age}
    info["age_s"] = age
    return info


def lock_is_stale(info: dict) -> bool:
    """Whether the owner of a lock (as read by :func:`read_lock`) is gone."""
    age = float(info.get("age_s", 0.0))
    if info.get("unreadable"):
        return age > _WRITING_GRACE_S
    pid = info.get("pid")
    if info.get("host") == _host() and isinstance(pid, int):
        alive = pid_alive(pid, info.get("started_ts"))
        if alive is not None:
            return not alive
    return age > STALE_AFTER_S


def lock_held(folder: str | os.PathLike) -> bool:
    """True while a live process holds the run's lock."""
    info = read_lock(folder)
    return info is not None and not lock_is_stale(info)


def describe_owner(info: dict) -> str:
    """``pid 123 on host, 'train', since 2024-01-01 10:00:00`` for messages."""
    if info.get("unreadable") or not info:
        return "a process whose lock file is still being written"
    return (f"pid {info.get('pid')} on {info.get('host')}, '{info.get('command', '?')}', "
            f"since {info.get('started', '?')}")


class RunLock:
    """The single-writer lock of one run folder, held by this process between acquire and release."""

    def __init__(self, folder: str | os.PathLike, command: str = ""):
        self.folder = Path(folder)
        self.path = self.folder / LOCK_NAME
        self.command = command or "python"
        self.token = uuid.uuid4().hex
        self.held = False
        self._beat = 0.0

    def acquire(self) -> str | None:
        """Take the lock; returns a note for the run's log when a stale lock was taken over.

        Raises :class:`RunLockedError` naming the owner when a live process holds it.
        """
        for _attempt in range(5):
            if self._create():
                return None
            info = read_lock(self.folder)
            if info is None:
                continue  # released meanwhile: try again
            if not lock_is_stale(info):
                raise RunLockedError(
                    f"{self.folder} is being written by another HistoDesk process ({describe_owner(info)}). "
                    "Wait for it to finish or stop it; only one process may train or resume a run at a time.")
            if self._take_over(info):
                return f"Took over the stale lock of {describe_owner(info)}: that process is gone."
        raise RunLockedError(f"{self.folder}: could not take its lock ({self.path}); try again.")

    def _create(self) -> bool:
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        now = time.time()
        info = {"pid": os.getpid(), "host": _host(), "started_ts": now, "token": self.token,
                "started": _dt.datetime.fromtimestamp(now).strftime("%Y-%m-%d %H:%M:%S"), "command": self.command,
                "argv": list(sys.argv)}
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(json.dumps(info))
                fh.flush()
                os.fsync(fh.fileno())
        except BaseException:
            self.path.unlink(missing_ok=True)
            raise
        self.held, self._beat = True, time.monotonic()
        return True

    def _take_over(self, stale: dict) -> bool:
        """Replace a stale lock by ours; one process at a time (the takeover file is itself O_EXCL)."""
        guard = self.folder / f".{LOCK_NAME}.takeover"
        try:
            os.close(os.open(guard, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
        except FileExistsError:
            try:
                if time.time() - guard.stat().st_mtime > _TAKEOVER_GRACE_S:
                    guard.unlink(missing_ok=True)  # left by a process killed during its takeover
            except OSError:
                pass
            time.sleep(0.05)
            return False
        try:
            current = read_lock(self.folder)
            if current is not None and {k: v for k, v in current.items() if k != "age_s"} != \
                    {k: v for k, v in stale.items() if k != "age_s"}:
                return False  # someone else took it meanwhile: check that one
            self.path.unlink(missing_ok=True)
            return self._create()
        finally:
            guard.unlink(missing_ok=True)

    def heartbeat(self, every_s: float = 60.0) -> None:
        """Refresh the lock's modification time (at most every ``every_s``) so other hosts see it alive."""
        now = time.monotonic()
        if self.held and now - self._beat >= every_s:
            self._beat = now
            try:
                os.utime(self.path)
            except OSError:
                pass

    def release(self) -> None:
        """Remove the lock if it is still ours (never another process's lock after a takeover)."""
        if not self.held:
            return
        self.held = False
        info = read_lock(self.folder)
        if info is not None and info.get("token") == self.token:
            try:
                self.path.unlink()
            except OSError:
                pass
