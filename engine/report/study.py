"""Study reports: the grid, one row per run, mean +- std, pooled out-of-fold figures, label-efficiency plot.

A study folder (``<runs_dir>/studies/<id>/``, :mod:`engine.studies.store`)
holds ``results.json``: ``rows`` (one per run: ``recipe`` (or ``encoder``),
``seed``/``fold``/``fraction``/``draw``, ``status``, ``run`` (its folder),
``metrics`` (the run's headline test figures with ``*_ci`` intervals)),
``summaries`` (mean +- std per recipe and fraction, :mod:`engine.studies.aggregate`)
and, for k-fold studies, ``pooled`` (every fold's test predictions evaluated
as one set; the full evaluation under ``pooled/<recipe>-s<seed>/``). The
report shows what the study recorded and reads each member run's own
evaluation.json for its intervals and warnings. An older label-efficiency
study (``engine.ssl.label_efficiency``: rows without ``summaries``) gets
mean +- std computed here from its rows; what a study did not record is
said so ("not recorded").
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine.errors import HistoDeskError
from engine.evaluation.tables import figure
from engine.io_utils import display_path
from engine.report import figures
from engine.report.collect import is_run, read_json_file, without_curves
from engine.report.document import Block, Figure, Heading, KeyValues, Link, Note, Para, SectionSpec, Table
from engine.report.text import NOT_RECORDED, is_number, plain, with_ci
from engine.studies.aggregate import mean_std
from engine.studies.store import study_status

GROUP_KEYS = ("recipe", "encoder", "arm", "model")
GRID_KEYS = ("fraction", "seed", "fold", "draw")
METRICS = ("accuracy", "balanced_accuracy", "roc_auc", "f1", "f1_macro")
HEADLINE = (("accuracy", "accuracy"), ("balanced accuracy", "balanced_accuracy"), ("ROC AUC", "roc_auc"),
            ("sensitivity", "sensitivity"), ("specificity", "specificity"), ("F1", "f1"), ("macro F1", "f1_macro"),
            ("patient score", "patient_score"))


def is_study(path: Path) -> bool:
    """True for a study folder (a results.json that is not inside a run)."""
    return (Path(path) / "results.json").is_file() and not is_run(Path(path))


def _run_folder(study: Path, row: dict) -> Path | None:
    """The row's run folder; a study moved elsewhere still finds its runs under its own runs/."""
    text = row.get("run")
    if not isinstance(text, str) or not text:
        return None
    path = Path(text) if Path(text).is_absolute() else study / text
    moved = study / "runs" / path.name
    return path if is_run(path) or not is_run(moved) else moved


def _member(study: Path, index: int, row: dict) -> dict[str, Any]:
    """One member run: folder, status and test evaluation (without curves), or a note why it is missing."""
    from engine.runs import Run, effective_status

    folder = _run_folder(study, row)
    out: dict[str, Any] = {"index": index, "row": row, "folder": str(folder) if folder else None, "test": None,
                           "status": row.get("status") or "unknown", "note": None,
                           "id": folder.name if folder else str(row.get("key") or f"row {index + 1}")}
    if folder is None or not is_run(folder):
        out["note"] = f"Run folder {NOT_RECORDED if folder is None else 'not found: ' + display_path(folder)}."
        return out
    out["status"] = effective_status(Run(folder))
    evaluation, out["note"] = read_json_file(folder / "evaluation.json")
    test = evaluation.get("test") if isinstance(evaluation, dict) else None
    if isinstance(test, dict):
        out["test"] = without_curves(test)
    return out


def collect_study(path: str | Path) -> dict[str, Any]:
    """Everything about a study as a plain dict: config, results, rows, members."""
    from engine.report.environment import environment

    path = Path(path)
    results, reason = read_json_file(path / "results.json")
    if not isinstance(results, dict):
        raise HistoDeskError(f"{display_path(path / 'results.json')} is not a study's results "
                             f"({reason or 'not a JSON object'}).")
    config, _ = read_json_file(path / "config.json")
    rows = [r for r in results.get("rows") or [] if isinstance(r, dict)]
    data = {"kind": "study", "path": str(path), "id": path.name, "results": results, "rows": rows,
            "config": config if isinstance(config, dict) else results.get("config") or {},
            "group_key": next((k for k in GROUP_KEYS if any(r.get(k) is not None for r in rows)), None),
            "members": [_member(path, i, r) for i, r in enumerate(rows)], "environment": environment()}
    data["has_fraction"] = any(is_number(r.get("fraction")) for r in rows)
    return data


def _group(row: dict, key: str | None) -> str:
    return plain(row.get(key)) if key else "all runs"


def member_figure(member: dict, key: str) -> tuple[Any, Any]:
    """``(value, interval)`` of a test figure: the run's evaluation.json, else the row's recorded figures."""
    test, row = member["test"] or {}, member["row"]
    if test:
        value = figure(test, key)
        if value is not None:
            return value, (test.get("ci") or {}).get(key)
    recorded = row.get("metrics") if isinstance(row.get("metrics"), dict) else {}
    value = recorded.get(key, row.get(key))
    return value, recorded.get(f"{key}_ci")


def _stat(values: list) -> tuple | None:
    """``(mean, sample std | None, n)`` of the numbers among ``values`` (a :func:`mean_std` record); None if none."""
    return _cell(mean_std([v for v in values if is_number(v)]))


def _cell(stat: Any) -> tuple | None:
    """A mean +- std record (``{mean, std, n}``) as ``(mean, std | None, n)``; None without a mean."""
    return (stat["mean"], stat.get("std"), stat.get("n")) if isinstance(stat, dict) and is_number(stat.get("mean")) \
        else None


def aggregates(data: dict) -> tuple[list[dict[str, Any]], str]:
    """``([{group, fraction, n, <metric>: (mean, std | None, n) | None}], source)``: the study's summaries,
    else mean +- sample std computed here over the completed runs of each group (and fraction)."""
    recorded = data["results"].get("summaries")
    if isinstance(recorded, list) and recorded:
        out = []
        for e in (e for e in recorded if isinstance(e, dict)):
            figs = e.get("figures") or {}
            entry = {"group": plain(e.get("recipe") or e.get("encoder")), "fraction": e.get("fraction"),
                     "n": e.get("n_runs")}
            entry.update({m: _cell(figs.get(m)) for m in METRICS})
            out.append(entry)
        return out, "recorded by the study"
    cells: dict[tuple, list[dict]] = {}
    for m in data["members"]:
        if m["status"] == "completed":
            frac = m["row"].get("fraction") if data["has_fraction"] else None
            cells.setdefault((_group(m["row"], data["group_key"]), frac), []).append(m)
    out = [{"group": g, "fraction": f, "n": len(ms), **{k: _stat([member_figure(m, k)[0] for m in ms])
                                                       for k in METRICS}} for (g, f), ms in cells.items()]
    return sorted(out, key=lambda e: (e["group"], e["fraction"] or 0)), "computed by the report from the runs"


def _ms(cell) -> str:
    if not cell:
        return "n/a"
    mean, std, n = cell
    return f"{mean:.3f}" + (f" +- {std:.3f}" if is_number(std) else "") + f" (n={n})"


def title_block(data: dict) -> dict[str, Any]:
    """Title, subtitle, key facts and warnings of a study report."""
    res, cfg = data["results"], data["config"]
    kind = res.get("kind") or cfg.get("kind") or ("label efficiency" if data["has_fraction"] else "study")
    meta = [("study", data["id"]), ("folder", data["path"]), ("kind", plain(kind)),
            ("preset", plain(res.get("preset") or cfg.get("preset"))), ("dataset", plain(cfg.get("dataset"))),
            ("status", study_status(data["path"], data["results"])), ("runs", str(len(data["rows"]))),
            ("created", plain(res.get("created"))), ("finished", plain(res.get("finished")))]
    warnings = [f"Run {m['id']}: {m['status']}" for m in data["members"] if m["status"] != "completed"]
    warnings += [f"Run {m['id']}: {w}" for m in data["members"] for w in m["row"].get("warnings") or []]
    coverage = res.get("coverage") or {}
    if coverage.get("images_tested_once") is False:
        warnings.append(f"The folds do not test every image exactly once ({coverage.get('images_never_tested')} "
                        "never tested): pooled figures do not cover the dataset.")
    if res.get("split_mode") == "image":
        warnings.append("Image-level split: images of one patient may be in train and test, so test figures are "
                        "optimistic.")
    return {"title": f"HistoDesk study report: {data['id']}", "subtitle": f"{plain(kind)}, {len(data['rows'])} runs",
            "meta": meta, "warnings": warnings}


def design_section(data: dict, ctx: dict) -> list[Block]:
    """The grid (what varies), the recipes and the study's settings."""
    rows, cfg = data["rows"], data["config"]
    varies = [(k, plain(sorted({r[k] for r in rows if r.get(k) is not None}, key=str)))
              for k in (*GROUP_KEYS, *GRID_KEYS) if any(r.get(k) is not None for r in rows)]
    blocks: list[Block] = [KeyValues(varies or [("grid", NOT_RECORDED)])]
    recipes = [r for r in cfg.get("recipes") or [] if isinstance(r, dict)]
    if recipes:
        keys = [k for k in dict.fromkeys(k for r in recipes for k in r) if any(r.get(k) not in (None, {}, "")
                                                                                 for r in recipes)]
        blocks.append(Table(keys, [[plain(r.get(k)) for k in keys] for r in recipes], caption="recipes"))
    settings = [(str(k), plain(v)) for k, v in cfg.items() if k != "recipes" and v not in (None, {}, [], "")]
    if settings:
        blocks.append(Para("Study settings (config.json):"))
        blocks.append(KeyValues(settings))
    coverage = data["results"].get("coverage")
    if isinstance(coverage, dict):
        blocks.append(Para("Fold coverage: " + plain(coverage) + "."))
    blocks += [Note(f"Skipped {plain(s.get('recipe') or s.get('encoder'))}: {plain(s.get('reason'))}", "info")
               for s in data["results"].get("skipped") or [] if isinstance(s, dict)]
    return blocks


def runs_section(data: dict, ctx: dict) -> list[Block]:
    """One row per run (test figures with intervals), linked to its summary further down."""
    keys = [k for k in (data["group_key"], *GRID_KEYS) if k and any(r.get(k) is not None for r in data["rows"])]
    table = []
    for m in data["members"]:
        figs = [with_ci(*member_figure(m, k)) for k in ("accuracy", "roc_auc")]
        n = (m["test"] or {}).get("n") or (m["row"].get("metrics") or {}).get("n")
        table.append([Link(str(m["index"] + 1), f"run-{m['index'] + 1}"), *[plain(m["row"].get(k)) for k in keys],
                      m["status"], *figs, plain(n)])
    if not table:
        return [Note(f"Runs: {NOT_RECORDED} (results.json has no rows)")]
    return [Table(["#", *keys, "status", "test accuracy", "test ROC AUC", "test images"], table,
                  caption="test figures with their patient-level 95% intervals where the run recorded them")]


def aggregates_section(data: dict, ctx: dict) -> list[Block]:
    """Mean +- std of the test figures per recipe (and fraction), and every run's accuracy as a dot."""
    entries, source = aggregates(data)
    if not entries:
        return [Note(f"Aggregates: {NOT_RECORDED} (no completed run)")]
    frac = data["has_fraction"]
    head = ["group"] + (["fraction"] if frac else []) + ["runs", *METRICS]
    rows = [[e["group"]] + ([plain(e["fraction"])] if frac else []) + [plain(e["n"])] + [_ms(e[m]) for m in METRICS]
            for e in entries]
    blocks: list[Block] = [Table(head, rows, caption=f"mean +- sample standard deviation over the runs ({source})")]
    if not frac:
        groups: dict[str, list] = {}
        for m in data["members"]:
            groups.setdefault(_group(m["row"], data["group_key"]), []).append(member_figure(m, "accuracy")[0])
        blocks.append(Figure(figures.spread(groups, "test accuracy"), "Test accuracy of every run, per group.", 0.8))
    return blocks


def efficiency_section(data: dict, ctx: dict) -> list[Block]:
    """Accuracy and ROC AUC against the label fraction, mean +- std per group (error bars)."""
    if not data["has_fraction"]:
        return [Note("Label efficiency: not a label-efficiency study (no label fractions).", "info")]
    series: dict[str, dict[str, list]] = {}
    for e in sorted(aggregates(data)[0], key=lambda e: (e["group"], e["fraction"] or 0)):
        s = series.setdefault(e["group"], {"x": [], "accuracy": [], "accuracy_std": [], "roc_auc": [],
                                           "roc_auc_std": []})
        s["x"].append(e["fraction"])
        for metric in ("accuracy", "roc_auc"):
            s[metric].append(e[metric][0] if e[metric] else None)
            s[metric + "_std"].append(e[metric][1] if e[metric] else None)
    xs = [x for s in series.values() for x in s["x"] if is_number(x) and x > 0]
    log_x = bool(xs) and max(xs) / min(xs) >= 10
    budget = data["config"].get("steps")
    note = f" Every run had a budget of {budget} optimiser steps." if budget else ""
    return [Figure(figures.error_bars(series, ("accuracy", "roc_auc"), "fraction of training labels", log_x),
                   "Test figures against the fraction of training labels: mean +- std over the draws and seeds of "
                   "each fraction (a single run has no bar)." + note)]


def pooled_section(data: dict, ctx: dict) -> list[Block]:
    """The k-fold pooled out-of-fold evaluations with their intervals (recorded by the study)."""
    pooled = [p for p in data["results"].get("pooled") or [] if isinstance(p, dict)]
    if not pooled:
        return [Note("Pooled out-of-fold figures: not recorded for this study (only k-fold studies pool their "
                     "folds' test predictions; repeated seeds and label fractions test the same images).", "info")]
    blocks: list[Block] = []
    for p in pooled:
        full, _ = read_json_file(Path(p["path"]) / "evaluation.json") if p.get("path") else (None, None)
        metrics = (full or {}).get("pooled") if isinstance(full, dict) else None
        head = p.get("metrics") or {}
        label = f"{plain(p.get('recipe'))}, seed {plain(p.get('seed'))}"
        blocks.append(Heading(f"{label}: {plain(p.get('folds'))} folds, {plain(p.get('n_images'))} images, "
                              f"{plain(p.get('n_patients'))} patients"))
        if not p.get("covers_all", True):
            blocks.append(Note(f"Not every image exactly once: {plain(p.get('missing'))} missing, "
                               f"{plain(p.get('duplicates'))} repeated.", "warning"))
        blocks += [Note(w, "warning") for w in (metrics or head).get("warnings") or []]
        blocks += [Note(n, "info") for n in p.get("notes") or []]
        ci = (metrics or {}).get("ci") or {}
        rows = []
        for name, key in HEADLINE:
            if metrics:
                value = (metrics.get("patient") or {}).get("patient_score") if key == "patient_score" else \
                    figure(metrics, key)
                interval = ci.get(key)
            else:
                value, interval = head.get(key), head.get(f"{key}_ci")
            if value is not None:
                rows.append([name, with_ci(value, interval)])
        blocks.append(Table(["figure", "pooled value [95% interval]"], rows,
                            caption=f"{label}: every fold's test predictions evaluated as one set"))
    return blocks


def members_section(data: dict, ctx: dict) -> list[Block]:
    """A short summary per run (link target of the runs table) and how to get its full report."""
    blocks: list[Block] = []
    for m in data["members"]:
        row = m["row"]
        blocks.append(Heading(f"Run {m['index'] + 1}: {m['id']}", f"run-{m['index'] + 1}"))
        grid = ", ".join(f"{k} {plain(row[k])}" for k in (*GROUP_KEYS, *GRID_KEYS) if row.get(k) is not None)
        items = [("folder", plain(m["folder"])), ("status", m["status"]), ("grid", grid or "-")]
        if row.get("n_train_images") is not None:
            steps = f", {plain(row.get('steps_run'))} of {plain(row.get('steps_planned'))} optimiser steps" \
                if row.get("steps_planned") is not None else ""
            items.append(("training", f"{plain(row['n_train_images'])} images ({plain(row.get('n_train_patients'))} "
                                      f"patients), {plain(row.get('epochs_run'))} epochs{steps}"))
        items += [(f"test {k}", with_ci(*member_figure(m, k))) for k in METRICS if member_figure(m, k)[0] is not None]
        blocks.append(KeyValues(items))
        warnings = (m["test"] or {}).get("warnings") or (row.get("metrics") or {}).get("warnings") or []
        warnings = [*warnings, *(row.get("warnings") or [])]
        if warnings:
            blocks.append(Note(" ".join(warnings), "warning"))
        if row.get("error"):
            blocks.append(Note(f"Error: {row['error']}", "warning"))
        if m["note"]:
            blocks.append(Note(m["note"]))
        if m["folder"] and is_run(Path(m["folder"])):
            blocks.append(Para(f"Full report of this run: python main.py report \"{m['folder']}\""))
    return blocks or [Note(f"Runs: {NOT_RECORDED}")]


def environment_section(data: dict, ctx: dict) -> list[Block]:
    """Versions and the source commit of the HistoDesk that wrote the report."""
    from engine.report.run_sections import environment_items

    return [KeyValues(environment_items(data["environment"]))]


def study_sections() -> list[SectionSpec]:
    """``(id, title, builder)`` of a study report's sections, in order."""
    return [("design", "Study design", design_section), ("runs", "Runs", runs_section),
            ("aggregates", "Aggregates (mean +- std)", aggregates_section),
            ("efficiency", "Label efficiency", efficiency_section),
            ("pooled", "Pooled out-of-fold figures", pooled_section),
            ("members", "Runs in brief", members_section), ("environment", "Environment", environment_section)]
