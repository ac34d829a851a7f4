"""Argument parsing and dispatch for ``python main.py <command>``."""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

from engine.errors import HistoDeskError

DESCRIPTION = """HistoDesk: train, explain and deploy histopathology image classifiers.
Without a command, `python main.py` (installed with pip: `histodesk-gui`) opens the
desktop app (or, where there is no display, trains and evaluates the demo preset headless)."""


# Modules whose ``REGISTRARS`` add sub-commands, one module per area.
CLI_MODULES = ("engine.cli.commands", "engine.cli.ssl_commands", "engine.cli.embed_commands",
               "engine.cli.explain_commands", "engine.cli.deploy_commands", "engine.cli.report_commands",
               "engine.cli.study_commands")


def program_name() -> str:
    """How the user started HistoDesk, for usage lines: ``histodesk`` when installed with pip or packaged
    (the command's own name), else ``python main.py`` (the source tree)."""
    from pathlib import Path

    stem = Path(sys.argv[0]).stem if sys.argv else ""
    return stem if stem.startswith("histodesk") else "python main.py"


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (what is wrong and where help is), not usage lines.

    Sub-command parsers inherit the class (``add_subparsers`` uses the parent's class)."""

    def error(self, message: str) -> NoReturn:  # argparse's signature: it never returns (it exits)
        """Print ``error: <command>: <message> (see <command> --help)`` on stderr and exit with code 2."""
        self.exit(2, f"error: {self.prog}: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser with every sub-command."""
    import importlib

    from engine import __version__

    parser = OneLineParser(prog=program_name(), description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"HistoDesk {__version__}")
    parser.add_argument("--quiet", action="store_true", help="no progress output")
    sub = parser.add_subparsers(dest="command", metavar="<command>")
    for module in CLI_MODULES:
        for register in importlib.import_module(module).REGISTRARS:
            register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one CLI command; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 0
    try:
        return run_command(args)
    except HistoDeskError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - a disk or a bug: one line here, the trace in a log
        print(f"error: {failure_line(exc)}", file=sys.stderr)
        return 2


def run_command(args: argparse.Namespace) -> int:
    """Run the parsed command as one job: logging configured once (engine warnings on stderr, warnings only
    with --quiet), and what the engine logs before a run folder exists goes to that run's train.log."""
    import logging

    from engine.logs import configure_logging, job_scope

    configure_logging(logging.WARNING if getattr(args, "quiet", False) else logging.INFO)
    with job_scope():
        return int(args.func(args) or 0)


def failure_line(exc: BaseException) -> str:
    """One line for an error that is not a HistoDeskError; its trace goes to the run's train.log (when the
    run lifecycle wrote it there) or to <data_home>/logs/errors.log. An OSError is told as what happened to
    which file; anything else by type and message plus where the details are."""
    from engine.failures import describe_error, record_trace

    line = describe_error(exc)
    log = record_trace(exc)
    if isinstance(exc, OSError):
        return line
    return f"{line} (details in {log})" if log else f"{line} (no log could be written)"
