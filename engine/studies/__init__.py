"""Studies: grids of runs (recipes x seeds x patient-level folds, or x label fractions x draws) run as one job.

The functions the CLI and the GUI call::

    from engine.studies import (build_study_config, run_study, resume_study, list_studies, load_study,
                                format_study_table, study_preset_names)

    cfg = build_study_config("s1", {"dataset": "demo", "folds": 5, "epochs": 1})
    results = run_study(cfg, progress=..., cancel=...)     # a job: progress "run i/N", study-wide ETA
    results = resume_study(results["path"])                # completed runs kept, the rest run

Kinds, folder layout and results are described in :mod:`engine.studies.config`,
:mod:`engine.studies.store` and :mod:`engine.studies.aggregate`; the
label-efficiency study (:mod:`engine.ssl.label_efficiency`) is one kind.
"""

from engine.studies.aggregate import error_bars, plot_data
from engine.studies.config import RecipeConfig, StudyConfig
from engine.studies.grid import Cell, expand
from engine.studies.presets import build_study_config, study_preset_description, study_preset_names
from engine.studies.runner import resume_study, run_study
from engine.studies.store import list_studies, load_study
from engine.studies.tables import format_study_table

__all__ = ["Cell", "RecipeConfig", "StudyConfig", "build_study_config", "error_bars", "expand",
           "format_study_table", "list_studies", "load_study", "plot_data", "resume_study", "run_study",
           "study_preset_description", "study_preset_names"]
