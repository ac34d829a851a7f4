"""CLI sub-commands for studies: ``study``, ``studies`` and ``study-presets`` (thin wrappers over engine.studies).

    python main.py study --preset s1 --data DATASET [--folds 5] [--seeds 0,1,2] [--set KEY=VALUE ...]
    python main.py study --config study.yaml
    python main.py study --resume STUDY_DIR
    python main.py studies
"""

from __future__ import annotations

import json
import sys

from engine.cli.commands import _cancel_on_sigint, _progress, print_presets
from engine.cli.overrides import parse_set
from engine.errors import ConfigError
from engine.io_utils import load_config_file
from engine.schema import number_list

#: study flag -> study setting
_FLAGS = {"data": "dataset", "importer": "importer", "folds": "folds", "draws": "draws", "steps": "steps",
          "epochs": "epochs", "image_size": "image_size", "max_images": "max_images", "batch_size": "batch_size",
          "device": "device", "name": "name", "runs_dir": "runs_dir"}


def build_study_from_args(args):
    """Study preset <- --config file <- flags <- --set pairs (study settings), validated once."""
    from engine.studies import build_study_config

    overrides = [load_config_file(args.config)] if args.config else []
    flags = {key: getattr(args, attr) for attr, key in _FLAGS.items() if getattr(args, attr, None) is not None}
    if args.seeds:
        flags["seeds"] = number_list(args.seeds, int, "--seeds")
    if args.fractions:
        flags["fractions"] = number_list(args.fractions, float, "--fractions")
    return build_study_config(args.preset, *overrides, flags, parse_set(args.set))


def cmd_study(args) -> int:
    """Run (or resume) a study and print its table."""
    from engine.studies import expand, resume_study, run_study

    progress, cancel = _progress(args), _cancel_on_sigint()
    if args.resume:
        results = resume_study(args.resume, progress=progress, cancel=cancel)
    else:
        if not (args.preset or args.config):
            raise ConfigError("Give --preset NAME (see `python main.py study-presets`), --config FILE or "
                              "--resume STUDY_DIR.")
        config = build_study_from_args(args)
        if args.dry_run:
            print(json.dumps(config.to_dict(), indent=2))
            print(f"\n{len(expand(config))} runs:", *(c.key for c in expand(config)), sep="\n  ")
            return 0
        results = run_study(config, progress=progress, cancel=cancel)
    return print_study_result(results, f"{results['status']}, {results['kind']}")


def print_study_result(results: dict, detail: str, caption: str = "") -> int:
    """Print where a study is (with ``detail``), ``caption`` and its table, and how to resume a cancelled
    study; returns the exit code (0 completed, 3 otherwise)."""
    from engine.studies import format_study_table

    print(f"\nstudy: {results['path']} ({detail})\n{caption}")
    print(format_study_table(results))
    if results["status"] == "cancelled":
        print(f"\nresume with: python main.py study --resume {results['path']}", file=sys.stderr)
    return 0 if results["status"] == "completed" else 3


def cmd_studies(args) -> int:
    """List the studies with their kind, status and progress."""
    from engine.studies import list_studies

    for s in list_studies(args.runs_dir):
        done = f"{s.get('n_done', 0)}/{s.get('n_runs') or '?'} runs"
        print(f"{s['name']:<48} {s.get('kind') or '?':<17} {s['status']:<12} {done:<12} "
              f"{', '.join(r for r in s.get('recipes') or [] if r)}")
    return 0


def cmd_study_presets(_args) -> int:
    """List the study presets."""
    return print_presets("study")


def _add_study(sub) -> None:
    from engine.presets import preset_names
    from engine.schema import choices
    from engine.studies.config import StudyConfig

    p = sub.add_parser("study", help="a grid of runs as one job: k-fold CV, repeated seeds or label efficiency "
                                     "(presets: " + ", ".join(preset_names("study")) + ")")
    p.add_argument("--preset", help="study preset (see `python main.py study-presets`)")
    p.add_argument("--config", help="study file, JSON or YAML (applied after the preset)")
    p.add_argument("--resume", metavar="STUDY_DIR", help="go on with a study: completed runs are kept")
    p.add_argument("--data", help="labelled dataset folder or CSV, or 'demo'")
    p.add_argument("--importer")
    p.add_argument("--folds", type=int, help="patient-level k-fold cross-validation with K folds")
    p.add_argument("--seeds", help="initialisation seeds, e.g. 0,1,2 (the split keeps split.seed)")
    p.add_argument("--fractions", help="label efficiency: label fractions, e.g. 0.1,0.25,1")
    p.add_argument("--draws", type=int, help="label efficiency: patient samples per fraction (default 3)")
    p.add_argument("--steps", type=int, help="label efficiency: optimiser steps per run (epochs derived)")
    for flag, text in (("--epochs", "epochs of every run (tiny trials)"), ("--image-size", "input size of every run"),
                       ("--max-images", "use at most N images"), ("--batch-size", "batch size of every run")):
        p.add_argument(flag, type=int, help=text)
    p.add_argument("--device", choices=choices(StudyConfig, "device"))
    p.add_argument("--name", help="study name")
    p.add_argument("--runs-dir", help="runs folder (the study goes to <runs-dir>/studies/)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="any study setting, e.g. --set overrides.optim.lr=1e-4 --set ssl_overrides.pretrained=none")
    p.add_argument("--dry-run", action="store_true", help="print the resolved study and its runs, then exit")
    p.set_defaults(func=cmd_study)


def _add_listings(sub) -> None:
    p = sub.add_parser("studies", help="list studies")
    p.add_argument("--runs-dir")
    p.set_defaults(func=cmd_studies)
    sub.add_parser("study-presets", help="list study presets").set_defaults(func=cmd_study_presets)


REGISTRARS: list = [_add_study, _add_listings]
