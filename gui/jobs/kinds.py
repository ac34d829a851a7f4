"""Which view the Jobs tab shows for a job: training curves, SSL curves, classification, scan or the generic one."""

from __future__ import annotations

TRAIN, PRETRAIN, CLASSIFY, SCAN, GENERIC = "train", "pretrain", "classify", "scan", "generic"
VIEW_KINDS = (TRAIN, PRETRAIN, CLASSIFY, SCAN, GENERIC)

#: Job kinds shown by their own view; the others (split, demo, export, study, ...) get the generic one.
_BY_JOB_KIND = {"train": TRAIN, "pretrain": PRETRAIN, "predict": CLASSIFY, "classify": CLASSIFY, "scan": SCAN}
#: Modules of engine calls queued as kind "train" (so the Runs tab refreshes) that are not supervised training.
_TRAIN_KIND_MODULES = {"engine.ssl.job": PRETRAIN, "engine.ssl.label_efficiency": GENERIC}


def view_kind(job) -> str:
    """The view kind of ``job`` (one of :data:`VIEW_KINDS`).

    The SSL actions queue pretraining as kind "train"; its engine function's module tells it apart.
    """
    kind = _BY_JOB_KIND.get(job.kind, GENERIC)
    if kind == TRAIN:
        module = getattr(job.fn, "__module__", "") or ""
        kind = _TRAIN_KIND_MODULES.get(module, TRAIN)
    return kind
