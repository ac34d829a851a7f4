"""A study's results: one row per run, mean +- std per recipe, pooled out-of-fold figures, label efficiency."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QTableWidgetItem, QTabWidget, QVBoxLayout, QWidget

from engine.run_table import ci_text
from gui.results.detail_tables import table
from gui.results.intervals import WarningBanner, ci_item, html_escape

FIGURES = (("accuracy", "accuracy"), ("balanced_accuracy", "bal. accuracy"), ("roc_auc", "ROC AUC"), ("f1", "F1"),
           ("ece", "ECE"))
RUN_COLUMNS = ["run", "recipe", "seed", "fold", "fraction", "draw", "status", "train images", "accuracy [95% CI]",
               "ROC AUC [95% CI]", "F1", "epochs"]
PATH_ROLE = Qt.ItemDataRole.UserRole + 1


def mean_std_text(stat: dict | None) -> str:
    """``0.912 ± 0.031 (n=3)``; one run: the value alone; none: ``–``."""
    if not stat:
        return "–"
    std = f" ± {stat['std']:.3f}" if stat.get("std") is not None else ""
    return f"{stat['mean']:.3f}{std} (n={stat['n']})"


def study_warnings(study: dict) -> list[str]:
    """Skipped recipes (with the reason), failed runs and per-run warnings of a study."""
    out = [f"Recipe {s.get('recipe') or s.get('encoder')} skipped: {s.get('reason')}" for s in study.get("skipped", [])]
    for row in study.get("rows", []):
        if row.get("status") not in ("completed", None):
            out.append(f"{row['key']}: {row['status']}" + (f" ({row['error']})" if row.get("error") else ""))
        out += [f"{row['key']}: {w}" for w in row.get("warnings", [])]
    if study.get("error"):
        out.append(f"The study stopped: {study['error']}")
    return out


class StudyResultsWidget(QWidget):
    """Everything a study produced; ``run_activated`` carries a run folder (double-click a row)."""

    run_activated = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.study: dict = {}
        self.header = QLabel()
        self.header.setWordWrap(True)
        self.header.setTextFormat(Qt.TextFormat.RichText)
        self.banner = WarningBanner()
        self.runs_button = QPushButton("Show runs in Runs tab")
        self.resume_button = QPushButton("Resume study")
        self.report_button = QPushButton("Export report…")
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.clicked.connect(self.reload)
        buttons = QHBoxLayout()
        for button in (self.runs_button, self.resume_button, self.report_button, self.refresh_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        self.runs_table = table(RUN_COLUMNS, stretch=False)
        self.runs_table.horizontalHeader().setStretchLastSection(True)
        self.runs_table.cellDoubleClicked.connect(self._on_double_click)
        self.aggregates = table(["recipe", "fraction", "runs"] + [f"{t} (mean ± std)" for _, t in FIGURES])
        self.pooled = table(["recipe", "seed", "folds", "images", "patients", "accuracy [95% CI]",
                             "ROC AUC [95% CI]", "every image once"], stretch=False)
        self.pooled.horizontalHeader().setStretchLastSection(True)
        self.plot = None  # the label-efficiency plot, made for label-efficiency studies only
        summary = QWidget()
        box = QVBoxLayout(summary)
        box.setContentsMargins(0, 0, 0, 0)
        box.addWidget(QLabel("<b>Test figures per recipe</b> over its completed runs (seeds, folds or draws)"))
        box.addWidget(self.aggregates)
        box.addWidget(QLabel("<b>Runs</b> (double-click one to open it in the Runs tab)"))
        box.addWidget(self.runs_table, 1)
        self.tabs = QTabWidget()
        self.tabs.addTab(summary, "Recipes and runs")
        self.tabs.addTab(self.pooled, "Pooled out-of-fold")
        layout = QVBoxLayout(self)
        layout.addWidget(self.header)
        layout.addWidget(self.banner)
        layout.addLayout(buttons)
        layout.addWidget(self.tabs, 1)

    # --- public API -------------------------------------------------------
    def load(self, path: str | Path) -> None:
        """Show the study in folder ``path``."""
        from engine.studies import load_study

        self.set_study(load_study(path))

    def reload(self) -> None:
        """Read the study's results.json again."""
        if self.study.get("path"):
            self.load(self.study["path"])

    def set_study(self, study: dict) -> None:
        """Show ``study`` (results.json as :func:`engine.studies.load_study` returns it)."""
        from engine.studies.store import study_status

        self.study = study
        status = study_status(study["path"], study) if study.get("path") else study.get("status", "?")
        cfg = study.get("config") or {}
        done = sum(r.get("status") == "completed" for r in study.get("rows", []))
        cover = study.get("coverage") or {}
        self.header.setText(
            f"<b>Study {html_escape(study.get('name', '?'))}</b> · {html_escape(study.get('kind', '?'))} · "
            f"<b>{html_escape(status)}</b> · preset {html_escape(study.get('preset') or 'custom')} · dataset "
            f"{html_escape(cfg.get('dataset', '?'))} · {done} of {study.get('n_runs') or '?'} planned runs completed"
            + (f" ({len(study['skipped'])} recipe(s) skipped)" if study.get("skipped") else "")
            + (f" · {cover.get('n_images')} images, {cover.get('n_patients')} patients" if cover else ""))
        self.resume_button.setEnabled(status not in ("completed", "running", "preparing"))
        self.banner.set_warnings(study_warnings(study), "Not every run of this study counts")
        self._fill_runs(study.get("rows", []))
        self._fill_aggregates(study.get("summaries", []))
        kind = study.get("kind")
        self.aggregates.setColumnHidden(1, kind != "label_efficiency")
        for col, shown in ((3, kind == "kfold"), (4, kind == "label_efficiency"), (5, kind == "label_efficiency")):
            self.runs_table.setColumnHidden(col, not shown)  # fold, fraction, draw: only where the grid has them
        self._fill_pooled(study.get("pooled", []))
        self.tabs.setTabEnabled(self.tabs.indexOf(self.pooled), bool(study.get("pooled")))
        self.tabs.setTabToolTip(self.tabs.indexOf(self.pooled), "k-fold studies: every image predicted once by the "
                                "fold model that never trained on it, evaluated as one set with intervals")
        self._show_plot(study)

    # --- helpers ----------------------------------------------------------
    def _fill_runs(self, rows: list[dict]) -> None:
        self.runs_table.setRowCount(len(rows))
        for r, row in enumerate(rows):
            m = row.get("metrics") or {}
            cells = [QTableWidgetItem(str(row.get(k) if row.get(k) is not None else "–"))
                     for k in ("key", "recipe", "seed", "fold", "fraction", "draw", "status")]
            cells += [ci_item(row.get("n_train_images")), ci_item(m.get("accuracy"), m.get("accuracy_ci")),
                      ci_item(m.get("roc_auc"), m.get("roc_auc_ci")), ci_item(m.get("f1")),
                      QTableWidgetItem(f"{row.get('epochs_run', '–')} / {row.get('epochs', '–')}")]
            cells[0].setToolTip(str(row.get("run", "")))
            if row.get("error"):
                cells[6].setToolTip(str(row["error"]))
            for c, item in enumerate(cells):
                item.setData(PATH_ROLE, str(row.get("run", "")))
                self.runs_table.setItem(r, c, item)

    def _fill_aggregates(self, summaries: list[dict]) -> None:
        self.aggregates.setRowCount(len(summaries))
        rows = max(2, len(summaries))
        self.aggregates.setFixedHeight(min(260, self.aggregates.horizontalHeader().sizeHint().height() + 4
                                           + rows * self.aggregates.verticalHeader().defaultSectionSize()))
        for r, entry in enumerate(summaries):
            fraction = entry.get("fraction")
            cells = [entry.get("recipe"), "–" if fraction is None else f"{fraction * 100:g}%", entry.get("n_runs")]
            cells += [mean_std_text((entry.get("figures") or {}).get(key)) for key, _ in FIGURES]
            for c, text in enumerate(cells):
                self.aggregates.setItem(r, c, QTableWidgetItem(str(text)))

    def _fill_pooled(self, pooled: list[dict]) -> None:
        self.pooled.setRowCount(len(pooled))
        for r, p in enumerate(pooled):
            m = p.get("metrics") or {}
            cells = [p.get("recipe"), p.get("seed"), p.get("folds"), p.get("n_images"), p.get("n_patients"),
                     ci_text(m.get("accuracy"), m.get("accuracy_ci")), ci_text(m.get("roc_auc"), m.get("roc_auc_ci")),
                     "yes" if p.get("covers_all") else f"no ({p.get('missing')} missing, {p.get('duplicates')} "
                                                         "repeated)"]
            for c, text in enumerate(cells):
                self.pooled.setItem(r, c, QTableWidgetItem(str(text)))

    def _show_plot(self, study: dict) -> None:
        if study.get("kind") != "label_efficiency":
            return
        if self.plot is None:
            from gui.studies.efficiency_plot import StudyEfficiencyPlotWidget

            self.plot = StudyEfficiencyPlotWidget()
            self.tabs.insertTab(0, self.plot, "Label efficiency")
            self.tabs.setCurrentIndex(0)
        self.plot.set_study(study)

    def _on_double_click(self, row: int, _col: int) -> None:
        item = self.runs_table.item(row, 0)
        if item is not None and item.data(PATH_ROLE):
            self.run_activated.emit(item.data(PATH_ROLE))
