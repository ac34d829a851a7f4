"""The study job: every run of the grid queued as one job, with progress, cancel and resume.

``run_study(config, progress=, cancel=)`` validates the study, builds every
recipe's config once (nothing is written before), makes the study folder,
scans the dataset once, makes the split (one per fold) and trains the cells
in order; ``resume_study(folder)`` goes on where it stopped. A cell whose run
folder says "completed" is skipped; an interrupted, cancelled or failed run
is resumed with :func:`engine.training.job.resume` (from its last
checkpoint; started again in its folder when it has none). results.json is
rewritten atomically after every run. A recipe whose ImageNet weights cannot
be had is skipped with the :class:`~engine.errors.WeightsUnavailableError`
message recorded; another user-caused error fails that run only (its row
says why; a resume tries it again).

Progress events of stage ``"study"`` carry the share of the whole study done
(``step`` of 1000), a study-wide ETA and ``run i/N <cell>: ...`` messages.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.errors import CancelledError, HistoDeskError, WeightsUnavailableError
from engine.io_utils import read_json, write_json
from engine.jobs import CancelToken, EtaEstimator, Progress, ProgressFn, null_progress
from engine.lifecycle import FolderLifecycle
from engine.runs import Run
from engine.studies import aggregate
from engine.studies.config import StudyConfig
from engine.studies.grid import (
    Cell, check_recipes, expand, imagenet_problem, inherited_split_file, recipe, split_file_name,
)
from engine.studies.store import RESULTS, create_study_dir, load_study, write_results

if TYPE_CHECKING:
    from engine.data.catalog import Catalog


class Relay:
    """One run's progress mapped onto the whole study (share of all runs, study-wide ETA).

    Also remembers the last optimiser step the trainer reported (``steps``).
    """

    def __init__(self, progress: ProgressFn, index: int, n: int, clock: EtaEstimator, label: str,
                 start: float = 0.0, span: tuple[float, float] = (0.0, 1.0)):
        self.progress, self.index, self.n, self.clock, self.label = progress, index, n, clock, label
        self.start, self.span = start, span  # share done when this session began; this stage's part of the run
        self.reached = (index + span[0]) / n
        self.steps: int | None = None

    def __call__(self, event: Progress) -> None:
        if event.stage == "log":
            self.progress(Progress("log", message=f"[{self.label}] {event.message}"))
            return
        if event.stage == "train":
            self.steps = event.step
        inner = 1.0 if event.stage == "done" else (event.fraction or 0.0) if event.stage == "train" else 0.0
        lo, hi = self.span
        self.reached = done = max(self.reached, (self.index + lo + (hi - lo) * inner) / self.n)
        gained = done - self.start
        eta = self.clock.elapsed() / gained * (1 - done) if gained > 0 else None
        self.progress(Progress("study", step=int(done * 1000), total=1000, eta_s=eta, metrics=event.metrics,
                               message=f"run {self.index + 1}/{self.n} {self.label}: {event.stage} "
                                       f"{event.message}".strip()))


def run_status(folder: Path) -> str | None:
    """The effective status of the run in ``folder`` (None when there is no run there yet)."""
    from engine.runs import effective_status

    return effective_status(Run(folder)) if (folder / "config.json").is_file() else None


def run_study(config: StudyConfig | dict, *, progress: ProgressFn = null_progress,
              cancel: CancelToken | None = None) -> dict:
    """Run a study; returns its results (also in ``<runs_dir>/studies/<id>/results.json``)."""
    from engine.training.data_setup import resolve_dataset_path

    cfg = StudyConfig.from_dict(config.to_dict() if isinstance(config, StudyConfig) else config)
    check_recipes(cfg, Path(cfg.runs_dir or "."))  # every recipe builds, before any folder is made
    if cfg.dataset != "demo":
        resolve_dataset_path(cfg.dataset)  # DataError for a missing dataset, before any folder is made
    if cfg.kind != "kfold" and not cfg.split.file:
        cfg.split.file = inherited_split_file(cfg)
    session = StudySession(None, cfg, progress, cancel)
    session.prepare()  # scan, split, audit and the SSL-exposure check: a refused study leaves no folder behind
    path = create_study_dir(cfg.name or f"{cfg.preset or 'study'}-{cfg.kind}", cfg.runs_dir)
    write_json(path / "config.json", cfg.to_dict())
    session.attach(path)
    return session.run()


def resume_study(path: str | Path, *, progress: ProgressFn = null_progress,
                 cancel: CancelToken | None = None) -> dict:
    """Go on with a cancelled, interrupted or failed study: completed runs are kept, the others run."""
    path = Path(path)
    if not (path / "config.json").is_file():
        raise HistoDeskError(f"{path} is not a study folder (no config.json).")
    cfg = StudyConfig.from_dict(read_json(path / "config.json"))
    return StudySession(path, cfg, progress, cancel, resumed=True).run()


def _data_config(cfg: StudyConfig):
    from engine.training.config import DataConfig

    return DataConfig(path=cfg.dataset, importer=cfg.importer, max_images=cfg.max_images)


class StudyLifecycle(FolderLifecycle):
    """The lifecycle of a study folder: status and a failure's one-line error in results.json; no log of its
    own (each run of the study has its train.log; a failure's trace goes to errors.log)."""

    def __init__(self, session: "StudySession"):
        super().__init__(session.path, session.progress, "study --resume" if session.resumed else "study")
        self.session = session

    def record_status(self, status: str, **fields) -> None:
        """A failure in results.json; a cancel is recorded by :meth:`StudySession._finish` (it says what is left)."""
        results = self.session.results
        if not results or status != "failed":
            return
        results["error"] = fields.get("error")
        self.session._write(status)


class StudySession:
    """One process running (or resuming) a study folder."""

    def __init__(self, path: Path | None, cfg: StudyConfig, progress: ProgressFn, cancel: CancelToken | None,
                 resumed: bool = False):
        self.cfg, self.progress = cfg, progress
        self.cancel = cancel or CancelToken()
        self.resumed = resumed
        self.catalog: Catalog | None = None
        self.splits: dict = {}
        self.skipped: dict[str, str] = {}
        self.exposure: dict | None = None
        self.results: dict[str, Any] = {}  # filled when the study runs
        self.folder: Path | None = None  # the study folder, once it exists (attach)
        if path is not None:
            self.attach(path)

    @property
    def path(self) -> Path:
        """The study folder (set by :meth:`attach`)."""
        if self.folder is None:
            raise HistoDeskError("The study folder does not exist yet.")
        return self.folder

    @property
    def runs(self) -> Path:
        """The folder of the study's runs."""
        return self.path / "runs"

    def attach(self, path: Path) -> None:
        """Use study folder ``path``, saving the catalog and splits prepared before it existed."""
        self.folder = Path(path)
        if self.catalog is not None and not (self.path / "catalog.json").is_file():
            self.catalog.save(self.path / "catalog.json")
        for fold, split in self.splits.items():
            target = self.path / split_file_name(fold)
            if not target.is_file():
                target.parent.mkdir(parents=True, exist_ok=True)
                split.save(target)

    # --- the whole study -----------------------------------------------------
    def run(self) -> dict:
        """Prepare, run every cell not done yet, aggregate; returns the results (a cancelled study's too).

        The study folder follows :class:`StudyLifecycle`: one process at a time, the lock's heartbeat kept
        while the cells run, a deleted folder stops the study, a failure is recorded in results.json."""
        outer = self.progress
        try:
            with StudyLifecycle(self) as life:
                self.progress = life.progress
                try:
                    self._run_all(life)
                except CancelledError:
                    pass
                self._finish()
        finally:
            self.progress = outer
        return self.results

    def _run_all(self, life: StudyLifecycle) -> None:
        self.results = self._initial_results(life.lock_note)
        self._write("preparing")
        if self.catalog is None:
            self.prepare()
            life.check_present()  # deleted while the dataset was scanned: saving the catalog would recreate it
            self.attach(self.path)
        self.results.update(coverage=coverage(self.catalog, self.splits), transductive=self.exposure,
                            split_mode=next(iter(self.splits.values())).mode)
        cells = expand(self.cfg)
        self.results["n_runs"] = len(cells)
        self._run_cells(cells)

    def _initial_results(self, note: str | None) -> dict:
        old = load_study(self.path) if (self.path / RESULTS).is_file() else {}
        results = {"name": self.path.name, "path": str(self.path), "kind": self.cfg.kind,
                   "preset": self.cfg.preset, "created": old.get("created") or time.strftime("%Y-%m-%d %H:%M:%S"),
                   "config": self.cfg.to_dict(), "rows": old.get("rows", []), "skipped": [],
                   "summaries": old.get("summaries", []), "pooled": old.get("pooled", []),
                   "ssl_run": next((r.ssl_run for r in self.cfg.recipes if r.ssl_run), None),
                   "mode": next((r.downstream for r in self.cfg.recipes if r.kind != "train"), None),
                   "resumes": old.get("resumes", 0) + (1 if self.resumed else 0)}
        if note:
            results["lock_note"] = note
        return results

    def prepare(self) -> None:
        """The catalog (scanned once; read back from the folder on resume), the split of each fold (audited)
        and the check that no SSL encoder of an ``ssl_run`` recipe saw their test images."""
        from engine.data.audit import split_with_audit
        from engine.data.catalog import Catalog
        from engine.data.splits import Split
        from engine.studies.grid import split_config
        from engine.training.data_setup import load_catalog, make_loader

        folder = self.folder
        if folder is not None and (folder / "catalog.json").is_file():
            catalog = Catalog.load(folder / "catalog.json")
        else:
            catalog = load_catalog(_data_config(self.cfg), self.progress, self.cancel)
        self.catalog = catalog
        for fold in (list(range(self.cfg.folds)) if self.cfg.kind == "kfold" else [None]):
            if folder is not None and (folder / split_file_name(fold)).is_file():
                self.splits[fold] = Split.load(folder / split_file_name(fold))
                continue
            split_cfg = split_config(self.cfg, fold)
            self.splits[fold] = split_with_audit(catalog, split_cfg, split_cfg.seed, progress=self.progress,
                                                 cancel=self.cancel, loader=make_loader(_data_config(self.cfg)))
        self.exposure = self._check_exposure()

    def _check_exposure(self) -> dict | None:
        """``ssl_run`` recipes: ConfigError when the SSL encoder saw test images of a split (unless the recipe sets
        ``split.allow_transductive``); what it saw of val/test otherwise (None when nothing)."""
        from engine.ssl.exposure import check_encoder_exposure
        from engine.studies.grid import train_config

        found: dict | None = None
        for r in (r for r in self.cfg.recipes if r.kind == "ssl_run"):
            for fold, split in self.splits.items():
                config = train_config(self.cfg, Cell(r.name, self.cfg.seeds[0], fold), split_file=None,
                                      runs_dir=Path("runs"))
                found = check_encoder_exposure(config, self.catalog, split) or found
        return found

    def _run_cells(self, cells: list[Cell]) -> None:
        for r in self.cfg.recipes:  # a model without ImageNet weights: its recipe is skipped up front
            reason = imagenet_problem(self.cfg, r.name, self.runs)
            if reason:
                self._skip(r.name, reason)
        plan = [c for c in cells if c.recipe not in self.skipped]
        done = [self._completed_row(c) is not None for c in plan]
        clock = EtaEstimator(len(plan))
        start = sum(done) / max(1, len(plan))
        for index, cell in enumerate(plan):
            if self.cancel.cancelled:
                break
            if done[index] or cell.recipe in self.skipped:  # skipped meanwhile: its weights failed to load
                continue
            self._write("running")
            self._run_cell(cell, Relay(self.progress, index, len(plan), clock, cell.label, start))
            self._update_aggregates(cell)
            self._write("running")

    def _finish(self) -> dict:
        rows = {r["key"]: r for r in self.results["rows"]}
        cells = expand(self.cfg) if self.catalog is not None else []
        failed = [c for c in cells if (rows.get(c.key) or {}).get("status") == "failed"]
        if self.cancel.cancelled or any(c.key not in rows and c.recipe not in self.skipped for c in cells):
            status = "cancelled"
        else:
            status = "failed" if failed else "completed"
        self.results["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
        self._write(status)
        if status != "cancelled":
            self.progress(Progress("study", step=1000, total=1000, eta_s=0.0, message=f"study {status}"))
        self.progress(Progress("done", message=f"study {status}: {self.path}"))
        return self.results

    # --- one cell --------------------------------------------------------------
    def _completed_row(self, cell: Cell) -> dict | None:
        """The row of ``cell`` when its run completed (found in its folder even if results.json missed it)."""
        folder = self.runs / cell.run_name
        if run_status(folder) != "completed":
            return None
        row = next((r for r in self.results["rows"] if r["key"] == cell.key), None)
        if row is None or row.get("status") != "completed":
            row = self._record(cell, Run(folder))
        return row

    def _run_cell(self, cell: Cell, relay: Relay) -> None:
        r = recipe(self.cfg, cell.recipe)
        try:
            ssl_run = self._encoder(cell, relay) if r.kind == "ssl" else None
            if ssl_run is None and r.kind == "ssl":
                return  # the pretraining was cancelled
            run = self._train(cell, relay, ssl_run)
        except WeightsUnavailableError as exc:
            self._skip(cell.recipe, str(exc))
            return
        except CancelledError:
            self.cancel.cancel()
            return
        except HistoDeskError as exc:  # a user-caused problem of this run: record it, go on with the others
            self._record(cell, None, error=str(exc))
            return
        self._record(cell, run, ssl_run=ssl_run, steps_run=relay.steps)
        if run.summary.get("status") == "cancelled":
            self.cancel.cancel()

    def _train(self, cell: Cell, relay: Relay, ssl_run: Run | None) -> Run:
        from engine.studies.grid import train_config
        from engine.training.config import TrainConfig
        from engine.training.job import resume, train

        folder, split = self.runs / cell.run_name, self.splits[cell.fold]
        status = run_status(folder)
        if status == "completed":
            return Run(folder)
        if status is not None:  # cancelled, interrupted or failed: go on from its last checkpoint
            if Run(folder).last_checkpoint.is_file():
                return resume(folder, progress=relay, cancel=self.cancel)
            return train(TrainConfig.from_dict(Run(folder).config), progress=relay, cancel=self.cancel,
                         run_dir=folder, catalog=self.catalog, split=split)
        split_file = str(self.path / split_file_name(cell.fold))
        config = train_config(self.cfg, cell, split_file=split_file, runs_dir=self.runs,
                              ssl_run=ssl_run.path if ssl_run else None)
        epochs = self._budget_epochs(cell, config)
        if epochs:
            config = train_config(self.cfg, cell, split_file=split_file, runs_dir=self.runs,
                                  ssl_run=ssl_run.path if ssl_run else None, epochs=epochs)
        return train(config, progress=relay, cancel=self.cancel, run_dir=folder, catalog=self.catalog, split=split)

    def _encoder(self, cell: Cell, relay: Relay) -> Run | None:
        """The completed SSL pretraining run of pipeline ``cell`` (made or resumed first); None if cancelled."""
        from engine.ssl.config import SSLConfig
        from engine.ssl.job import pretrain, resume_pretrain
        from engine.studies.grid import ssl_config

        folder = self.runs / cell.ssl_run_name
        status = run_status(folder)
        ssl_relay = Relay(relay.progress, relay.index, relay.n, relay.clock, f"{cell.label} (SSL)", relay.start,
                          (0.0, 0.5))
        relay.span = (0.5, 1.0)
        if status == "completed":
            return Run(folder)
        if status is not None and Run(folder).last_checkpoint.is_file():
            run = resume_pretrain(folder, progress=ssl_relay, cancel=self.cancel)
        else:
            config = (SSLConfig.from_dict(Run(folder).config) if status is not None else
                      ssl_config(self.cfg, cell, split_file=str(self.path / split_file_name(cell.fold)),
                                 runs_dir=self.runs))
            run = pretrain(config, progress=ssl_relay, cancel=self.cancel, run_dir=folder)
        return run if run.summary.get("status") == "completed" else None

    def _budget_epochs(self, cell: Cell, config) -> int | None:
        """With a step budget: the epochs of ``cell`` = steps // its batches per epoch (at least 1)."""
        from engine.studies.grid import batches_per_epoch, epochs_for_steps

        if not self.cfg.steps:
            return None
        batches = batches_per_epoch(len(self.train_records(cell)), config.batch_size, config.sampler)
        return epochs_for_steps(self.cfg.steps, batches)

    def train_records(self, cell: Cell) -> list:
        """The training images of ``cell`` (curated as training applies it, then its label fraction)."""
        from engine.data.curation import curate
        from engine.training.data_setup import sample_train_fraction

        split = self.splits[cell.fold]
        scope = (self.cfg.overrides.get("data") or {}).get("curation_scope", "train")
        records = split.records(curate(self.catalog, split, scope)[0], "train")
        if cell.fraction is None or cell.fraction >= 1.0:
            return records
        return sample_train_fraction(records, cell.fraction, cell.draw or 0)

    # --- results ---------------------------------------------------------------
    def _record(self, cell: Cell, run: Run | None, *, ssl_run: Run | None = None, error: str | None = None,
                steps_run: int | None = None) -> dict:
        from engine.studies.rows import make_row

        row = make_row(self, cell, run, ssl_run=ssl_run, error=error, steps_run=steps_run)
        rows = [r for r in self.results["rows"] if r["key"] != cell.key] + [row]
        order = {c.key: i for i, c in enumerate(expand(self.cfg))}
        self.results["rows"] = sorted(rows, key=lambda r: order.get(r["key"], len(order)))
        return row

    def _skip(self, name: str, reason: str) -> None:
        self.skipped[name] = reason
        self.results["skipped"] = [{"recipe": k, "encoder": k, "reason": v} for k, v in self.skipped.items()]
        self.progress(Progress("log", message=f"Skipping recipe {name}: {reason}"))

    def _update_aggregates(self, cell: Cell) -> None:
        self.results["summaries"] = aggregate.summaries(self.results["rows"], self.cfg.kind)
        if self.cfg.kind == "kfold":
            from engine.studies.rows import update_pooled

            update_pooled(self, cell)

    def _write(self, status: str) -> None:
        self.results["status"] = status
        write_results(self.path, self.results)


def coverage(catalog, splits: dict) -> dict:
    """How often each image and patient is tested across the study's splits (k-fold: exactly once each)."""
    from collections import Counter

    tested = Counter(p for s in splits.values() for p, part in s.assignments.items() if part == "test")
    folds_of: dict[str, set] = {}
    for r in catalog.records:
        if r.patient:
            folds_of.setdefault(r.patient, set()).update(f for f, s in splits.items()
                                                         if s.assignments.get(r.path) == "test")
    out: dict[str, Any] = {"n_images": len(catalog.records), "n_patients": len(folds_of),
           "n_test_images": sum(tested.values()), "images_never_tested": sum(1 for r in catalog.records
                                                                            if not tested.get(r.path))}
    if len(splits) > 1:  # k-fold: every image and every patient in exactly one test fold
        out["images_tested_once"] = all(tested.get(r.path) == 1 for r in catalog.records)
        out["patients_in_one_test_fold"] = all(len(f) == 1 for f in folds_of.values()) if folds_of else None
    return out
