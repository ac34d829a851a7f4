"""A study's rows (one per run) and its pooled out-of-fold entries, read back from the run folders."""

from __future__ import annotations

from typing import Any

from engine.runs import Run
from engine.studies.grid import Cell, batches_per_epoch

#: Headline test figures copied to the top level of a row (the label-efficiency plot reads them there).
TOP_FIGURES = ("accuracy", "roc_auc", "f1")


def make_row(session, cell: Cell, run: Run | None, *, ssl_run: Run | None = None, error: str | None = None,
             steps_run: int | None = None) -> dict[str, Any]:
    """The results row of ``cell``: its grid position, training-set size, status, test figures, epochs and
    optimiser steps (planned from the run's config, run as measured), and the SSL encoder's scope check."""
    records = session.train_records(cell)
    row: dict[str, Any] = {"key": cell.key, "recipe": cell.recipe, "seed": cell.seed, "fold": cell.fold,
                           "fraction": cell.fraction, "draw": cell.draw, "n_train_images": len(records),
                           "n_train_patients": len({r.patient for r in records if r.patient})}
    if session.cfg.kind == "label_efficiency":
        row["encoder"] = cell.recipe  # the label-efficiency plot's series name
    if run is None:
        row.update(status="failed", error=error, run=str(session.runs / cell.run_name))
        return row
    from engine.training.config import TrainConfig

    summary, config = run.summary, TrainConfig.from_dict(run.config)
    test = (summary.get("metrics") or {}).get("test") or {}
    row.update(status=summary.get("status"), run=str(run.path), metrics=test,
               **{k: test.get(k) for k in TOP_FIGURES}, epochs=config.total_epochs(),
               epochs_run=summary.get("epochs_run"), best_epoch=summary.get("best_epoch"))
    if summary.get("error"):
        row["error"] = summary["error"]
    if summary.get("transductive"):  # the run's SSL encoder saw some of these val/test images
        row["transductive"] = summary["transductive"]
        row.setdefault("warnings", []).append(summary["transductive"].get("message", "transductive evaluation"))
    if records:
        batches = batches_per_epoch(len(records), config.batch_size, config.sampler)
        row.update(batches_per_epoch=batches, steps_planned=batches * config.total_epochs(),
                   steps_run=steps_run if steps_run is not None else batches * int(summary.get("epochs_run") or 0))
    if session.cfg.steps:
        row["steps_budget"] = session.cfg.steps
    if ssl_run is not None:
        check = ssl_scope_check(session, cell, ssl_run)
        row["warnings"] = row.get("warnings", []) + check.pop("warnings", [])
        row.update(check)
    if not row.get("warnings"):
        row.pop("warnings", None)
    return row


def ssl_scope_check(session, cell: Cell, ssl_run: Run) -> dict[str, Any]:
    """Which images the SSL encoder saw (its own split) and how many of them are val/test of the study split."""
    from engine.data.splits import Split
    from engine.ssl.exposure import read_encoder_images

    recorded = read_encoder_images(ssl_run.path)  # older SSL runs: their split.json is what the encoder saw
    seen = set(recorded["images"]) if recorded else set(Split.load(ssl_run.file("split.json")).assignments)
    held_out = {p for p, part in session.splits[cell.fold].assignments.items() if part != "train"}
    leaked = len(seen & held_out)
    out: dict[str, Any] = {"ssl_run": str(ssl_run.path),
                           "ssl_scope": {"images_seen": len(seen), "val_test_images_seen": leaked}}
    if leaked:
        out["warnings"] = [f"The SSL encoder was pretrained on {leaked} val/test images of this split (its "
                           "scope was not honoured): its downstream test figures are optimistic."]
    return out


def update_pooled(session, cell: Cell) -> None:
    """k-fold: once every fold of ``cell``'s recipe and seed is completed, evaluate their pooled test predictions."""
    from engine.studies.aggregate import pooled_oof
    from engine.training.config import TrainConfig

    rows = [r for r in session.results["rows"] if r["recipe"] == cell.recipe and r["seed"] == cell.seed]
    if len(rows) < session.cfg.folds or any(r.get("status") != "completed" for r in rows):
        return
    runs = [r["run"] for r in sorted(rows, key=lambda r: r["fold"])]
    evaluation = TrainConfig.from_dict(Run(runs[0]).config).evaluation
    out = session.path / "pooled" / f"{cell.recipe}-s{cell.seed}"
    entry = {"recipe": cell.recipe, "seed": cell.seed, "folds": len(runs),
             **pooled_oof(runs, [r.path for r in session.catalog.records], evaluation, out)}
    others = [p for p in session.results.get("pooled", []) if (p["recipe"], p["seed"]) != (cell.recipe, cell.seed)]
    session.results["pooled"] = others + [entry]
