"""The label-efficiency plot of a study: mean accuracy / AUC per label fraction with +- 1 std error bars.

It is the Self-supervised menu's :class:`~gui.ssl.label_efficiency_plot.LabelEfficiencyPlotWidget`
(same plots, log-scaled fraction axis, table) fed with the study's aggregates
(:func:`engine.studies.error_bars`: mean and std over the draws and seeds of
each fraction) instead of one value per run.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg

from gui.ssl import label_efficiency_plot as base


class StudyEfficiencyPlotWidget(base.LabelEfficiencyPlotWidget):
    """Accuracy and ROC AUC against the label fraction, one curve per recipe, error bars of +- 1 std."""

    def set_study(self, study: dict) -> None:
        """Plot the study results ``study`` (results.json of a label-efficiency study)."""
        from engine.studies import error_bars

        self.study = study
        bars = error_bars(study, tuple(key for key, _ in base.METRICS))
        self.error_items: dict[tuple[str, str], pg.ErrorBarItem] = {}
        for plot in self.plots.values():
            plot.clear()
            if plot.plotItem.legend is not None:
                plot.plotItem.legend.clear()
        self.curves.clear()
        fractions = sorted({x for series in bars.values() for xs, _m, _s in series.values() for x in xs})
        for key, plot in self.plots.items():
            for i, (recipe, series) in enumerate(bars.items()):
                keep = [(x, m, s) for x, m, s in zip(*series[key]) if m is not None and x > 0]
                if not keep:
                    continue
                pen = base._pen(recipe, i)
                self.curves[(key, recipe)] = plot.plot([x for x, _, _ in keep], [m for _, m, _ in keep], pen=pen,
                                                       symbol="o", symbolSize=7, symbolBrush=pen.color(),
                                                       name=base.NAMES.get(recipe, recipe))
                std = np.array([s or 0.0 for _, _, s in keep])
                item = pg.ErrorBarItem(x=np.log10([x for x, _, _ in keep]), y=np.array([m for _, m, _ in keep]),
                                       top=std, bottom=std, beam=0.04, pen=pen)  # log-x plot: x in log10 units
                plot.addItem(item)
                self.error_items[(key, recipe)] = item
            plot.getAxis("bottom").setTicks([[(math.log10(f), f"{f * 100:g}%") for f in fractions if f > 0]])
            if fractions:
                plot.setXRange(math.log10(min(fractions)), math.log10(max(fractions)), padding=0.08)
        self._fill_table({r: {k: (xs, ms) for k, (xs, ms, _s) in s.items()} for r, s in bars.items()}, fractions)
        self.title.setText(f"<b>Label efficiency</b> {study.get('name', '')}: mean over the patient draws, "
                           "error bars ± 1 standard deviation")

    def error_bar(self, metric: str, recipe: str) -> list[float]:
        """The +- std half-widths drawn for ``metric`` and ``recipe``."""
        item = getattr(self, "error_items", {}).get((metric, recipe))
        return [] if item is None else [float(v) for v in np.asarray(item.opts["top"])]
