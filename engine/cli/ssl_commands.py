"""CLI sub-commands: Self-supervised pretraining, downstream evaluation and label efficiency.

``pretrain``, ``probe``, ``finetune``, ``label-efficiency`` and ``ssl-presets``;
each is a thin wrapper over one engine job (:mod:`engine.ssl`).
"""

from __future__ import annotations

import json
import sys

from engine.cli.commands import _cancel_on_sigint, _print_run_result, _progress, print_presets, print_resume_hint
from engine.cli.overrides import flags_to_overrides, parse_set
from engine.cli.study_commands import print_study_result
from engine.io_utils import load_config_file
from engine.schema import number_list

#: pretrain flag -> path in the SSL config.
_PRETRAIN_FLAGS = {
    "method": ("method",), "backbone": ("backbone",), "pretrained": ("pretrained",), "epochs": ("epochs",),
    "batch_size": ("batch_size",), "seed": ("seed",), "device": ("device",), "runs_dir": ("runs_dir",),
    "name": ("name",), "dataset": ("data", "path"), "image_size": ("data", "image_size"),
    "importer": ("data", "importer"), "max_images": ("data", "max_images"), "workers": ("data", "num_workers"),
    "scope": ("scope",),
}


def build_pretrain_config(args):
    """Defaults <- SSL preset <- --config file <- flags <- --set pairs."""
    from engine.ssl.config import build_ssl_config

    overrides = [load_config_file(args.config)] if args.config else []
    overrides += [flags_to_overrides(args, _PRETRAIN_FLAGS), parse_set(args.set)]
    return build_ssl_config(args.preset, *overrides)


def cmd_pretrain(args) -> int:
    """Self-supervised pretraining (or its resumption); prints where the encoder is."""
    from engine.ssl.job import pretrain, resume_pretrain

    progress, cancel = _progress(args), _cancel_on_sigint()
    if args.resume:
        run = resume_pretrain(args.resume, progress=progress, cancel=cancel)
    else:
        if not args.dataset:
            print("error: give a DATASET folder (or 'demo'), or --resume RUN", file=sys.stderr)
            return 2
        config = build_pretrain_config(args)
        if args.dry_run:
            print(json.dumps(config.to_dict(), indent=2))
            return 0
        run = pretrain(config, progress=progress, cancel=cancel)
    s = run.summary
    print(f"\nrun: {run.path}\nstatus: {s.get('status')}\nepochs: {s.get('epochs_run')}  "
          f"best val loss: {s.get('best_val_loss')}  kNN accuracy: {s.get('knn_acc')}\n"
          f"encoder: {run.file('encoder.safetensors')}")
    print_resume_hint(run, "pretrain")
    return 0 if s.get("status") == "completed" else 3


def _downstream(args, mode: str) -> int:
    from engine.ssl.downstream import downstream_config
    from engine.training.job import train

    overrides = parse_set(args.set)
    for key in ("batch_size", "runs_dir", "name", "seed", "device"):
        if getattr(args, key, None) is not None:
            overrides[key] = getattr(args, key)
    config = downstream_config(args.ssl_run, args.dataset, mode=mode, epochs=args.epochs,
                               frozen_epochs=getattr(args, "frozen_epochs", 0),
                               allow_transductive=args.allow_transductive, **overrides)
    run = train(config, progress=_progress(args), cancel=_cancel_on_sigint())
    _print_run_result(run)
    return 0 if run.summary.get("status") == "completed" else 3


def cmd_probe(args) -> int:
    """Linear probe: frozen SSL encoder, linear head trained on the labels."""
    return _downstream(args, "probe")


def cmd_finetune(args) -> int:
    """Fine-tune the SSL encoder (head alone for --frozen-epochs first)."""
    return _downstream(args, "finetune")


def cmd_label_efficiency(args) -> int:
    """Accuracy/AUC by label fraction x encoder; prints the table."""
    from engine.ssl.label_efficiency import label_efficiency

    config = {"dataset": args.dataset, "ssl_run": args.ssl_run,
              "fractions": number_list(args.fractions, float, "--fractions"),
              "encoders": [e.strip() for e in args.encoders.split(",") if e.strip()], "mode": args.mode,
              "epochs": args.epochs, "frozen_epochs": args.frozen_epochs, "seed": args.seed,
              "runs_dir": args.runs_dir, "base": parse_set(args.set), "allow_transductive": args.allow_transductive,
              "draws": args.draws, "steps": args.steps}
    results = label_efficiency(config, progress=_progress(args), cancel=_cancel_on_sigint())
    return print_study_result(results, results["status"], "accuracy / ROC AUC on the test split:\n")


def cmd_ssl_presets(_args) -> int:
    """List the SSL recipe presets."""
    return print_presets("ssl")


def _add_pretrain(sub) -> None:
    from engine.schema import choices
    from engine.ssl.config import SSLConfig

    p = sub.add_parser("pretrain", help="self-supervised pretraining (simclr, byol, dino, mocov3, deepcluster)")
    p.add_argument("dataset", nargs="?", help="folder of images (labelled or not), CSV list, or 'demo'")
    p.add_argument("--method", help="SSL method (default simclr)")
    p.add_argument("--backbone", help="encoder model name (default resnet18)")
    p.add_argument("--pretrained", help="encoder initialisation: none, imagenet or a weights file")
    p.add_argument("--preset", help="SSL preset (see `python main.py ssl-presets`)")
    p.add_argument("--config", help="JSON or YAML SSL config file (applied after the preset)")
    for flag in ("--epochs", "--batch-size", "--image-size", "--max-images", "--workers", "--seed"):
        p.add_argument(flag, type=int)
    p.add_argument("--importer", help="importer name, 'unlabelled' for any folder of images (default auto)")
    p.add_argument("--scope", choices=choices(SSLConfig, "scope"),
                   help="images of the downstream split the encoder sees: train (default), train+val, or all "
                        "(transductive: probes testing on them are refused unless --allow-transductive)")
    p.add_argument("--device", choices=choices(SSLConfig, "device"))
    p.add_argument("--runs-dir")
    p.add_argument("--name")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="any setting, e.g. --set hparams.temperature=0.2 --set deepcluster.k=100")
    p.add_argument("--resume", metavar="RUN", help="continue an SSL run from its last checkpoint")
    p.add_argument("--dry-run", action="store_true", help="print the resolved config and exit")
    p.set_defaults(func=cmd_pretrain)


def _add_allow_transductive(p) -> None:
    p.add_argument("--allow-transductive", action="store_true",
                   help="test on images the SSL encoder saw during pretraining (refused by default; the run is "
                        "marked transductive)")


def _add_downstream(sub) -> None:
    from engine.schema import choices
    from engine.training.config import TrainConfig

    for name, func, text in (("probe", cmd_probe, "linear probe of an SSL encoder (frozen) on a labelled dataset"),
                             ("finetune", cmd_finetune, "fine-tune an SSL encoder on a labelled dataset")):
        p = sub.add_parser(name, help=text)
        p.add_argument("ssl_run", help="SSL run folder (with encoder.safetensors)")
        p.add_argument("dataset", help="labelled dataset folder or CSV, or 'demo'")
        p.add_argument("--epochs", type=int, default=10)
        if name == "finetune":
            p.add_argument("--frozen-epochs", type=int, default=0, help="epochs training the head alone first")
        p.add_argument("--batch-size", type=int)
        p.add_argument("--seed", type=int)
        p.add_argument("--device", choices=choices(TrainConfig, "device"))
        p.add_argument("--runs-dir")
        p.add_argument("--name")
        p.add_argument("--set", action="append", metavar="KEY=VALUE", help="any training setting")
        _add_allow_transductive(p)
        p.set_defaults(func=func)


def _add_label_efficiency(sub) -> None:
    from engine.schema import choices
    from engine.ssl.label_efficiency import LabelEfficiencyConfig

    p = sub.add_parser("label-efficiency", help="accuracy/AUC vs fraction of labels for SSL / random / ImageNet")
    p.add_argument("dataset", help="labelled dataset folder or CSV, or 'demo'")
    p.add_argument("--ssl-run", help="SSL run folder (needed for the 'ssl' encoder)")
    p.add_argument("--fractions", default="0.01,0.1,0.25,1", help="label fractions, comma-separated")
    p.add_argument("--encoders", default="ssl,random,imagenet", help="ssl, random, imagenet (comma-separated)")
    p.add_argument("--mode", default="finetune", choices=choices(LabelEfficiencyConfig, "mode"))
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--frozen-epochs", type=int, default=0)
    p.add_argument("--draws", type=int, default=3, help="patient samples per fraction below 100%% (error bars)")
    p.add_argument("--steps", type=int, help="optimiser steps per run (epochs derived from it; default: --epochs)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--runs-dir")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="training setting for every run")
    _add_allow_transductive(p)
    p.set_defaults(func=cmd_label_efficiency)


def _add_presets(sub) -> None:
    sub.add_parser("ssl-presets", help="list self-supervised recipe presets").set_defaults(func=cmd_ssl_presets)


REGISTRARS: list = [_add_pretrain, _add_downstream, _add_label_efficiency, _add_presets]
