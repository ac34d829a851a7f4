"""Label-efficiency studies: accuracy / AUC against the fraction of training labels (S1).

For every encoder initialisation (``ssl``: an SSL run's encoder, ``random``,
``imagenet`` when its weights are available) and every label fraction, one
ordinary training run (probe or fine-tune) uses ``data.train_fraction`` of the
training split, drawn by whole patients with every class kept. All runs share
one ``split.json`` (on the SSL run's own dataset, that run's split, whose
test images its encoder never saw), so val and test are the same images for
every row; a split whose test images the SSL encoder saw is refused unless
``allow_transductive``. The "random" arm is a randomly initialised encoder
with non-zero residual branches (see :mod:`engine.models.backbones`). The
study folder ``<runs_dir>/studies/<id>/`` holds ``config.json``,
``split.json``, ``results.json`` and the runs under ``runs/``.
"""

from __future__ import annotations

import copy
import dataclasses
import time
from dataclasses import field
from pathlib import Path
from typing import Any, Literal, Optional


from engine.errors import ConfigError
from engine.io_utils import read_json, write_json
from engine.jobs import CancelToken, EtaEstimator, Progress, ProgressFn, null_progress
from engine.schema import NonNegativeInt, OpenUnitFloat, PositiveInt, schema, validate
from engine.training.config import TrainConfig, deep_merge

ENCODERS = ("ssl", "random", "imagenet")
_PRETRAINED = {"random": "none", "imagenet": "imagenet"}


@schema
class LabelEfficiencyConfig:
    """What a label-efficiency study trains."""

    dataset: str = ""
    ssl_run: Optional[str] = None
    encoders: list[Literal["ssl", "random", "imagenet"]] = field(default_factory=lambda: ["ssl", "random", "imagenet"])
    fractions: list[OpenUnitFloat] = field(default_factory=lambda: [0.01, 0.1, 0.25, 1.0])
    mode: Literal["finetune", "probe"] = "finetune"
    epochs: PositiveInt = 10
    frozen_epochs: NonNegativeInt = 0
    base: dict[str, Any] = field(default_factory=dict)  # TrainConfig overrides for every run
    seed: NonNegativeInt = 0
    runs_dir: Optional[str] = None
    name: str = ""
    allow_transductive: bool = False  # the SSL encoder may have seen the test images (rows are marked)

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form for the study's config.json."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "LabelEfficiencyConfig":
        """Build and validate a study config; ConfigError when a setting cannot work."""
        cfg = validate(cls, dict(data or {}), "label_efficiency")
        cfg.fractions = sorted(float(f) for f in cfg.fractions)
        if not cfg.fractions or not cfg.encoders:
            raise ConfigError("A label-efficiency study needs at least one label fraction and one encoder.")
        if "ssl" in cfg.encoders and not cfg.ssl_run:
            raise ConfigError("The 'ssl' encoder needs an SSL run (ssl_run).")
        if not cfg.dataset:
            raise ConfigError("Choose a labelled dataset for the study.")
        return cfg


def _base_config(cfg: LabelEfficiencyConfig) -> TrainConfig:
    """The run config shared by every row (the SSL run's backbone and image size when given)."""
    overrides = deep_merge({"seed": cfg.seed}, cfg.base)
    if cfg.ssl_run:
        from engine.ssl.downstream import downstream_config

        return downstream_config(cfg.ssl_run, cfg.dataset, mode=cfg.mode, frozen_epochs=cfg.frozen_epochs,
                                 epochs=cfg.epochs, allow_transductive=cfg.allow_transductive, **overrides)
    from engine.ssl.downstream import downstream_phases

    phases = downstream_phases(cfg.mode, cfg.epochs, cfg.frozen_epochs, 1e-3, 1e-4)
    return TrainConfig.from_dict(deep_merge({"name": cfg.mode, "epochs": cfg.epochs, "data": {"path": cfg.dataset},
                                             "phases": phases}, overrides))


def _study_dir(cfg: LabelEfficiencyConfig) -> Path:
    from engine.paths import runs_dir
    from engine.runs import Run

    base = Path(cfg.runs_dir) if cfg.runs_dir else runs_dir()
    (base / "studies").mkdir(parents=True, exist_ok=True)
    path = Run.create(cfg.name or f"label-efficiency-{cfg.mode}", base / "studies").path
    (path / "checkpoints").rmdir()  # a study is not a run: its runs live in runs/
    return path


def _relay(progress: ProgressFn, index: int, n: int, clock: EtaEstimator, label: str) -> ProgressFn:
    """Map one run's progress onto the whole study (fraction of all runs, study-wide ETA)."""
    reached = [index / n]  # never moves back (evaluation events after training have their own totals)

    def forward(event: Progress) -> None:
        if event.stage == "log":
            progress(Progress("log", message=f"[{label}] {event.message}"))
            return
        frac = 1.0 if event.stage == "done" else (event.fraction or 0.0) if event.stage == "train" else 0.0
        done = reached[0] = max(reached[0], (index + frac) / n)
        eta = clock.elapsed() / done * (1 - done) if done > 0 else None
        progress(Progress("study", step=int(done * 1000), total=1000, eta_s=eta,
                          message=f"run {index + 1}/{n} {label}: {event.stage} {event.message}".strip()))
    return forward


def _row(run, encoder: str, fraction: float, records: list) -> dict:
    test = ((run.summary.get("metrics") or {}).get("test")) or {}
    return {"encoder": encoder, "fraction": fraction, "n_train_images": len(records),
            "n_train_patients": len({r.patient for r in records if r.patient}),
            "accuracy": test.get("accuracy"), "roc_auc": test.get("roc_auc"), "f1": test.get("f1"),
            "status": run.summary.get("status"), "run": str(run.path)}


def label_efficiency(config: LabelEfficiencyConfig | dict, *, progress: ProgressFn = null_progress,
                     cancel: CancelToken | None = None) -> dict:
    """Run the study; returns (and writes to results.json) ``{"rows": [...], "skipped": [...], "path", ...}``."""
    from engine.data.curation import curate
    from engine.data.splits import split_with_audit
    from engine.models.weights import weights_status
    from engine.ssl.exposure import check_encoder_exposure
    from engine.training.data_setup import load_catalog, make_loader, preflight_dataset, sample_train_fraction
    from engine.training.job import train

    cfg = config if isinstance(config, LabelEfficiencyConfig) else LabelEfficiencyConfig.from_dict(config)
    cancel = cancel or CancelToken()
    base = _base_config(cfg)
    preflight_dataset(base.data)
    catalog = load_catalog(base.data, progress, cancel)  # scanned and audited once for every run of the study
    split = split_with_audit(catalog, base.split, progress=progress, cancel=cancel, loader=make_loader(base.data))
    exposure = check_encoder_exposure(base, catalog, split) if "ssl" in cfg.encoders else None
    study = _study_dir(cfg)  # only once the study can run: a refused split leaves no folder behind
    write_json(study / "config.json", cfg.to_dict())
    split.save(study / "split.json")
    train_records = split.records(curate(catalog, split, base.data.curation_scope)[0], "train")
    results: dict[str, Any] = {"status": "running", "name": study.name, "path": str(study), "ssl_run": cfg.ssl_run,
                               "backbone": base.model.name, "mode": cfg.mode, "config": cfg.to_dict(),
                               "split_mode": split.mode, "split": split.describe(), "split_notes": split.notes,
                               "transductive": exposure, "rows": [], "skipped": []}
    encoders = list(cfg.encoders)
    if "imagenet" in encoders and not weights_status(base.model.name).available:
        encoders.remove("imagenet")
        results["skipped"].append({"encoder": "imagenet", "reason": weights_status(base.model.name).message})
    plan = [(e, f) for e in encoders for f in cfg.fractions]
    clock = EtaEstimator(len(plan))
    for i, (encoder, fraction) in enumerate(plan):
        if cancel.cancelled:
            break
        tc = copy.deepcopy(base)
        if encoder != "ssl":
            tc.model.pretrained = _PRETRAINED[encoder]
        tc.name, tc.runs_dir = f"{encoder}-{fraction:g}", str(study / "runs")
        tc.data.train_fraction, tc.split.file = fraction, str(study / "split.json")
        label = f"{encoder} {fraction:g}"
        run = train(tc, progress=_relay(progress, i, len(plan), clock, label), cancel=cancel, catalog=catalog,
                    split=split)
        records = sample_train_fraction(train_records, fraction, tc.seed if tc.data.train_fraction_seed is None
                                        else tc.data.train_fraction_seed)
        results["rows"].append(_row(run, encoder, fraction, records))
        write_json(study / "results.json", results)
    results["status"] = "cancelled" if cancel.cancelled else "completed"
    results["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
    write_json(study / "results.json", results)
    progress(Progress("done", message=f"label-efficiency study {results['status']}: {study}"))
    return results


def load_study(path: str | Path) -> dict:
    """A study's results.json (``path``: the study folder or the file), with ``"path"`` set to its folder."""
    path = Path(path)
    file = path / "results.json" if path.is_dir() else path
    if not file.exists():
        raise ConfigError(f"{path} is not a label-efficiency study (no results.json).")
    study = read_json(file)
    study["path"] = str(file.parent)
    return study


def study_plot_data(results: dict) -> dict[str, dict[str, tuple[list[float], list]]]:
    """``{encoder: {"accuracy": (fractions, values), "roc_auc": (fractions, values)}}``, fractions ascending."""
    out: dict[str, dict[str, tuple[list[float], list]]] = {}
    for encoder in dict.fromkeys(r["encoder"] for r in results.get("rows", [])):
        rows = sorted((r for r in results["rows"] if r["encoder"] == encoder), key=lambda r: r["fraction"])
        xs = [float(r["fraction"]) for r in rows]
        out[encoder] = {m: (xs, [r.get(m) for r in rows]) for m in ("accuracy", "roc_auc", "f1")}
    return out


def format_study_table(results: dict) -> str:
    """Accuracy / AUC by fraction (columns) and encoder (rows), as aligned text."""
    data = study_plot_data(results)
    fractions = sorted({x for series in data.values() for x in series["accuracy"][0]})
    lines = [f"{'encoder':<10}" + "".join(f"{f * 100:>16g}%" for f in fractions)]
    for encoder, series in data.items():
        cells = dict(zip(series["accuracy"][0], zip(series["accuracy"][1], series["roc_auc"][1])))
        text = [("{:.3f} / {}".format(a, "-" if u is None else f"{u:.3f}") if a is not None else "-")
                for a, u in (cells.get(f, (None, None)) for f in fractions)]
        lines.append(f"{encoder:<10}" + "".join(f"{t:>17}" for t in text))
    for s in results.get("skipped", []):
        lines.append(f"skipped {s['encoder']}: {s['reason']}")
    return "\n".join(lines)
