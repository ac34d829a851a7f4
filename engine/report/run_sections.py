"""Report sections about a run's setup: title block, dataset, recipe, training curves, environment.

Each builder takes the dict of :func:`engine.report.collect.collect_run` and
returns blocks (:mod:`engine.report.document`); what the run did not record
becomes a "not recorded for this run" note. The evaluation sections live in
:mod:`engine.report.eval_sections`; :data:`RUN_SECTIONS` lists them all in order.
"""

from __future__ import annotations

from typing import Any

from engine.report import figures
from engine.report.collect import split_order
from engine.report.document import Block, Figure, KeyValues, Note, Para, Table
from engine.report.text import NOT_RECORDED, num, plain

#: Config sections shown in the recipe, with their labels, in order (other sections follow under their key).
RECIPE_ROWS = (("model", "model"), ("preset", "preset"), ("epochs", "epochs"), ("batch_size", "batch size"),
               ("sampler", "sampler"), ("optim", "optimiser"), ("schedule", "LR schedule"),
               ("early_stopping", "early stopping"), ("loss", "loss"), ("augment", "augmentations"),
               ("data", "data"), ("split", "split"), ("evaluation", "evaluation"), ("amp", "mixed precision"),
               ("grad_clip", "gradient clipping"), ("precise_bn", "precise BatchNorm"),
               ("deterministic", "deterministic"))
#: Config entries that are places or bookkeeping, not recipe.
SKIPPED_KEYS = {"name", "runs_dir", "device", "phases", "seed"}
DATA_KEYS = ("path", "importer", "image_size", "resize", "keep_aspect", "normalize", "max_images", "train_fraction",
             "curation_scope")


def focus_split(data: dict) -> tuple[str | None, dict | None]:
    """The split a report's figures show: test, else val, else any evaluated split (None when none is)."""
    evaluation = data.get("evaluation") or {}
    for name in ("test", "val", "train", *evaluation):
        if isinstance(evaluation.get(name), dict) and "classes" in evaluation[name]:
            return name, evaluation[name]
    return None, None


def title_block(data: dict) -> dict[str, Any]:
    """Title, subtitle, key facts and the warnings shown at the top of a run's report."""
    from engine.runs import Run, effective_status

    cfg, summary = data["config"], data["summary"]
    model = ((cfg.get("model") or {}).get("name") if isinstance(cfg.get("model"), dict) else None) or \
        summary.get("model") or (f"{cfg['method']} pretraining of {cfg.get('backbone')}" if cfg.get("method")
                                 else "unknown model")
    status = effective_status(Run(data["path"]))
    meta = [("run", data["id"]), ("folder", data["path"]), ("model", model),
            ("preset", plain(cfg.get("preset") or summary.get("preset"))), ("status", status),
            ("started", plain(summary.get("started"))), ("finished", plain(summary.get("finished"))),
            ("classes", plain(summary.get("classes")))]
    name, metrics = focus_split(data)
    warnings = [f"{reason}; the report shows what the other files hold." for reason in data["notes"].values()]
    warnings += [f"{name}: {w}" for w in (metrics or {}).get("warnings") or []]
    if summary.get("image_level_split") or (data.get("split") or {}).get("mode") == "image":
        warnings.append("Image-level split: images of one patient may be in train and test, so the test "
                        "figures are optimistic (methods.md, protocol pitfalls).")
    audit = (data.get("split") or {}).get("audit") or {}
    if audit.get("ok") is False:
        warnings.append(f"Leakage audit failed: {audit.get('message') or 'see the dataset section'}")
    if (summary.get("curation") or {}).get("evaluation_changed"):
        warnings.append("Curation changed validation/test images (data.curation_scope = all): the test figures are "
                        "not comparable with runs evaluated on the uncurated split.")
    exposure = summary.get("transductive")
    if isinstance(exposure, dict) and exposure.get("message"):
        warnings.append(str(exposure["message"]))
    if metrics is None:
        warnings.append("No evaluation was recorded for this run: the metric sections are empty"
                        + (" (a self-supervised pretraining run learns without labels; its kNN accuracy is in the "
                           "training curves)." if cfg.get("method") else "."))
    return {"title": f"HistoDesk report: {data['id']}", "subtitle": f"{model}, {status}", "meta": meta,
            "warnings": warnings}


def dataset_section(data: dict, ctx: dict) -> list[Block]:
    """Source, importer, images and patients per split and class, leakage audit, curation and split notes."""
    cfg, summary, split = data["config"], data["summary"], data.get("split") or {}
    cat = data.get("catalog_summary") or {}
    blocks: list[Block] = [KeyValues([
        ("source", plain(cat.get("root") or (cfg.get("data") or {}).get("path"))),
        ("importer", plain(cat.get("importer") or (cfg.get("data") or {}).get("importer"))),
        ("images / patients", f"{plain(cat.get('n_images'))} / {plain(cat.get('n_patients'))}"
         if cat else NOT_RECORDED),
        ("classes", plain(cat.get("classes") or summary.get("classes"))),
        ("magnifications", plain(cat.get("magnifications")) if cat.get("magnifications") else "-")])]
    blocks += _counts_table(data)
    scfg = cfg.get("split") or {}
    blocks.append(KeyValues([
        ("split mode", plain(split.get("mode") or summary.get("split_mode"))),
        ("split seed", plain(split.get("seed", scfg.get("seed")))),
        ("ratios", plain(split.get("ratios") or scfg.get("ratios"))),
        ("folds", f"fold {split.get('fold')} of {split.get('k_folds')}" if split.get("k_folds") else "no folds"),
        ("grouped by", plain(scfg.get("group_by")))]))
    blocks += _audit_blocks(split.get("audit"))
    notes = list(split.get("notes") or []) + [n for n in summary.get("split_notes") or []
                                               if n not in (split.get("notes") or [])]
    blocks += [Note(f"Split note: {n}", "info") for n in notes] or [Para("Split notes: none.")]
    return blocks + _curation_blocks(summary)


def _curation_blocks(summary: dict) -> list[Block]:
    """What the dataset's curation file changed, per split (summary.json ``curation``, engine.data.curation)."""
    if "curation" not in summary:
        return [Note(f"Curation: {NOT_RECORDED}")]
    cur = summary["curation"]
    if not isinstance(cur, dict) or not cur:
        return [Para("Curation: none applied (the dataset has no curation file).")]
    splits = sorted({n for kind in ("excluded", "relabelled", "not_applied") for n in (cur.get(kind) or {})},
                    key=split_order)
    blocks: list[Block] = [Para(f"Curation applied from {plain(cur.get('file'))} (sha1 "
                                f"{str(cur.get('sha1') or '?')[:12]}, scope {plain(cur.get('scope'))}).")]
    if splits:
        blocks.append(Table(["split", "excluded", "relabelled", "left as they are (out of scope)"],
                            [[n, *[str((cur.get(k) or {}).get(n, 0)) for k in ("excluded", "relabelled",
                                                                               "not_applied")]] for n in splits]))
    if cur.get("evaluation_changed"):
        blocks.append(Note("Curation changed validation/test images (scope 'all'): these figures are not comparable "
                           "with runs evaluated on the uncurated split.", "warning"))
    return blocks


def _counts_table(data: dict) -> list[Block]:
    counts = data.get("counts")
    if not counts:
        simple = data["summary"].get("counts")
        if not isinstance(simple, dict) or not simple:
            return [Note(f"Images per split and class: {NOT_RECORDED}")]
        counts = {s: {c: {"images": n, "patients": None} for c, n in by.items()} for s, by in simple.items()}
    classes = sorted({c for by in counts.values() for c in by})
    rows = []
    for name, by in counts.items():
        cells = [_count_cell(by.get(c)) for c in classes]
        known = all(v["patients"] is not None for v in by.values())
        total = {"images": sum(v["images"] for v in by.values()),
                 "patients": (data.get("split_patients") or {}).get(name, 0) if known else None}
        rows.append([name, *cells, _count_cell(total)])
    with_patients = any(v["patients"] is not None for by in counts.values() for v in by.values())
    caption = ("images (distinct patients) per split and class" if with_patients else
               "images per split and class (the images have no patient ids)")
    return [Table(["split", *classes, "total"], rows, caption=caption)]


def _count_cell(v: dict | None) -> str:
    if not v:
        return "0"
    return f"{v['images']}" + (f" ({v['patients']})" if v.get("patients") is not None else "")


def _audit_blocks(audit: dict | None) -> list[Block]:
    if not audit:
        return [Note(f"Leakage audit: {NOT_RECORDED}")]
    found = [f"{len(audit.get(k) or [])} {label}" for k, label in
             (("patient_overlap", "patients in two splits"), ("exact_duplicates", "exact duplicates"),
              ("unreadable", "unreadable images"))]
    found.append(f"{audit.get('near_duplicate_count', len(audit.get('near_duplicates') or []))} near duplicates")
    text = (f"Leakage audit: {'passed' if audit.get('ok') else 'FAILED'} ({audit.get('images_checked', '?')} images "
            f"checked: {', '.join(found)}). {audit.get('message') or ''}")
    return [Para(text) if audit.get("ok") else Note(text, "warning")]


def recipe_section(data: dict, ctx: dict) -> list[Block]:
    """The config as a compact table (one row per setting group), phases, and every seed."""
    cfg = data["config"]
    if not cfg:
        return [Note(f"Recipe: {NOT_RECORDED} (config.json is missing or unreadable)")]
    items = []
    for key, label in RECIPE_ROWS:
        if key in cfg:
            items.append((label, _setting(key, cfg[key])))
    done = {k for k, _ in RECIPE_ROWS} | SKIPPED_KEYS
    items += [(key, plain(v)) for key, v in cfg.items() if key not in done]
    seeds = [("init seed", cfg.get("seed")), ("split seed", (cfg.get("split") or {}).get("seed")),
              ("train-fraction seed", (cfg.get("data") or {}).get("train_fraction_seed")),
              ("bootstrap seed", (cfg.get("evaluation") or {}).get("bootstrap_seed"))]
    items.append(("seeds", ", ".join(f"{k} {plain(v)}" for k, v in seeds if k == "init seed" or v is not None)))
    blocks: list[Block] = [KeyValues(items)]
    phases = cfg.get("phases") or []
    if phases:
        rows = [[str(i + 1), plain(p.get("name")), plain(p.get("epochs")), plain(p.get("trainable")),
                 plain(p.get("lr")), plain(p.get("backbone_lr"))] for i, p in enumerate(phases)]
        blocks.append(Table(["phase", "name", "epochs", "trainable", "head lr", "backbone lr"], rows,
                            caption="training phases (lr '-' = the optimiser's lr)"))
    return blocks


def _setting(key: str, value: Any) -> str:
    if key == "augment" and isinstance(value, dict):
        on = {k: v for k, v in value.items() if v not in (False, 0, 0.0, None) and k != "crop_scale"}
        if value.get("random_resized_crop"):
            on["crop_scale"] = value.get("crop_scale")
        return plain(on) if on else "none"
    if key == "data" and isinstance(value, dict):
        return plain({k: value[k] for k in DATA_KEYS if k in value})
    if isinstance(value, dict):
        return plain({k: v for k, v in value.items() if v is not None})
    return plain(value)


def curves_section(data: dict, ctx: dict) -> list[Block]:
    """Loss, accuracy/AUC and learning rate per epoch from metrics.jsonl, and the early-stopping outcome."""
    summary = data["summary"]
    png = figures.training_curves(data.get("epochs") or [])
    blocks: list[Block] = [Figure(png, "Per-epoch curves (dashed lines: phase changes).") if png else
                           Note(f"Training curves: {NOT_RECORDED} (metrics.jsonl is empty or missing)")]
    blocks.append(KeyValues([("epochs run", plain(summary.get("epochs_run"))),
                             ("best epoch", plain(summary.get("best_epoch"))),
                             ("monitored", f"{plain(summary.get('monitor'))} = {num(summary.get('best_value'), 4)}"),
                             ("training time", f"{plain(summary.get('train_time_s'))} s")]))
    return blocks


def environment_section(data: dict, ctx: dict) -> list[Block]:
    """Versions, device, seeds and the source commit (of the tree that wrote this report)."""
    summary, cfg = data["summary"], data["config"]
    items = environment_items(data["environment"])
    items[-1:-1] = [("device (recorded by the run)", plain(summary.get("device"))),
                    ("deterministic", plain(cfg.get("deterministic"))), ("seed", plain(cfg.get("seed")))]
    return [KeyValues(items), Para("Versions and the source commit are those of the HistoDesk that wrote this "
                                   "report; the device is the one the run recorded when it trained.")]


def environment_items(env: dict) -> list[tuple[str, str]]:
    """HistoDesk, Python, platform and package versions, then the source commit (last)."""
    items = [("HistoDesk", env["histodesk"]), ("Python", env["python"]), ("platform", env["platform"])]
    return items + list(env["packages"].items()) + [("source commit", env["git_commit"])]
