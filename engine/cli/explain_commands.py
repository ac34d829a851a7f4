"""CLI sub-commands: CAM heatmaps, occlusion, error analysis and robustness."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from engine.cli.commands import _cancel_on_sigint, _progress
from engine.io_utils import display_path


def _print_probs(classes: list[str], probs) -> None:
    best = int(max(range(len(classes)), key=lambda i: probs[i]))
    print(f"predicted: {classes[best]} ({probs[best]:.4f})")
    for name, p in zip(classes, probs):
        print(f"  p({name}) = {p:.4f}")


def _levels(text: str | None, default, name: str) -> tuple[float, ...]:
    from engine.schema import number_list

    return default if text is None else tuple(number_list(text, float, name))


def _options(args, **values):
    """The explain options given on the command line, validated (ConfigError naming the option)."""
    from engine.options import ExplainOptions
    from engine.schema import validate

    given = {"alpha": args.alpha, "colormap": args.colormap, "device": args.device, **values}
    return validate(ExplainOptions, given, args.command)


def cmd_explain(args) -> int:
    """Explain one image (overlay PNG + probabilities) or every misclassified image of a split."""
    from engine.errors import ConfigError

    if args.misclassified:
        from engine.explain.errors_gallery import explain_misclassified

        opts = _options(args, split=args.split, methods=args.methods)
        result = explain_misclassified(args.run, args.out or "misclassified", split=opts.split, methods=opts.methods,
                                       alpha=opts.alpha, colormap=opts.colormap, device=opts.device,
                                       progress=_progress(args), cancel=_cancel_on_sigint())
        print(f"{len(result['files'])} of {result['n']} misclassified '{args.split}' images explained "
              f"({', '.join(result['methods'])}) -> {display_path(result['out_dir'])}")
        for item in result["failed"][:20]:
            print(f"  {display_path(item['path'])}: {display_path(item['reason'])}", file=sys.stderr)
        return 0
    if not args.image:
        raise ConfigError("Give an IMAGE to explain, or --misclassified for the run's wrong predictions.")
    from engine.explain.explainer import explain_image
    from engine.explain.overlay import save_png

    opts = _options(args, method=args.method, tta=args.tta)
    result = explain_image(args.run, args.image, method=opts.method, target=args.target, tta=opts.tta,
                           device=opts.device, alpha=opts.alpha, colormap=opts.colormap)
    _print_probs(result["classes"], result["probs"])
    out = args.out or f"{Path(args.image).stem}_{args.method}.png"
    save_png(out, result["overlay"])
    target = args.target if args.target is not None else result["predicted"]
    print(f"{args.method} heatmap for class {target} -> {display_path(out)}")
    return 0


def cmd_occlusion(args) -> int:
    """Occlusion-sensitivity map of one image as an overlay PNG."""
    from engine.explain.explainer import RunExplainer
    from engine.explain.overlay import overlay_heatmap, save_png
    from engine.explain.placement import place_cam

    opts = _options(args, patch=args.patch, stride=args.stride)
    ex = RunExplainer(args.run, device=opts.device)
    probs = ex.predict(args.image)
    _print_probs(ex.classes, probs)
    cam = ex.occlusion(args.image, target=args.target, patch=opts.patch, stride=opts.stride,
                       progress=_progress(args), cancel=_cancel_on_sigint())
    out = args.out or f"{Path(args.image).stem}_occlusion.png"
    image, box = ex.source_image(args.image)  # drawn at the image's own size and aspect ratio
    save_png(out, overlay_heatmap(image, place_cam(cam, box, *image.shape[:2]), alpha=opts.alpha,
                                  colormap=opts.colormap))
    print(f"occlusion map -> {display_path(out)}")
    return 0


def cmd_robustness(args) -> int:
    """Accuracy/AUC of a run under Gaussian noise and blur; writes robustness.json in the run."""
    from engine.explain.robustness import BLUR_LEVELS, NOISE_LEVELS, robustness_run

    result = robustness_run(args.run, split=args.split, noise=_levels(args.noise, NOISE_LEVELS, "--noise"),
                            blur=_levels(args.blur, BLUR_LEVELS, "--blur"), device=args.device,
                            progress=_progress(args), cancel=_cancel_on_sigint())
    print(f"{result['n']} '{result['split']}' images")
    print(f"{'perturbation':<14} {'level':>6} {'accuracy':>9} {'ROC AUC':>8}")
    for kind in ("noise", "blur"):
        for row in result[kind]:
            auc = "" if row["roc_auc"] is None else f"{row['roc_auc']:.4f}"
            print(f"{kind + (' sigma' if kind == 'noise' else ' px'):<14} {row['level']:>6g} "
                  f"{row['accuracy']:>9.4f} {auc:>8}")
    if args.json:
        print(json.dumps(result, indent=2))
    print(f"written to {Path(args.run) / 'robustness.json'}", file=sys.stderr)
    return 0


def _overlay_args(p) -> None:
    p.add_argument("--target", help="class name or index to explain (default: the predicted class)")
    p.add_argument("--alpha", type=float, default=0.5, help="heatmap opacity 0..1")
    p.add_argument("--colormap", default="jet", choices=_choices("colormap"))
    p.add_argument("--device", default="auto")


def _choices(field: str) -> list:
    """Allowed values of an explain option, from the schema (argparse ``choices``)."""
    from engine.options import ExplainOptions
    from engine.schema import choices

    return choices(ExplainOptions, field)


def _run_parser(sub, name: str, help_text: str, func):
    """A sub-parser running ``func`` whose first argument is the run folder."""
    p = sub.add_parser(name, help=help_text)
    p.add_argument("run", help="run folder")
    p.set_defaults(func=func)
    return p


def _add_explain(sub) -> None:
    p = _run_parser(sub, "explain", "CAM heatmap of an image, or of every misclassified image of a run",
                    cmd_explain)
    p.add_argument("image", nargs="?", help="image file to explain")
    p.add_argument("--method", default="gradcam", choices=_choices("method"), help="CAM method")
    p.add_argument("--tta", nargs="?", const="s3", default=None, choices=_choices("tta"),
                   help="predict with test-time augmentation (s3: 7 views, d4: 8 views)")
    p.add_argument("--out", help="overlay PNG (one image) or output folder (--misclassified)")
    p.add_argument("--misclassified", action="store_true",
                   help="overlays of every wrongly classified image in the run's predictions.csv")
    p.add_argument("--split", default="test", choices=_choices("split"), help="split for --misclassified")
    p.add_argument("--methods", default="gradcam,gradcam++,eigencam", help="CAM methods for --misclassified")
    _overlay_args(p)


def _add_occlusion(sub) -> None:
    p = _run_parser(sub, "occlusion", "occlusion-sensitivity map of an image (model-agnostic)", cmd_occlusion)
    p.add_argument("image", help="image file")
    p.add_argument("--out", help="overlay PNG")
    p.add_argument("--patch", type=int, help="patch side in pixels (default: 1/8 of the input)")
    p.add_argument("--stride", type=int, help="patch step in pixels (default: half the patch)")
    _overlay_args(p)


def _add_robustness(sub) -> None:
    p = _run_parser(sub, "robustness", "accuracy under Gaussian noise and blur on a split of a run",
                    cmd_robustness)
    p.add_argument("--split", default="test", choices=_choices("split"))
    p.add_argument("--noise", help="noise sigmas on [0, 1] pixels, e.g. 0,0.05,0.1,0.2")
    p.add_argument("--blur", help="blur sigmas in pixels, e.g. 0,1,2,4")
    p.add_argument("--json", action="store_true", help="also print the result as JSON")
    p.add_argument("--device", default="auto")


REGISTRARS = [_add_explain, _add_occlusion, _add_robustness]
