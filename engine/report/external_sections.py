"""The report section on a run's other evaluations: external datasets and test-time-augmentation re-evaluations.

External evaluations (``python main.py evaluate RUN --data OTHER --label-map ...``)
live in ``<run>/external/<name>/`` (meta.json: dataset, label map, images
used and left out; evaluation.json: the usual metrics with intervals, made
with the run's val-fitted temperature and threshold). TTA re-evaluations are
``evaluation_tta*.json`` next to evaluation.json. Both are read by
:func:`engine.report.collect.other_evaluations`.
"""

from __future__ import annotations

from engine.evaluation.tables import figure, headline_rows
from engine.report.document import Block, Heading, KeyValues, Note, Table
from engine.report.text import plain, with_ci


def _figures_table(metrics: dict, caption: str) -> Table:
    ci = metrics.get("ci") or {}
    rows = [[label, with_ci(figure(metrics, key), ci.get(key))] for label, key in headline_rows(metrics)]
    rows.append(["images", plain(metrics.get("n"))])
    return Table(["figure", "value [95% interval]"], rows, caption=caption)


def _meta_items(meta: dict) -> list[tuple[str, str]]:
    mapping = meta.get("mapping") or {}
    items = [("dataset", plain(meta.get("dataset"))), ("importer", plain(meta.get("importer"))),
             ("evaluated on", plain(meta.get("date"))),
             ("label map", ", ".join(f"{src} -> {dst}" for src, dst in mapping.items()) or "-"),
             ("images evaluated", f"{plain(meta.get('n_images'))} ({plain(meta.get('per_class'))})"),
             ("left out (label maps to no class)", f"{plain(meta.get('n_unmapped'))} ({plain(meta.get('unmapped'))})"),
             ("unreadable files", plain(meta.get("n_unreadable"))), ("test-time augmentation", plain(meta.get("tta"))),
             ("curation", plain(meta.get("curation")))]
    cal = meta.get("calibration")
    if isinstance(cal, dict):
        items.append(("calibration applied", f"temperature {plain(cal.get('temperature'))}, threshold "
                                             f"{plain(cal.get('threshold')) if cal.get('threshold') else 'arg-max'} "
                                             f"(fitted on {plain(cal.get('fitted_on'))})"))
    return items


def external_section(data: dict, ctx: dict) -> list[Block]:
    """One block per external dataset or TTA re-evaluation: what was evaluated and every figure with its interval."""
    others = data.get("other_evaluations") or []
    if not others:
        return [Note("No external or test-time-augmentation evaluation was recorded for this run (`python main.py "
                     "evaluate RUN --data OTHER --label-map ...` or `--tta`).", "info")]
    blocks: list[Block] = []
    for item in others:
        title = f"External dataset {item['name']}" if item["kind"] == "external" else f"Re-evaluation {item['name']}"
        blocks.append(Heading(title))
        if item["meta"]:
            blocks.append(KeyValues(_meta_items(item["meta"])))
            blocks += [Note(str(n), "info") for n in item["meta"].get("notes") or []]
        metrics = item["metrics"]
        if metrics:
            blocks += [Note(w, "warning") for w in metrics.get("warnings") or []]
            blocks.append(_figures_table(metrics, f"{item['name']}: every figure with its patient-level interval"))
        if item["note"]:
            blocks.append(Note(item["note"]))
    return blocks
