"""CLI sub-commands: ONNX export and model packages.

    python main.py export RUN [--out DIR] [--int8] [--parity-images N]
    python main.py package-info PACKAGE

(``python main.py predict MODEL FOLDER`` classifies with a run or a package;
it lives in :mod:`engine.cli.commands`.)
"""

from __future__ import annotations

import json


def cmd_export(args) -> int:
    """Export a run to a verified ONNX model package and print parity and int8 figures."""
    from engine.cli.commands import _cancel_on_sigint, _progress
    from engine.deploy.export import export_run

    result = export_run(args.run, args.out, int8=args.int8, parity_images=args.parity_images,
                        int8_method=args.int8_method, progress=_progress(args), cancel=_cancel_on_sigint())
    print(f"parity: max |p_torch - p_onnx| = {result['max_prob_diff']:.2e} on {result['parity_source']} "
          "(limit 1e-04): ok")
    if result.get("int8"):
        from engine.deploy.quantize import describe_int8

        print(describe_int8(result["int8"]))
    print(describe_tta_choice(result.get("tta"), result.get("tta_choice")))
    print(f"package: {result['package']}")
    return 0


def describe_tta_choice(tta: str | None, choice: dict | None) -> str:
    """One line: the TTA the package recommends and the validation figures it was chosen on."""
    choice = choice or {}
    if choice.get("metric") is None:
        return f"TTA: off ({choice.get('note') or 'not evaluated'})"
    figures = (f"val {choice['metric']} {choice['plain']:.4f} without, {choice['tta']:.4f} with "
               f"{choice['mode']} on {choice['n_images']} images")
    return f"TTA: {tta} recommended ({figures})" if tta else f"TTA: off ({figures}; no improvement)"


def cmd_package_info(args) -> int:
    """Verify a package (JSON, hashes, graph) and print its description."""
    from engine.deploy.package import ModelPackage

    pkg = ModelPackage.load(args.package, device="cpu", verify="all")
    shown = {k: v for k, v in pkg.manifest.items() if k != "files"}
    print(json.dumps(shown, indent=2))
    print(f"verified: {len(pkg.manifest['files'])} file(s) match their SHA-256; graph input matches "
          f"{pkg.spec.size}x{pkg.spec.size} float32")
    return 0


def _add_export(sub) -> None:
    from engine.options import ExportOptions
    from engine.schema import choices

    p = sub.add_parser("export", help="export a run to an ONNX model package (.hdpkg) with a parity check")
    p.add_argument("run", help="run folder")
    p.add_argument("--out", help="folder for <run id>.hdpkg (default: the run folder)")
    p.add_argument("--int8", action="store_true", help="also write an int8 model and measure its accuracy")
    p.add_argument("--int8-method", default="auto", choices=choices(ExportOptions, "int8_method"),
                   help="static (calibrated on training images; fastest for CNNs) or dynamic")
    p.add_argument("--parity-images", type=int, default=16, help="test images compared (default 16)")
    p.set_defaults(func=cmd_export)
    q = sub.add_parser("package-info", help="verify a model package and print its package.json")
    q.add_argument("package", help=".hdpkg folder")
    q.set_defaults(func=cmd_package_info)


REGISTRARS = [_add_export]
