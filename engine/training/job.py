"""The training job: ``train(config, progress=..., cancel=...)`` and ``resume``.

Both the CLI and the GUI's worker call these; they never touch Qt. A
cancelled job returns normally with ``summary.json`` status "cancelled" and
the best weights saved, so the run stays usable (evaluate, resume, predict).
"""

from __future__ import annotations

import os
import time
import traceback
from pathlib import Path

from engine.data.catalog import Catalog
from engine.errors import CancelledError
from engine.jobs import CancelToken, Progress, ProgressFn, null_progress
from engine.runs import Run
from engine.training import checkpoint as ckpt
from engine.training.config import TrainConfig
from engine.training.devices import describe_device, select_device
from engine.training.seeding import seed_everything


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
    run = Run(Path(run_dir)) if run_dir else Run.create(config.name or config.model.name, config.runs_dir)
    (run.path / "checkpoints").mkdir(parents=True, exist_ok=True)
    run.write("config.json", config.to_dict())
    return _execute(config, run, progress, cancel or CancelToken(), model=model, prepared=(catalog, split))


def resume(run_dir: str | Path, *, progress: ProgressFn = null_progress, cancel: CancelToken | None = None) -> Run:
    """Continue a run from its last checkpoint (after a crash, kill or cancel)."""
    from engine.evaluation.run_model import build_model

    run = Run.open(run_dir)
    config = TrainConfig.from_dict(run.config)
    model = build_model(config, 2, pretrained="none")  # the checkpoint provides the weights
    return _execute(config, run, progress, cancel or CancelToken(), model=model, resume=True)


def _prepare_split(config: TrainConfig, catalog: Catalog, run: Run, progress, cancel):
    from engine.data.splits import split_with_audit
    from engine.training.data_setup import make_loader

    # The audit hashes images through the cache, so it also warms it for training.
    split = split_with_audit(catalog, config.split, config.seed, progress=progress, cancel=cancel,
                             loader=make_loader(config.data))
    _record_split(run, split)
    return split


def _record_split(run: Run, split) -> None:
    """Save the run's split.json and log its notes (and a warning for an image-level split)."""
    for note in split.notes:
        run.log(f"Split: {note}")
    split.save(run.file("split.json"))
    if split.mode != "patient":
        run.log("WARNING: image-level split: images of one patient may be in train and test, "
                "so test figures are optimistic.")


def _execute(config: TrainConfig, run: Run, progress: ProgressFn, cancel: CancelToken, model,
             resume: bool = False, prepared: tuple = (None, None)) -> Run:
    from engine.data.splits import Split
    from engine.training.data_setup import build_run_data, load_catalog
    from engine.training.loop import Trainer

    t_start = time.time()
    try:
        device = select_device(config.device)
        if resume:
            catalog = Catalog.load(run.file("catalog.json"))
            split = Split.load(run.file("split.json"))
        else:
            run.update_summary(status="preparing", started=time.strftime("%Y-%m-%d %H:%M:%S"))
            catalog, split = prepared
            catalog = catalog if catalog is not None else load_catalog(config.data, progress, cancel)
            catalog.save(run.file("catalog.json"))
            if split is None:
                split = _prepare_split(config, catalog, run, progress, cancel)
            else:
                _record_split(run, split)
        data = build_run_data(config, catalog, split, device)
        _warm_cache(data, progress, cancel)
        if len(data.classes) != model.num_classes:
            seed_everything(config.seed + 1, config.deterministic)
            model.reset_classifier(len(data.classes), binary_single_logit=config.model.binary_single_logit,
                                   head_hidden=config.model.head_hidden, dropout=config.model.dropout)
        model = model.to(device)
        run.update_summary(status="running", classes=data.classes, device=describe_device(device),
                           split_mode=split.mode, image_level_split=split.mode != "patient",
                           counts=split.counts(catalog), leakage_ok=split.audit.get("ok") if split.audit else None,
                           model=config.model.name, preset=config.preset, pid=os.getpid())
        trainer = Trainer(config, run, data, model, device, progress, cancel)
        trainer.log(f"Training {config.model.name} on {describe_device(device)}; classes {data.classes}; "
                    f"split {split.mode}-level; {len(data.datasets['train'])} train / "
                    f"{len(data.datasets['val'])} val / {len(data.datasets['test'])} test images.")
        status = "completed"
        try:
            trainer.fit(resume=resume)
        except CancelledError:
            status = "cancelled"
            trainer.log(f"Cancelled after {trainer.batches_done} batches; keeping the best weights so far. "
                        f"Resume with `python main.py train --resume {run.path}`.")
        _finish(config, run, trainer, data, device, status, progress, t_start)
        return run
    except CancelledError:
        run.update_summary(status="cancelled")
        return run
    except Exception as exc:
        run.update_summary(status="failed", error=str(exc), traceback=traceback.format_exc())
        run.log(f"FAILED: {exc}")
        raise


def _warm_cache(data, progress, cancel) -> None:
    loader = data.datasets["train"].loader
    if hasattr(loader, "warm"):
        records = [r for ds in data.datasets.values() for r in ds.records]
        loader.warm(records, progress=progress, cancel=cancel)


def _finish(config, run, trainer, data, device, status, progress, t_start) -> None:
    from engine.evaluation.evaluate import evaluate_splits, headline
    from engine.evaluation.predictions import write_predictions_csv

    model = trainer.model
    if config.early_stopping.restore_best and run.best_weights.exists():
        ckpt.load_weights(model, run.best_weights)
    ckpt.save_weights(model, run.model_weights)
    summary = {"status": status, "epochs_run": trainer.epoch, "best_epoch": trainer.best.best_epoch,
               "monitor": trainer.best.monitor, "best_value": trainer.best.best if trainer.best.best_epoch >= 0 else None,
               "train_time_s": round(time.time() - t_start, 1)}
    if status == "completed":
        results, rows = evaluate_splits(model, data, device, amp=trainer.amp, progress=progress)
        write_predictions_csv(run.file("predictions.csv"), rows)
        run.write("evaluation.json", results)
        summary["metrics"] = {name: headline(m) for name, m in results.items()}
    summary["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
    run.update_summary(**summary)
    trainer.log(f"Run {status}: {run.path}")
    progress(Progress(stage="done", message=status, metrics=summary.get("metrics", {})))

