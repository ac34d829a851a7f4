"""The training job: ``train(config, progress=..., cancel=...)`` and ``resume``.

Both the CLI and the GUI's worker call these; they never touch Qt. A
cancelled job returns normally with ``summary.json`` status "cancelled" and
the best weights saved, so the run stays usable (evaluate, resume, predict).
Lock, status, log and failures follow :class:`engine.lifecycle.RunLifecycle`.
After the last epoch the weights, each split's evaluation and then
predictions.csv are written one by one; when a later step fails the earlier
ones stay, and ``resume`` of that run redoes only the missing steps.
"""

from __future__ import annotations

from pathlib import Path

from engine.data.catalog import Catalog
from engine.jobs import CancelToken, Progress, ProgressFn, null_progress
from engine.lifecycle import RunLifecycle, now
from engine.options import SplitName, literal_values
from engine.runs import Run
from engine.training import checkpoint as ckpt
from engine.training.config import TrainConfig
from engine.training.devices import describe_device, select_device
from engine.training.seeding import seed_everything

#: The splits evaluated at the end of training, in the order they are written.
SPLITS = literal_values(SplitName)


def train(config: TrainConfig | dict, *, progress: ProgressFn = null_progress, cancel: CancelToken | None = None,
          run_dir: str | Path | None = None, catalog: Catalog | None = None, split=None) -> Run:
    """Train a model as ``config`` says; returns the run folder.

    ``catalog`` and ``split`` (with its audit) may be given by a caller that trains many runs on the same
    data (a label-efficiency study), so the dataset is scanned and audited once, not once per run.
    """
    from engine.evaluation.run_model import build_model

    config = config if isinstance(config, TrainConfig) else TrainConfig.from_dict(config)
    seed_everything(config.seed, config.deterministic)
    # Built before anything is written, so missing pretrained weights fail fast
    # with a clear message and leave no half-made run behind.
    model = build_model(config, 2)
    if catalog is None:  # a missing dataset or a malformed curation file: refused before the run folder exists
        from engine.training.data_setup import preflight_dataset

        preflight_dataset(config.data)
    run = Run(Path(run_dir)) if run_dir else Run.create(config.name or config.model.name, config.runs_dir)
    (run.path / "checkpoints").mkdir(parents=True, exist_ok=True)
    return _execute(config, run, progress, cancel or CancelToken(), model=model, prepared=(catalog, split))


def resume(run_dir: str | Path, *, progress: ProgressFn = null_progress, cancel: CancelToken | None = None) -> Run:
    """Continue a run from its last checkpoint (after a crash, kill or cancel)."""
    from engine.evaluation.run_model import build_model

    run = Run.open(run_dir)
    config = TrainConfig.from_dict(run.config)
    model = build_model(config, 2, pretrained="none")  # the checkpoint provides the weights
    return _execute(config, run, progress, cancel or CancelToken(), model=model, resume=True)


def _prepare_split(config: TrainConfig, catalog: Catalog, run: Run, progress, cancel):
    """The run's split, made with the split's own seed (``split.seed``, not the init seed) on the catalog as
    scanned (curation is applied afterwards), refused when an SSL encoder saw its test images."""
    from engine.data.audit import split_with_audit
    from engine.ssl.exposure import check_encoder_exposure
    from engine.training.data_setup import make_loader

    # The audit hashes images through the cache, so it also warms it for training.
    split = split_with_audit(catalog, config.split, config.split.seed, progress=progress, cancel=cancel,
                             loader=make_loader(config.data))
    check_encoder_exposure(config, catalog, split)
    _record_split(run, split)
    return split


def _record_split(run: Run, split) -> None:
    """Save the run's split.json (and log a warning for an image-level split; the trainer logs its notes)."""
    run.write("split.json", split.to_dict())  # never recreates a deleted run folder
    if split.mode != "patient":
        run.log("WARNING: image-level split: images of one patient may be in train and test, "
                "so test figures are optimistic.")


def _execute(config: TrainConfig, run: Run, progress: ProgressFn, cancel: CancelToken, model,
             resume: bool = False, prepared: tuple = (None, None)) -> Run:
    from engine.training.data_setup import build_run_data
    from engine.training.loop import Trainer

    with RunLifecycle(run, progress, command="train --resume" if resume else "train") as life:
        progress = life.progress
        if not resume:
            run.write("config.json", config.to_dict())
        life.mark("preparing", **{"resumed" if resume else "started": now()})
        device = select_device(config.device)
        catalog, split = _run_data(config, run, progress, cancel, resume, prepared)
        data = build_run_data(config, catalog, split, device)
        _warm_cache(data, progress, cancel)
        if len(data.classes) != model.num_classes:
            seed_everything(config.seed + 1, config.deterministic)
            # same head as build_model(config, n) gives, so evaluate / explain / export reload the weights
            model.reset_classifier(len(data.classes), binary_single_logit=config.model.binary_single_logit)
        model = model.to(device)
        life.mark("running", classes=data.classes, device=describe_device(device), split_mode=split.mode,
                  image_level_split=split.mode != "patient", counts=split.counts(catalog),
                  leakage_ok=split.audit.get("ok") if split.audit else None, model=config.model.name,
                  preset=config.preset)
        trainer = Trainer(config, run, data, model, device, progress, cancel)
        trainer.log(f"Training {config.model.name} on {describe_device(device)}; classes {data.classes}; "
                    f"split {split.mode}-level; {len(data.datasets['train'])} train / "
                    f"{len(data.datasets['val'])} val / {len(data.datasets['test'])} test images.")
        status = life.fit(trainer, resume, lambda: (
            f"Cancelled after {trainer.batches_done} batches ({trainer.epoch} of {trainer.total_epochs} epochs "
            "done); keeping the best weights so far. The run can be resumed."))
        _finish(config, life, trainer, data, device, status)
    return run


def _run_data(config: TrainConfig, run: Run, progress, cancel, resume: bool, prepared: tuple):
    """(catalog, split) of the run: read back when resuming, else scanned (or given) and saved."""
    from engine.data.splits import Split
    from engine.training.data_setup import load_catalog

    if resume:
        return Catalog.load(run.file("catalog.json")), Split.load(run.file("split.json"))
    catalog, split = prepared
    catalog = catalog if catalog is not None else load_catalog(config.data, progress, cancel)
    run.write("catalog.json", catalog.to_dict())
    if split is None:
        split = _prepare_split(config, catalog, run, progress, cancel)
    else:
        _record_split(run, split)
    return catalog, split


def _warm_cache(data, progress, cancel) -> None:
    loader = data.datasets["train"].loader
    if hasattr(loader, "warm"):
        records = [r for ds in data.datasets.values() for r in ds.records]
        loader.warm(records, progress=progress, cancel=cancel)


def _finish(config, life: RunLifecycle, trainer, data, device, status: str) -> None:
    """Final weights, then (completed runs) the evaluation split by split and predictions.csv, then the
    summary. What was written stays when a later step fails; a resume redoes only the missing steps."""
    from engine.evaluation.evaluate import headline

    run = life.run
    _final_weights(config, run, trainer)
    summary = {"epochs_run": trainer.epoch, "best_epoch": trainer.best.best_epoch, "monitor": trainer.best.monitor,
               "best_value": trainer.best.best if trainer.best.best_epoch >= 0 else None,
               "train_time_s": round(life.elapsed(), 1)}
    if status == "completed":
        results = _evaluate(run, trainer, data, device, life.progress)
        summary["metrics"] = {name: headline(m) for name, m in results.items() if name in SPLITS}
    life.finish(status, **summary)
    life.progress(Progress(stage="done", message=status, metrics=summary.get("metrics", {})))


def _final_weights(config, run: Run, trainer) -> None:
    """model.safetensors of the trainer's last epoch (its best epoch with restore_best), saved once: a
    resume that trained no further epoch reloads it, so the evaluation already made with it stays valid."""
    model = trainer.model
    if run.summary.get("weights_epoch") == trainer.epoch and run.model_weights.exists():
        ckpt.load_weights(model, run.model_weights)
        return
    if config.early_stopping.restore_best and run.best_weights.exists():
        ckpt.load_weights(model, run.best_weights)
    ckpt.save_weights(model, run.model_weights)
    for name in ("evaluation.json", "predictions.csv", "calibration.json"):  # made with earlier weights
        run.file(name).unlink(missing_ok=True)
    run.update_summary(weights_epoch=trainer.epoch)


def _evaluate(run: Run, trainer, data, device, progress) -> dict:
    """evaluation.json written after each split, then predictions.csv; splits already evaluated are kept."""
    from engine.evaluation.evaluate import evaluate_splits, run_calibration
    from engine.evaluation.predictions import write_predictions_csv

    splits = [name for name in SPLITS if data.eval_loaders.get(name) is not None]
    results, rows = run.read("evaluation.json", {}), {}
    settings = trainer.config.evaluation  # temperature + threshold fitted on val once, used for every split
    calibration = run_calibration(run, trainer.model, data, device, settings, amp=trainer.amp, progress=progress)

    def evaluate(name: str) -> dict:
        found, rows[name] = evaluate_splits(trainer.model, data, device, splits=(name,), amp=trainer.amp,
                                            evaluation=settings, calibration=calibration, progress=progress)
        return found

    for name in splits:
        if name not in results:
            results.update(evaluate(name))
            run.write("evaluation.json", {n: results[n] for n in splits if n in results})
    if not run.file("predictions.csv").exists():
        for name in splits:
            if name not in rows:
                evaluate(name)
        run.check_present()
        write_predictions_csv(run.file("predictions.csv"), [r for name in splits for r in rows[name]])
    return results
