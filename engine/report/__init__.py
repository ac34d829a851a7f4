"""Reports a reviewer can read: one self-contained HTML file and a PDF for a run or a study.

``export_report(path, out_dir, formats)`` (:mod:`engine.report.export`) is
the job the CLI (``python main.py report``) and the GUI call. The pipeline:
:mod:`~engine.report.collect` (or :mod:`~engine.report.study`) gathers a
folder into a plain dict; the section builders (:mod:`~engine.report.run_sections`,
:mod:`~engine.report.eval_sections`) turn it into a
:class:`~engine.report.document.Document` of blocks, with figures from
:mod:`~engine.report.figures` (matplotlib Agg), ROC/PR bands from
:mod:`~engine.report.bands` and Grad-CAM from :mod:`~engine.report.gallery`;
:mod:`~engine.report.html` and :mod:`~engine.report.pdf` render the same
document. No Qt here.
"""

__all__ = ["export_report"]


def __getattr__(name: str):
    """``export_report``, imported on first use (PEP 562): the light ``engine.report.text`` helpers that the runs
    table and the CLI's start-up use do not load the report job."""
    if name == "export_report":
        from engine.report.export import export_report

        return export_report
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
