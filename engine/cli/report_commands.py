"""CLI sub-command ``report``: an HTML and PDF report of a run or a study."""

from __future__ import annotations

from engine.cli.commands import _cancel_on_sigint, _progress


def cmd_report(args) -> int:
    """Write ``<name>-report.html`` / ``.pdf`` for a run or study folder and print where they are."""
    from engine.io_utils import display_path
    from engine.report.export import export_report

    result = export_report(args.path, args.out, args.format, explain=not args.no_explain, device=args.device,
                           progress=_progress(args), cancel=_cancel_on_sigint())
    for kind in ("html", "pdf"):
        if result[kind]:
            print(f"{kind.upper()}: {display_path(result[kind])}")
    print(f"{len(result['sections'])} sections, {result['figures']} images")
    return 0


def _add_report(sub) -> None:
    p = sub.add_parser("report", help="a self-contained HTML and a PDF report of a run or a study",
                       description="Write <name>-report.html and <name>-report.pdf for a run or study folder. "
                                   "Default folder: <HistoDesk data>/outputs/reports/ (never the dataset folder).")
    p.add_argument("path", help="run folder or study folder (<runs>/studies/<id>)")
    p.add_argument("--out", help="output folder (default: <HistoDesk data>/outputs/reports)")
    p.add_argument("--format", default="html,pdf", help="html, pdf or html,pdf (default)")
    p.add_argument("--no-explain", action="store_true", help="list the worst errors without Grad-CAM overlays")
    p.add_argument("--device", default="cpu", help="device for the Grad-CAM overlays (default cpu)")
    p.set_defaults(func=cmd_report)


REGISTRARS = [_add_report]
