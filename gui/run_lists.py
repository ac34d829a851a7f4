"""Which runs the dialogs offer: finished supervised runs with weights, or self-supervised runs.

Shared by the deploy, explain and SSL dialogs so they agree on what a usable
run is; a half-written or unreadable run folder is skipped, never fatal.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["completed_runs", "is_ssl_run", "ssl_runs"]


def is_ssl_run(run) -> bool:
    """True when ``run`` is a self-supervised pretraining run (summary or config ``kind == "ssl"``)."""
    try:
        return run.summary.get("kind") == "ssl" or run.config.get("kind") == "ssl"
    except Exception:  # noqa: BLE001 - an unreadable run is simply not offered
        return False


def ssl_runs(runs_dir: str | Path | None = None) -> list:
    """The SSL runs under ``runs_dir`` (the default runs folder when None), newest first."""
    from engine.runs import list_runs

    return [run for run in list_runs(runs_dir) if is_ssl_run(run)]


def completed_runs(runs_dir: str | Path | None) -> list:
    """Finished supervised training runs with saved weights in ``runs_dir`` (newest first); SSL runs excluded."""
    from engine.runs import list_runs

    runs = []
    for run in list_runs(runs_dir):
        try:
            summary = run.summary
        except Exception:  # noqa: BLE001 - a half-written run is skipped, never fatal
            continue
        if summary.get("status") == "completed" and summary.get("kind", "train") != "ssl" \
                and run.model_weights.exists():
            runs.append(run)
    return runs
