"""The ONNX graph export of a run, in a child process, so that the exporter never freezes the caller.

torch's TorchScript exporter (``torch.onnx.export(..., dynamo=False)``) holds the GIL for hundreds of
milliseconds at a time (``_optimize_graph``), which would stall every other thread of the process, the
GUI thread included. :func:`export_run_graph` runs it in a "spawn" child (the same start method on
Linux, macOS, Windows and in the packaged app, where ``main.py`` calls ``freeze_support``): the child
rebuilds the run's model from its folder exactly as the parent does
(:func:`~engine.evaluation.run_model.load_run_model`), writes the graph and reports back the path or the
error. The parent waits without holding the GIL, so progress and cancel keep working: cancelling
terminates the child. An error raised in the child is raised again in the parent as the same exception
type with the same one-line message; a child that dies without a word becomes a :class:`HistoDeskError`.
A child whose parent dies (kill -9) exits on its own: it watches a pipe only the parent holds open.
"""

from __future__ import annotations

import importlib
import multiprocessing as mp
import os
import sys
import threading
import traceback
from multiprocessing.connection import Connection, wait
from pathlib import Path

from engine.errors import HistoDeskError
from engine.jobs import CancelToken

POLL_S = 0.1  # how often the parent looks at the cancel token while the child works
STOP_GRACE_S = 5.0  # how long a terminated child gets before it is killed


def export_run_graph(run_dir: str | Path, path: str | Path, *, image_size: int, binary_single_logit: bool,
                     cancel: CancelToken | None = None) -> Path:
    """Write the run's model with its probability head to ``path`` (:func:`~engine.deploy.graph.export_onnx`)
    in a child process; returns ``path``. Raises the child's error, or :class:`CancelledError` once
    ``cancel`` is set (the child is terminated)."""
    ctx = mp.get_context("spawn")
    result_reader, result_writer = ctx.Pipe(duplex=False)
    lifeline_reader, lifeline_writer = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_child_main, name="histodesk-onnx-export", daemon=True,
                        args=(str(run_dir), str(path), int(image_size), bool(binary_single_logit), result_writer,
                              lifeline_reader))
    child.start()
    result_writer.close()  # the child holds the only writer: its death ends the pipe
    lifeline_reader.close()
    message = None
    try:
        message = _wait_for(child, result_reader, cancel)
    finally:
        _stop(child, grace_s=STOP_GRACE_S if message is not None else 0.0)
        lifeline_writer.close()
        result_reader.close()
    if message is None:
        raise HistoDeskError(f"The ONNX exporter process stopped unexpectedly (exit code {child.exitcode}) "
                             f"while exporting {Path(run_dir).name}; try again, and report it if it happens again.")
    if message[0] == "ok":
        return Path(message[1])
    raise _rebuilt_error(*message[1:])


def _wait_for(child, reader: Connection, cancel: CancelToken | None) -> tuple | None:
    """The child's message, or None when it ended without one; CancelledError once ``cancel`` is set."""
    while True:
        if cancel is not None and cancel.cancelled:
            child.terminate()
            cancel.raise_if_cancelled()
        ready = wait([reader, child.sentinel], timeout=POLL_S)
        if reader in ready:
            try:
                return reader.recv()
            except EOFError:  # the child ended before writing: its exit code tells
                return None
        if ready:  # the child ended; a message it wrote just before is still readable
            return reader.recv() if reader.poll() else None


def _stop(child, grace_s: float) -> None:
    """Make sure the child is gone and reaped: given ``grace_s`` to end by itself, then terminated, then killed."""
    child.join(grace_s)
    if child.is_alive():
        child.terminate()
        child.join(STOP_GRACE_S)
    if child.is_alive():
        child.kill()
    child.join()


def _rebuilt_error(module: str, name: str, text: str, what: str, step: str, details: str) -> BaseException:
    """The child's exception as the same type (``RuntimeError`` naming it when it cannot be rebuilt)."""
    try:
        cls = getattr(importlib.import_module(module), name)
        error = cls(text) if isinstance(cls, type) and issubclass(cls, Exception) else None
    except Exception:  # noqa: BLE001 - an exception type that does not rebuild from its message
        error = None
    if error is None:
        error = RuntimeError(f"{name}: {text}")
    if isinstance(error, HistoDeskError):
        error.what, error.step = what, step
    if sys.version_info >= (3, 11):
        error.add_note(f"raised in the ONNX exporter process:\n{details}")
    return error


def _child_main(run_dir: str, path: str, image_size: int, single: bool, writer: Connection,
                lifeline: Connection) -> None:
    """The child: watch the parent, export, send ("ok", path) or ("error", module, name, text, what, step, tb)."""
    threading.Thread(target=_exit_with_parent, args=(lifeline,), name="parent-watch", daemon=True).start()
    try:
        from engine.deploy.graph import export_onnx
        from engine.evaluation.run_model import load_run_model
        from engine.runs import Run

        model, _classes, _config = load_run_model(Run.open(run_dir), "cpu")
        message: tuple = ("ok", str(export_onnx(model, path, image_size=image_size, binary_single_logit=single)))
    except BaseException as error:  # noqa: BLE001 - every failure goes back to the parent, which raises it
        message = ("error", type(error).__module__, type(error).__qualname__, str(error),
                   getattr(error, "what", ""), getattr(error, "step", ""), traceback.format_exc())
    writer.send(message)
    writer.close()


def _exit_with_parent(lifeline: Connection) -> None:
    """Block until the parent closes its end of ``lifeline`` (or dies), then end this process at once."""
    try:
        lifeline.recv()
    except (EOFError, OSError):
        pass
    os._exit(1)

