"""The self-supervised pretraining job: ``pretrain(config, progress=..., cancel=...)`` and ``resume_pretrain``.

A run folder like a training run's (``config.json`` with ``"kind": "ssl"``,
``catalog.json``, ``split.json``, ``metrics.jsonl``, ``checkpoints/last.pt``,
``train.log``, ``summary.json``) plus ``encoder.safetensors``: the encoder's
weights, loadable with ``create_model(backbone, n, pretrained=<path>)`` for
a linear probe or fine-tuning (:mod:`engine.ssl.downstream`). Labels, when the
folder has them, are only used by the kNN monitor.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from engine.data.catalog import Catalog
from engine.jobs import CancelToken, Progress, ProgressFn, null_progress
from engine.lifecycle import RunLifecycle, mark_status, now
from engine.runs import Run
from engine.ssl.config import SSLConfig
from engine.ssl.data import is_labelled
from engine.training.config import DataConfig, SplitConfig
from engine.training.data_setup import preflight_dataset
from engine.training.devices import describe_device, select_device
from engine.training.seeding import seed_everything


def pretrain(config: SSLConfig | dict, *, progress: ProgressFn = null_progress, cancel: CancelToken | None = None,
             run_dir: str | Path | None = None) -> Run:
    """Pretrain an encoder as ``config`` says; returns the run (status completed / cancelled)."""
    config = config if isinstance(config, SSLConfig) else SSLConfig.from_dict(config)  # validated, as are assignments
    seed_everything(config.seed, config.deterministic)
    encoder = build_encoder(config)  # before any file is written: missing weights fail fast
    preflight_dataset(config.data)  # so do a missing dataset and a malformed curation file
    run = Run(Path(run_dir)) if run_dir else Run.create(config.name or f"ssl-{config.method}-{config.backbone}",
                                                        config.runs_dir)
    (run.path / "checkpoints").mkdir(parents=True, exist_ok=True)
    return _execute(config, run, progress, cancel or CancelToken(), encoder)


def resume_pretrain(run_dir: str | Path, *, progress: ProgressFn = null_progress,
                    cancel: CancelToken | None = None) -> Run:
    """Continue an SSL run from its last checkpoint (after a cancel, crash or kill)."""
    run = Run.open(run_dir)
    config = SSLConfig.from_dict(run.config)
    return _execute(config, run, progress, cancel or CancelToken(), build_encoder(config, pretrained="none"),
                    resume=True)


def build_encoder(config: SSLConfig, pretrained: str | None = None):
    """The encoder (a registry model; its head is unused during pretraining)."""
    from engine.models import create_model

    return create_model(config.backbone, 2, pretrained=config.pretrained if pretrained is None else pretrained,
                        image_size=config.data.image_size, in_chans=config.in_chans)


def load_ssl_catalog(cfg: DataConfig, progress: ProgressFn = null_progress,
                     cancel: CancelToken | None = None, *, apply_curation: bool = True) -> Catalog:
    """Scan a labelled or unlabelled dataset; ``importer="auto"`` reads a folder without labels as "unlabelled".

    ``apply_curation``: the dataset's curation applied to every image (views of the whole dataset); pretraining
    passes False and applies it by split, like training.
    """
    from dataclasses import replace

    from engine import registry
    from engine.data.importers import detect_importer
    from engine.training.data_setup import load_catalog, resolve_dataset_path

    root = resolve_dataset_path(cfg.path, progress, cancel)
    importer = cfg.importer
    if importer == "auto":
        importer = detect_importer(root)
        share, _labels = registry.create("importer", importer).labelled_sample(root)
        importer = importer if share >= 0.5 else "unlabelled"
    return load_catalog(replace(cfg, path=str(root), importer=importer), progress, cancel, min_classes=0,
                        apply_curation=apply_curation)


def downstream_split(catalog: Catalog, config: SSLConfig):
    """The train / val / test split later probes and fine-tunes use (``config.split``, seed ``split.seed``);
    None for an unlabelled folder without patient ids (no labels to evaluate, nothing to leak into)."""
    from engine.data.splits import make_split

    if not (is_labelled(catalog) or catalog.has_patients):
        return None
    return make_split(catalog, config.split)


#: Parts of the downstream split the encoder trains on, by ``SSLConfig.scope``.
SCOPE_TRAIN = {"train": ("train",), "train+val": ("train",), "all": ("train", "test")}


def ssl_split(catalog: Catalog, config: SSLConfig, downstream=None):
    """The images the encoder trains on ("train") and is validated on ("val": early stopping, best encoder).

    Without a ``downstream`` split every image is used, val holding ``val_fraction`` (or 20% for the kNN
    monitor only). With one, scope "train" trains on its training images with val carved from them;
    "train+val" validates on its val images; "all" (transductive) also trains on its test images. Groups
    (patients, BreaKHis cases) are never cut; deterministic per ``split.seed``.
    """
    from dataclasses import replace

    from engine.data.splits import Split, make_split

    val = config.val_fraction or (0.2 if (config.knn_every and is_labelled(catalog)) else 0.0)
    pool = catalog.records
    held: list = []
    if downstream is not None:
        pool = [r for r in catalog.records if downstream.assignments.get(r.path) in SCOPE_TRAIN[config.scope]]
        held = downstream.records(catalog, "val") if config.scope != "train" else []
    mode: Literal["patient", "image"] = "patient" if pool and all(r.patient for r in pool) else "image"
    seed = config.split.seed
    if held or val <= 0:
        return Split({**{r.path: "train" for r in pool}, **{r.path: "val" for r in held}}, mode=mode, seed=seed,
                     ratios=[1.0, 0.0, 0.0])
    carve = SplitConfig(mode=mode, ratios=[1.0 - val, val, 0.0], seed=seed, group_by=config.split.group_by,
                        allow_no_test=True)
    return make_split(replace(catalog, records=pool, curation=None), carve)


def _prepare(config: SSLConfig, run: Run, progress, cancel, resume: bool):
    """(curated catalog, SSL split): the downstream split is saved as split.json and what the encoder sees as
    encoder_images.json; a resumed run rebuilds both from its catalog.json and split.json."""
    from engine.data.curation import curate
    from engine.data.splits import Split
    from engine.ssl.exposure import read_encoder_images

    mark_status(run, "preparing", kind="ssl", method=config.method, backbone=config.backbone,
                **{"resumed" if resume else "started": now()})
    if resume:
        catalog = Catalog.load(run.file("catalog.json"))
        if read_encoder_images(run.path) is None:  # made before pretraining respected a downstream split
            return catalog, Split.load(run.file("split.json"))
        downstream = Split.load(run.file("split.json")) if is_labelled(catalog) or catalog.has_patients else None
    else:
        catalog = load_ssl_catalog(config.data, progress, cancel, apply_curation=False)
        run.write("catalog.json", catalog.to_dict())
        downstream = downstream_split(catalog, config)
    curated, report = curate(catalog, downstream, config.data.curation_scope)
    split = ssl_split(curated, config, downstream)
    if not resume:
        run.check_present()
        (downstream or split).save(run.file("split.json"))
        _record_encoder_images(config, run, curated, split, downstream, report, progress)
    return curated, split


def _record_encoder_images(config: SSLConfig, run: Run, catalog: Catalog, split, downstream, report,
                           progress) -> None:
    """encoder_images.json, and the scope, split, curation and a transductive warning in train.log / summary."""
    from engine.data.curation import describe_report
    from engine.ssl.exposure import write_encoder_images

    transductive = downstream is not None and config.scope == "all"
    seen = [r for r in catalog.records if r.path in split.assignments]
    info = write_encoder_images(run.path, seen, scope=config.scope, transductive=transductive,
                                downstream=downstream is not None)
    lines = []
    if downstream is not None:
        counts = {s: len(downstream.records(catalog, s)) for s in ("train", "val", "test")}
        lines.append(f"Downstream split: {downstream.describe()} ({counts['train']} train / {counts['val']} val / "
                     f"{counts['test']} test images, saved as split.json for probes and fine-tunes); scope "
                     f"{config.scope!r}: the encoder sees {len(seen)} images.")
        lines += [f"Split note: {n}" for n in downstream.notes]
    lines += describe_report(report)
    if transductive:
        lines.append("WARNING: scope 'all' is transductive: the encoder is pretrained on the downstream test "
                     "images too. Probes and fine-tunes testing on them are refused unless allowed, and marked.")
    for line in lines:
        run.log(line)
        progress(Progress(stage="log", message=line))
    run.update_summary(scope=config.scope, transductive=transductive, encoder_images=info, notes=lines,
                       split_notes=list(downstream.notes) if downstream is not None else [], curation=report)


def _build_trainer(config: SSLConfig, run: Run, progress: ProgressFn, cancel: CancelToken, encoder, resume: bool):
    """Catalog, split, method and data of the run, and the :class:`SSLTrainer` over them."""
    from engine.ssl.data import build_ssl_data
    from engine.ssl.loop import SSLTrainer, build_method

    device = select_device(config.device)
    catalog, split = _prepare(config, run, progress, cancel, resume)
    method = build_method(config, encoder, catalog, split).to(device)
    data = build_ssl_data(config, catalog, split, method, device, progress, cancel)
    mark_status(run, "running", kind="ssl", method=config.method, backbone=config.backbone, model=config.backbone,
                classes=catalog.classes if data.labelled else None, device=describe_device(device),
                split_mode=split.mode, n_images={"train": len(data.train_records), "val": len(data.val_records)})
    trainer = SSLTrainer(config, run, data, method, device, progress, cancel)
    trainer.log(f"Pretraining {config.backbone} with {config.method} on {describe_device(device)}: "
                f"{len(data.train_records)} train / {len(data.val_records)} val images"
                + (f", classes {catalog.classes} (kNN monitor)" if data.labelled else ", unlabelled") + ".")
    return trainer


def _execute(config: SSLConfig, run: Run, progress: ProgressFn, cancel: CancelToken, encoder,
             resume: bool = False) -> Run:
    with RunLifecycle(run, progress, command="pretrain --resume" if resume else "pretrain") as life:
        if not resume:
            run.write("config.json", config.to_dict())
        trainer = _build_trainer(config, run, life.progress, cancel, encoder, resume)
        status = life.fit(trainer, resume, lambda: (
            f"Cancelled after epoch {trainer.epoch} of {trainer.total_epochs}; the last checkpoint is kept. "
            "The run can be resumed."))
        _finish(life, trainer, status)
    return run


def _finish(life: RunLifecycle, trainer, status: str) -> None:
    run = life.run
    run.check_present()
    trainer.save_encoder(run.file("encoder.safetensors"), best=trainer.config.restore_best)
    knn = [r["knn_acc"] for r in trainer.history if r.get("knn_acc") is not None]
    best = trainer.best if trainer.best is not None and trainer.best.found else None
    summary = {"kind": "ssl", "epochs_run": trainer.epoch,
               "best_epoch": best.best_epoch if best else None,
               "best_val_loss": best.best if best else None,
               "final_loss": trainer.history[-1]["loss"] if trainer.history else None,
               "knn_acc": knn[-1] if knn else None, "early_stopped": trainer.early_stopped,
               "encoder": "encoder.safetensors", "train_time_s": round(life.elapsed(), 1)}
    life.finish(status, **summary)
    life.progress(Progress(stage="done", message=status,
                           metrics={k: summary[k] for k in ("best_val_loss", "knn_acc")}))
