"""The CLI sub-commands; each is a thin wrapper over one engine job."""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path

from engine.cli.overrides import flags_to_overrides, parse_ratios, parse_set
from engine.cli.progress import TerminalProgress
from engine.io_utils import load_config_file
from engine.jobs import CancelToken


def _choices(schema: str, field: str) -> list:
    """Allowed values of a training-config field, from the schema (argparse ``choices``)."""
    from engine.schema import choices
    from engine.training import config

    return choices(getattr(config, schema), field)


def _progress(args) -> TerminalProgress:
    return TerminalProgress(quiet=getattr(args, "quiet", False))


def _cancel_on_sigint() -> CancelToken:
    """A token cancelled by the first Ctrl-C (the second one kills)."""
    token = CancelToken()

    def handler(_sig, _frame):
        if token.cancelled:
            raise KeyboardInterrupt
        print("\ncancelling after the current batch (Ctrl-C again to abort)...", file=sys.stderr)
        token.cancel()

    signal.signal(signal.SIGINT, handler)
    return token


# --- scan -------------------------------------------------------------------
def cmd_scan(args) -> int:
    """Scan a dataset and print its summary."""
    from engine.data.importers import scan

    from engine.io_utils import display_path

    catalog = scan(args.path, args.importer, allow_outside=args.allow_outside_paths, progress=_progress(args))
    summary = catalog.summary()
    if args.out:
        catalog.save(args.out)
    print(json.dumps(summary, indent=2))
    if catalog.skipped:
        print(f"\n{len(catalog.skipped)} file(s) skipped:", file=sys.stderr)
        for s in catalog.skipped[: None if args.show_skipped else 20]:
            print(f"  {display_path(s.path)}: {display_path(s.reason)}", file=sys.stderr)
    return 0


def _add_scan(sub) -> None:
    p = sub.add_parser("scan", help="scan a dataset folder or CSV and print its summary")
    p.add_argument("path", help="dataset folder or CSV/TSV file")
    p.add_argument("--importer", default="auto", help="importer name (default: auto-detect)")
    p.add_argument("--out", help="write the catalog to this JSON file")
    p.add_argument("--show-skipped", action="store_true", help="list every skipped file")
    p.add_argument("--allow-outside-paths", action="store_true",
                   help="a CSV/TSV list may name files outside its folder (skipped by default)")
    p.set_defaults(func=cmd_scan)


# --- split ------------------------------------------------------------------
def cmd_split(args) -> int:
    """Split a dataset (patient-level by default) and audit it for leakage."""
    from engine.data.importers import scan
    from engine.data.audit import split_with_audit
    from engine.schema import validate
    from engine.training.config import SplitConfig

    cfg = validate(SplitConfig, {"mode": args.mode, "ratios": parse_ratios(args.ratios), "k_folds": args.k_folds,
                                 "fold": args.fold, "seed": args.seed, "group_by": args.group_by,
                                 "allow_no_test": args.allow_no_test}, "split")
    progress = _progress(args)
    catalog = scan(args.path, args.importer, progress=progress)
    split = split_with_audit(catalog, cfg, progress=progress)
    out = Path(args.out)
    split.save(out)
    print(json.dumps({"split": split.describe(), "notes": split.notes, "mode": split.mode,
                      "counts": split.counts(catalog),
                      "patients": {k: len(v) for k, v in split.patients(catalog).items()},
                      "audit": split.audit}, indent=2))
    print(f"split written to {out}", file=sys.stderr)
    return 0 if split.audit.get("ok", True) else 1


def _add_split(sub) -> None:
    p = sub.add_parser("split", help="make a train/val/test split (patient-level by default) with a leakage audit")
    p.add_argument("path", help="dataset folder or CSV/TSV file")
    p.add_argument("--importer", default="auto")
    p.add_argument("--mode", default="auto", choices=_choices("SplitConfig", "mode"))
    p.add_argument("--ratios", default="70/15/15", help="train/val/test, e.g. 70/15/15")
    p.add_argument("--k-folds", type=int, default=0, help="k-fold cross-validation (test = fold --fold)")
    p.add_argument("--fold", type=int, default=0)
    p.add_argument("--seed", type=int, default=0, help="the split's own seed")
    p.add_argument("--group-by", default="case", choices=_choices("SplitConfig", "group_by"),
                   help="BreaKHis: keep a patient's slides together (case, default) or group by slide id")
    p.add_argument("--allow-no-test", action="store_true", help="accept a split without test images")
    p.add_argument("--out", default="split.json")
    p.set_defaults(func=cmd_split)


# --- train ------------------------------------------------------------------
def build_train_config(args):
    """Defaults <- preset <- --config file <- flags <- --set pairs, validated once (nothing is written before).

    ``--epochs N`` on a phased preset shares exactly N epochs among its phases.
    """
    from engine.training.config import build_config

    overrides = []
    if args.config:
        overrides.append(load_config_file(args.config))
    overrides.append(flags_to_overrides(args))
    explicit = parse_set(args.set)
    overrides.append(explicit)
    epochs = args.epochs if args.epochs is not None and "phases" not in explicit else None
    return build_config(args.preset, *overrides, epochs=epochs)


def cmd_train(args) -> int:
    """Train (or resume) a model and print its test metrics."""
    from engine.training.job import resume, train

    progress, cancel = _progress(args), _cancel_on_sigint()
    if args.resume:
        run = resume(args.resume, progress=progress, cancel=cancel)
    else:
        config = build_train_config(args)
        if args.dry_run:
            print(json.dumps(config.to_dict(), indent=2))
            return 0
        run = train(config, progress=progress, cancel=cancel)
    _print_run_result(run)
    return 0 if run.summary.get("status") == "completed" else 3


def print_resume_hint(run, command: str = "train") -> None:
    """After a cancelled run: the command that resumes it (the engine's own messages name no command)."""
    from engine.cli.main import program_name

    if run.summary.get("status") == "cancelled":
        print(f"\nresume with: {program_name()} {command} --resume {run.path}", file=sys.stderr)


def _print_warnings(results: dict) -> None:
    """The small-sample warnings of every split, printed before anything else."""
    from engine.evaluation.tables import warning_lines

    lines = [line for name, m in results.items() if isinstance(m, dict) for line in warning_lines(m, name)]
    if lines:
        print("\n" + "\n".join(lines))


def _print_run_result(run) -> None:
    from engine.evaluation.tables import format_metrics_table

    summary = run.summary
    notes = summary.get("notes") or []
    if notes:  # how the data was split, config and split notes, curation and transductive warnings come first
        print("\nnotes:\n" + "\n".join(f"  - {n}" for n in notes))
    evaluation = run.read("evaluation.json", {})
    shown = {name: evaluation[name] for name in ("val", "test") if name in evaluation}
    _print_warnings(shown)
    print(f"\nrun: {run.path}\nstatus: {summary.get('status')}")
    for name, metrics in shown.items():
        print(f"\n== {name} ==\n{format_metrics_table(metrics, show_warnings=False)}")
    if summary.get("image_level_split"):
        print("\nnote: image-level split (no patient ids): the same patient may be in train and test.")
    print_resume_hint(run)


def _add_train(sub) -> None:
    from engine.presets import preset_names

    p = sub.add_parser("train", help="train a model (presets: " + ", ".join(preset_names("train")) + ")")
    p.add_argument("--preset", help="recipe preset name (see `python main.py presets`)")
    p.add_argument("--config", help="JSON or YAML config file (applied after the preset)")
    p.add_argument("--data", help="dataset folder or CSV, or 'demo'")
    p.add_argument("--importer")
    p.add_argument("--model", help="model registry name (see `python main.py models`)")
    p.add_argument("--pretrained", help="none, imagenet, or a local weights file")
    p.add_argument("--epochs", type=int, help="epochs (shared among a preset's phases)")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--image-size", type=int)
    p.add_argument("--max-images", type=int, help="use at most N images (quick trials)")
    p.add_argument("--workers", type=int, help="DataLoader worker processes")
    p.add_argument("--split-mode", choices=_choices("SplitConfig", "mode"))
    p.add_argument("--ratios", help="train/val/test ratios, e.g. 70/15/15")
    p.add_argument("--k-folds", type=int)
    p.add_argument("--fold", type=int)
    p.add_argument("--split-file", help="reuse an existing split.json")
    p.add_argument("--split-seed", type=int, help="seed of the split alone (default 0): other --seed values keep "
                                                   "the same test set")
    p.add_argument("--group-by", choices=_choices("SplitConfig", "group_by"),
                   help="BreaKHis: group a patient's slides by case (default) or each slide apart")
    p.add_argument("--seed", type=int)
    p.add_argument("--device", choices=_choices("TrainConfig", "device"))
    p.add_argument("--runs-dir", help="folder for run folders")
    p.add_argument("--name", help="run name")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="any setting, e.g. --set optim.name=adamw")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue a run from its last checkpoint")
    p.add_argument("--dry-run", action="store_true", help="print the resolved config and exit")
    p.set_defaults(func=cmd_train)


# --- evaluate / predict ----------------------------------------------------
def cmd_evaluate(args) -> int:
    """Evaluate a finished run (optionally with TTA or on an external dataset)."""
    from engine.evaluation.evaluate import evaluate_run
    from engine.evaluation.tables import format_metrics_table
    from engine.options import EvaluateOptions
    from engine.schema import validate

    opts = validate(EvaluateOptions, {"splits": args.split, "tta": args.tta, "device": args.device}, "evaluate")
    results = evaluate_run(args.run, splits=tuple(opts.splits), tta=opts.tta, dataset=args.data, device=opts.device,
                           compare=bool(args.tta), progress=_progress(args), cancel=_cancel_on_sigint(),
                           label_map=args.label_map, name=args.name)
    plain = results.pop("without_tta", {})
    external = results.pop("meta", None)  # external validation: dataset, label map, counts
    _print_warnings(results)
    for name, metrics in results.items():
        if isinstance(metrics, dict):
            table = format_metrics_table(metrics, show_warnings=False)
            print(f"\n== {name}{f' (TTA {args.tta})' if args.tta else ''} ==\n{table}")
            if name in plain:
                print(f"\n== {name}: without vs with TTA ({args.tta}) ==\n{tta_comparison_table(plain[name], metrics)}")
    if external:
        from engine.evaluation.external import describe_external

        print("\n" + describe_external(external))
    return 0


def tta_comparison_table(plain: dict, tta: dict) -> str:
    """Rows accuracy/balanced accuracy/ROC AUC/F1, columns plain | TTA (each with its interval) | difference."""
    from engine.evaluation.tables import figure, fmt_ci, headline_rows

    lines = [f"{'metric':<18} {'plain':<26} {'TTA':<26} {'diff':>8}"]
    for label, key in headline_rows(tta):
        a, b = figure(plain, key), figure(tta, key)
        if a is None or b is None:
            continue
        ci_a, ci_b = ((m.get("ci") or {}).get(key) for m in (plain, tta))
        lines.append(f"{label:<18} {fmt_ci(a, ci_a).strip():<26} {fmt_ci(b, ci_b).strip():<26} {b - a:>+8.4f}")
    return "\n".join(lines)


def cmd_compare(args) -> int:
    """Compare two runs on the same test images: both runs' figures, the difference and DeLong's p-value."""
    from engine.evaluation.compare import compare_runs
    from engine.evaluation.tables import format_comparison

    print(format_comparison(compare_runs(args.run_a, args.run_b, split=args.split)))
    return 0


def _add_compare(sub) -> None:
    p = sub.add_parser("compare", help="compare two runs on the same test images (DeLong test, paired bootstrap)")
    p.add_argument("run_a", help="first run folder (A)")
    p.add_argument("run_b", help="second run folder (B); differences are B - A")
    p.add_argument("--split", default="test", help="split whose images both runs predicted (default: test)")
    p.set_defaults(func=cmd_compare)


def _add_evaluate(sub) -> None:
    from engine.options import EvaluateOptions
    from engine.schema import choices

    p = sub.add_parser("evaluate", help="evaluate a run's model on its test split or another dataset")
    p.add_argument("run", help="run folder")
    p.add_argument("--split", default="test",
                   help="comma-separated splits (" + ",".join(choices(EvaluateOptions, "splits")) + ")")
    p.add_argument("--data", help="external labelled dataset: every image becomes the test set")
    p.add_argument("--label-map", help='with --data: source labels per run class, e.g. '
                                       '"benign=Benign,Normal;malignant=InSitu,Invasive" (or a JSON/YAML file)')
    p.add_argument("--name", help="with --data: name of the stored evaluation (default: the dataset's folder name)")
    p.add_argument("--tta", nargs="?", const="s3", default=None, choices=choices(EvaluateOptions, "tta"),
                   help="test-time augmentation: s3 (7 flip/rotation views, the default) or d4 (8 views); "
                        "prints metrics without and with TTA side by side")
    p.add_argument("--device", default="auto")
    p.set_defaults(func=cmd_evaluate)


def cmd_predict(args) -> int:
    """Classify every image of a folder with a run's model or a model package (the folder is only read)."""
    from engine.errors import CancelledError, ConfigError
    from engine.evaluation.predict import predict_folder
    from engine.io_utils import display_path

    out, resume = args.out, bool(args.resume)
    if isinstance(args.resume, str):
        if out and out != args.resume:
            raise ConfigError("predict: --out and --resume name different folders; give the batch folder once.")
        out = args.resume
    try:
        result = predict_folder(args.model, args.folder, out=out, tta=args.tta, heatmaps=args.heatmaps,
                                cam_method=args.cam_method, backend=args.backend,
                                variant="int8" if args.int8 else args.variant, device=args.device,
                                batch_size=args.batch_size, recursive=not args.no_recursive,
                                overwrite=args.overwrite, resume=resume, allow_inside_source=args.allow_inside_source,
                                progress=_progress(args), cancel=_cancel_on_sigint())
    except CancelledError as exc:
        print(f"cancelled: {exc}", file=sys.stderr)
        return 3
    resumed = f", {result['n_resumed']} rows kept from before" if result["n_resumed"] else ""
    print(f"{result['n_ok']} classified, {result['n_failed']} unreadable{resumed} ({result['backend']} backend on "
          f"{result['device']}) -> {display_path(result['out'])}")
    for row in [r for r in result["rows"] if r["status"] == "error"][:20]:
        print(f"  {display_path(row['path'])}: {row['reason']}", file=sys.stderr)
    if result.get("heatmap_dir"):
        print(f"heatmaps: {display_path(result['heatmap_dir'])}")
    return 0


def _add_predict(sub) -> None:
    from engine.evaluation.predict_options import MAX_BATCH_SIZE, PredictOptions
    from engine.schema import choices

    p = sub.add_parser("predict", help="classify a folder of images with a trained run or a model package",
                       description="Classify every image of FOLDER. The folder is only read: results go to a new "
                                   "folder under HistoDesk's outputs folder (or --out DIR).")
    p.add_argument("model", help="run folder or model package (.hdpkg folder made by `export`)")
    p.add_argument("folder", help="folder of images (searched recursively)")
    p.add_argument("--out", metavar="DIR", help="folder for predictions.csv/.json, heatmaps/ and batch.json "
                                                "(default: a new folder under <data home>/outputs)")
    p.add_argument("--resume", nargs="?", const=True, metavar="OUTDIR",
                   help="continue an interrupted batch in OUTDIR (or --out): files already in its CSV are skipped")
    p.add_argument("--overwrite", action="store_true", help="replace the results already in --out")
    p.add_argument("--allow-inside-source", action="store_true",
                   help="allow an --out folder inside the folder being classified")
    p.add_argument("--tta", nargs="?", const="s3", default="none", choices=choices(PredictOptions, "tta"),
                   help="test-time augmentation: s3 (7 flip/rotation views, the default with --tta) or d4 (8 views)")
    p.add_argument("--heatmaps", action="store_true", help="write Grad-CAM overlays to OUTDIR/heatmaps "
                                                           "(needs the PyTorch model)")
    p.add_argument("--cam-method", default="gradcam", choices=choices(PredictOptions, "cam_method"))
    p.add_argument("--backend", default="auto", choices=choices(PredictOptions, "backend"),
                   help="auto: onnxruntime for a package, PyTorch for a run")
    p.add_argument("--variant", default="fp32", choices=choices(PredictOptions, "variant"),
                   help="which model of a package runs")
    p.add_argument("--int8", action="store_true", help="same as --variant int8")
    p.add_argument("--batch-size", default=32, help=f"images per batch, 1 to {MAX_BATCH_SIZE} (default 32)")
    p.add_argument("--no-recursive", action="store_true", help="only the folder itself, not its sub-folders")
    p.add_argument("--device", default="auto",
                   help=", ".join(choices(PredictOptions, "device")) + " or cuda:N (default auto)")
    p.set_defaults(func=cmd_predict)


# --- listings ---------------------------------------------------------------
def print_presets(kind: str) -> int:
    """Print each preset of ``kind`` (train, ssl, study) with its description below it (the ``*presets`` listings)."""
    from engine.presets import preset_description, preset_names

    for name in preset_names(kind):
        print(f"{name}\n    {preset_description(kind, name)}\n")
    return 0


def cmd_presets(_args) -> int:
    """List the recipe presets."""
    return print_presets("train")


def cmd_models(_args) -> int:
    """List the registry models and whether pretrained weights are available."""
    from engine.models import model_names
    from engine.models.weights import weights_status

    for name in model_names():
        print(f"{name:<26} {weights_status(name).message}")
    return 0


def cmd_runs(args) -> int:
    """List runs (and the runs of studies) ranked by a validation figure; held-out test figures with intervals
    in their own columns, status ("interrupted" when the process writing a run died), external evaluations."""
    from engine.run_table import format_runs_table, run_rows

    rows = run_rows(args.runs_dir, studies=not args.no_studies, key=args.sort)
    if args.study:
        rows = [r for r in rows if args.study in r.study]
    if args.top:
        rows = rows[:args.top]
    print(format_runs_table(rows, args.sort))
    return 0


def cmd_demo(args) -> int:
    """Generate the built-in demo dataset and print where it is."""
    from engine.data.demo import generate_demo

    print(generate_demo(progress=_progress(args)))
    return 0


def _add_listings(sub) -> None:
    sub.add_parser("presets", help="list recipe presets").set_defaults(func=cmd_presets)
    sub.add_parser("models", help="list models and pretrained-weights status").set_defaults(func=cmd_models)
    from engine.run_table import DEFAULT_SORT, SORT_KEYS

    p = sub.add_parser("runs", help="list runs ranked by a validation figure (held-out test figures apart)")
    p.add_argument("--runs-dir")
    p.add_argument("--sort", choices=list(SORT_KEYS), default=DEFAULT_SORT,
                   help="validation figure that ranks the runs (default val_auc); test figures never rank")
    p.add_argument("--top", type=int, metavar="N", help="only the N best runs by --sort")
    p.add_argument("--study", help="only the runs of studies whose name contains this text")
    p.add_argument("--no-studies", action="store_true", help="leave out the runs of studies")
    p.set_defaults(func=cmd_runs)
    sub.add_parser("demo", help="generate the built-in demo dataset").set_defaults(func=cmd_demo)


REGISTRARS = [_add_scan, _add_split, _add_train, _add_evaluate, _add_compare, _add_predict, _add_listings]
