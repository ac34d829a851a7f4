"""The report job: ``export_report(path, out_dir, formats, progress=, cancel=)`` for a run or a study folder.

Output: ``<name>-report.html`` and/or ``<name>-report.pdf``, ``<name>`` being
the run's (or study's) folder name made file-name safe. The default folder is
HistoDesk's outputs folder, ``<data_home>/outputs/reports/``: never the
dataset folder (a folder inside the run's dataset is refused) and never the
run itself, so a report does not change the run it describes. Both files are
written atomically. Progress: one ``report`` event per section; the token is
checked between sections and inside the slow parts (curve bands, Grad-CAM).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from engine.errors import ConfigError
from engine.io_utils import atomic_write_bytes, atomic_write_text, display_path
from engine.jobs import CancelToken, Progress, ProgressFn, null_progress
from engine.report.document import Document, Section, SectionSpec
from engine.report.text import slug

FORMATS = ("html", "pdf")


def run_sections() -> list[SectionSpec]:
    """``(id, title, builder)`` of a run report's sections, in order."""
    from engine.report import eval_sections as ev
    from engine.report import run_sections as rs
    from engine.report.external_sections import external_section

    return [("dataset", "Dataset", rs.dataset_section), ("recipe", "Recipe", rs.recipe_section),
            ("curves", "Training curves", rs.curves_section), ("metrics", "Metrics with intervals", ev.metrics_section),
            ("confusion", "Confusion matrix", ev.confusion_section),
            ("roc", "ROC and precision-recall curves", ev.roc_section),
            ("calibration", "Calibration", ev.calibration_section), ("patients", "Patients", ev.patients_section),
            ("magnification", "Magnifications", ev.magnification_section),
            ("external", "External and TTA evaluations", external_section),
            ("errors", "Worst errors with Grad-CAM", ev.errors_section),
            ("environment", "Environment", rs.environment_section)]


def parse_formats(formats: str | Sequence[str]) -> tuple[str, ...]:
    """``"html,pdf"`` or a sequence as a tuple of known formats; ConfigError for anything else."""
    items = [f.strip().lower() for f in (formats.split(",") if isinstance(formats, str) else formats) if f.strip()]
    unknown = [f for f in items if f not in FORMATS]
    if unknown or not items:
        raise ConfigError(f"Report format {', '.join(unknown) or '(none)'} is not known; choose html, pdf or "
                          "html,pdf.")
    return tuple(dict.fromkeys(items))


def default_out_dir() -> Path:
    """``<data_home>/outputs/reports/``."""
    from engine.paths import outputs_dir

    return outputs_dir() / "reports"


def _check_out_dir(out: Path, folder: Path) -> None:
    """Refuse an output folder inside the dataset the run (or study) at ``folder`` used (a source is read-only).

    Reads only config.json, so a refused folder costs nothing (before any figure or Grad-CAM is made).
    """
    from engine.report.collect import read_json_file

    config, _ = read_json_file(folder / "config.json")
    config = config if isinstance(config, dict) else {}
    data_config = config.get("data")
    source = (data_config.get("path") if isinstance(data_config, dict) else None) or config.get("dataset") or ""
    if not isinstance(source, str) or not source or source == "demo":
        return
    src = Path(source).resolve()
    src = src.parent if src.is_file() else src
    target = out.resolve()
    if target == src or src in target.parents:
        raise ConfigError(f"The report folder {display_path(out)} is inside the dataset {display_path(src)}; "
                          "HistoDesk never writes into a dataset. Choose another --out folder.")


def build_document(path: Path, *, explain: bool = True, device: str = "cpu", progress: ProgressFn = null_progress,
                   cancel: CancelToken | None = None) -> tuple[Document, dict]:
    """Collect a run or study and build its :class:`Document`, one progress event per section."""
    from engine.report import study as study_mod
    from engine.report.collect import collect_run
    from engine.report.run_sections import title_block

    cancel = cancel or CancelToken()
    progress(Progress("report", 0, None, message=f"reading {display_path(path)}"))
    if study_mod.is_study(path):
        data = study_mod.collect_study(path)
        head, specs = study_mod.title_block(data), study_mod.study_sections()
    else:
        data = collect_run(path)
        head, specs = title_block(data), run_sections()
    ctx = {"explain": explain, "device": device, "cancel": cancel}
    sections = []
    for i, (sid, title, builder) in enumerate(specs):
        cancel.raise_if_cancelled()
        progress(Progress("report", i, len(specs) + 1, message=title))
        sections.append(Section(sid, title, builder(data, ctx)))
    doc = Document(head["title"], head["subtitle"], head["meta"], head["warnings"], sections,
                   time.strftime("%Y-%m-%d %H:%M"))
    return doc, data


def export_report(path: str | Path, out_dir: str | Path | None = None, formats: str | Sequence[str] = FORMATS, *,
                  explain: bool = True, device: str = "cpu", progress: ProgressFn = null_progress,
                  cancel: CancelToken | None = None) -> dict:
    """Write the report of the run or study at ``path``; returns ``{"html", "pdf", "sections", "figures"}``.

    ``explain`` False skips the Grad-CAM gallery (the errors are still listed).
    """
    from engine.report.html import render_html
    from engine.report.pdf import render_pdf

    cancel = cancel or CancelToken()
    wanted = parse_formats(formats)
    path = Path(path)
    out = Path(out_dir) if out_dir else default_out_dir()
    _check_out_dir(out, path)
    doc, data = build_document(path, explain=explain, device=device, progress=progress, cancel=cancel)
    stem = f"{slug(data['id'])}-report"
    result: dict = {"html": None, "pdf": None, "sections": [s.title for s in doc.sections], "figures": doc.figures()}
    n = len(doc.sections) + 1
    if "html" in wanted:
        cancel.raise_if_cancelled()
        progress(Progress("report", n - 1, n, message="writing HTML"))
        result["html"] = str(out / f"{stem}.html")
        atomic_write_text(result["html"], render_html(doc))
    if "pdf" in wanted:
        cancel.raise_if_cancelled()
        progress(Progress("report", n - 1, n, message="writing PDF"))
        result["pdf"] = str(out / f"{stem}.pdf")
        atomic_write_bytes(result["pdf"], render_pdf(doc))
    progress(Progress("report", n, n, message="done"))
    return result
