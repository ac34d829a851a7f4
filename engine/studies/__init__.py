"""Studies: grids of runs (recipes x seeds x patient-level folds, or x label fractions x draws) run as one job.

The functions the CLI and the GUI call::

    from engine.studies import (build_study_config, run_study, resume_study, list_studies, load_study,
                                format_study_table)
    from engine.presets import preset_names        # preset_names("study")

    cfg = build_study_config("s1", {"dataset": "demo", "folds": 5, "epochs": 1})
    results = run_study(cfg, progress=..., cancel=...)     # a job: progress "run i/N", study-wide ETA
    results = resume_study(results["path"])                # completed runs kept, the rest run

Kinds, folder layout and results are described in :mod:`engine.studies.config`,
:mod:`engine.studies.store` and :mod:`engine.studies.aggregate`; the
label-efficiency study (:mod:`engine.ssl.label_efficiency`) is one kind.
"""

import importlib

# Imported on first use (PEP 562): the CLI's parser (which lists the study presets through engine.presets)
# starts without loading the runner, the grid and the aggregates.
_LAZY = {"error_bars": "aggregate", "plot_data": "aggregate", "RecipeConfig": "config", "StudyConfig": "config",
         "Cell": "grid", "expand": "grid", "build_study_config": "presets", "resume_study": "runner",
         "run_study": "runner", "list_studies": "store", "load_study": "store", "format_study_table": "tables"}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    """The public names above, imported from their submodule when first asked for."""
    if name in _LAZY:
        value = getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
