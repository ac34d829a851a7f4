"""Which images an SSL encoder saw, and whether a downstream split tests on them.

An SSL run writes ``encoder_images.json``: the sorted paths and content keys
(``sha1[-page]``) of every image that shaped its encoder, training or
choosing it (its validation loss picks the best epoch), and a hash of that
list, also kept in ``summary.json``. A probe, fine-tune or label-efficiency
study whose test images the encoder saw is refused (:func:`check_encoder_exposure`)
unless ``split.allow_transductive`` is set, in which case the run is marked.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from engine.errors import ConfigError, HistoDeskError
from engine.io_utils import read_json, write_json

FILE_NAME = "encoder_images.json"


def write_encoder_images(run_dir: str | Path, records: list, *, scope: str, transductive: bool,
                         downstream: bool) -> dict:
    """Write ``encoder_images.json`` for ``records`` (the images the encoder saw); returns its summary.

    ``downstream``: the run's split.json is a downstream train/val/test split (a labelled dataset or one with
    patient ids), which probes and fine-tunes of the same dataset reuse.
    """
    images = sorted({r.path for r in records})
    keys = sorted({r.key for r in records if r.sha1})
    digest = hashlib.sha1("\n".join(keys or images).encode("utf-8", "surrogateescape")).hexdigest()
    summary = {"file": FILE_NAME, "n_images": len(images), "sha1": digest, "scope": scope,
               "transductive": transductive, "downstream_split": downstream}
    write_json(Path(run_dir) / FILE_NAME, {"version": 1, **summary, "images": images, "keys": keys})
    return summary


def read_encoder_images(run_dir: str | Path) -> dict | None:
    """The run's ``encoder_images.json`` (None when it has none: not an SSL run, or one made before it existed)."""
    path = Path(run_dir) / FILE_NAME
    if not path.exists():
        return None
    try:
        data = read_json(path)
        return {**data, "images": set(data["images"]), "keys": set(data["keys"])}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise HistoDeskError(f"{path} is unreadable ({exc}); it records which images the SSL encoder saw. "
                             "Restore it or pretrain again.") from exc


def _ssl_run_of(weights: Path) -> Path | None:
    """The SSL run folder holding ``weights`` (its config.json says kind "ssl"), else None."""
    config = weights.parent / "config.json"
    try:
        return weights.parent if config.exists() and read_json(config).get("kind") == "ssl" else None
    except (OSError, ValueError, AttributeError):
        return None


def encoder_exposure(weights: str | Path, catalog, split) -> dict | None:
    """How many val and test images of ``split`` the SSL encoder ``weights`` saw; None when none (or not SSL).

    Images are matched by content key (a moved dataset still matches) and by path.
    """
    run_dir = _ssl_run_of(Path(weights))
    if run_dir is None:
        return None
    seen = read_encoder_images(run_dir)
    if seen is None:
        return {"ssl_run": str(run_dir), "known": False, "test_seen": None, "val_seen": None,
                "message": f"WARNING: SSL run {run_dir} does not record which images its encoder saw (made by an "
                           "older HistoDesk): if it pretrained on these test images, test figures are optimistic."}
    out = {"ssl_run": str(run_dir), "known": True, "scope": seen.get("scope"), "encoder_images": seen.get("sha1")}
    for name in ("val", "test"):
        records = split.records(catalog, name)
        out[f"n_{name}"] = len(records)
        out[f"{name}_seen"] = sum(1 for r in records if (r.sha1 and r.key in seen["keys"]) or r.path in seen["images"])
    if not out["test_seen"] and not out["val_seen"]:
        return None
    if out["test_seen"]:
        out["message"] = (f"WARNING: transductive evaluation: the encoder of SSL run {run_dir} saw {out['test_seen']} "
                          f"of the {out['n_test']} test images during pretraining (allowed by "
                          "split.allow_transductive); test figures are optimistic.")
    else:
        out["message"] = (f"Note: the encoder of SSL run {run_dir} saw {out['val_seen']} of the {out['n_val']} "
                          "validation images (scope train+val); the test images are unseen.")
    return out


def config_exposure(config, catalog, split) -> dict | None:
    """:func:`encoder_exposure` of a training config's ``model.pretrained`` (None unless it is a weights file)."""
    from engine.models.factory import normalize_pretrained

    weights = normalize_pretrained(config.model.pretrained)
    return encoder_exposure(weights, catalog, split) if isinstance(weights, Path) else None


def _refusal(ssl_run: str, seen: int, n_test: int, scope) -> ConfigError:
    return ConfigError(
        f"The encoder of SSL run {ssl_run} saw {seen} of the {n_test} test images of this split during "
        f"pretraining (scope {scope!r}), so test figures would be optimistic. Pretrain with scope 'train' and "
        f"use that run's split (split.file = {Path(ssl_run) / 'split.json'}, the default on the same dataset), "
        "or pass --allow-transductive (split.allow_transductive) to run anyway with the run marked transductive.")


def check_encoder_exposure(config, catalog, split) -> dict | None:
    """:func:`config_exposure`; ConfigError when the encoder saw test images of ``split`` and
    ``config.split.allow_transductive`` is not set."""
    exposure = config_exposure(config, catalog, split)
    if exposure and exposure["test_seen"] and not config.split.allow_transductive:
        raise _refusal(exposure["ssl_run"], exposure["test_seen"], exposure["n_test"], exposure["scope"])
    return exposure


def check_split_file_exposure(config) -> None:
    """Before any scan: refuse a ``split.file`` whose test images (by path) the SSL encoder in
    ``config.model.pretrained`` saw, unless ``split.allow_transductive``."""
    from engine.data.splits import Split
    from engine.models.factory import normalize_pretrained

    weights = normalize_pretrained(config.model.pretrained)
    if not config.split.file or config.split.allow_transductive or not isinstance(weights, Path):
        return
    run_dir = _ssl_run_of(weights)
    seen = read_encoder_images(run_dir) if run_dir else None
    if seen is None:
        return
    test = [p for p, s in Split.load(config.split.file).assignments.items() if s == "test"]
    hits = sum(1 for p in test if p in seen["images"])
    if hits:
        raise _refusal(str(run_dir), hits, len(test), seen.get("scope"))
