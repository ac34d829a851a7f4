"""The report's figures: matplotlib on the Agg canvas (never pyplot or a GUI backend), returned as PNG bytes.

Every label goes through :func:`fig_text` and mathtext is off
(``text.parse_math``), so a class name with ``$`` or an undecodable byte
draws as text and never raises.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib import rc_context
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator, NullFormatter

from engine.report.document import DPI
from engine.report.text import font_path, is_number, printable

STYLE: Any = {  # Any: matplotlib types rc keys as one Literal of every rc name
    "text.parse_math": False, "font.family": "DejaVu Sans", "font.size": 9, "axes.titlesize": 10,
    "axes.grid": True, "grid.alpha": 0.3, "legend.fontsize": 8, "legend.framealpha": 0.8}
COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf")


def fig_text(text) -> str:
    """Text the figure font can draw (file-name bytes and characters it lacks as escapes)."""
    return printable(text, font_path())


def _render(draw, size: tuple[float, float], ncols: int = 1, nrows: int = 1) -> bytes:
    """Call ``draw(axes)`` on a new figure of ``size`` inches and return it as PNG bytes."""
    with rc_context(STYLE):
        fig = Figure(figsize=size, dpi=DPI)
        FigureCanvasAgg(fig)
        axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
        draw(axes)
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=DPI)
    return buf.getvalue()


def _series(rows: Sequence[dict], key: str) -> tuple[list, list]:
    pairs = [(r.get("epoch", i + 1), r[key]) for i, r in enumerate(rows) if is_number(r.get(key))]
    return [p[0] for p in pairs], [p[1] for p in pairs]


def training_curves(rows: Sequence[dict]) -> bytes | None:
    """Loss, accuracy/AUC/F1 and learning rate per epoch (phase changes dashed); None without epochs."""
    panels = [("loss", ("train_loss", "val_loss")),
              ("accuracy / AUC", ("train_acc", "val_acc", "val_auc", "val_f1", "knn_acc")),
              ("learning rate", ("lr",))]
    copied = all(r.get("val_acc") == r.get("knn_acc") for r in rows)  # SSL rows copy kNN accuracy into val_acc
    shown = [(t, [k for k in keys if _series(rows, k)[0] and not (copied and k == "val_acc")]) for t, keys in panels]
    shown = [p for p in shown if p[1]]
    if not shown:
        return None
    changes = [r.get("epoch") for prev, r in zip(rows, rows[1:]) if r.get("phase") != prev.get("phase")]

    def draw(axes):
        for ax, (title, keys) in zip(axes, shown):
            for k, key in enumerate(keys):
                x, y = _series(rows, key)
                ax.plot(x, y, marker="o" if len(x) < 30 else None, ms=3, color=COLORS[k], label=key)
            for epoch in changes:
                if is_number(epoch):
                    ax.axvline(epoch - 0.5, color="grey", ls="--", lw=0.8)
            lrs = _series(rows, "lr")[1]
            if title == "learning rate" and min(lrs) == max(lrs):
                ax.set_ylim(0, max(lrs) * 1.5 or 1.0)
            elif title == "learning rate" and min(lrs) > 0 and max(lrs) / min(lrs) >= 10:
                ax.set_yscale("log")
                ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
                ax.yaxis.set_minor_formatter(NullFormatter())
            ax.set_title(title)
            ax.set_xlabel("epoch")
            _epoch_ticks(ax, rows)
            ax.legend(loc="best")

    return _render(draw, (3.0 * len(shown), 2.8), ncols=len(shown))


def _epoch_ticks(ax, rows: Sequence[dict]) -> None:
    """Whole-number epoch ticks (every epoch when there are few; a single epoch centred)."""
    epochs = sorted({r["epoch"] for r in rows if is_number(r.get("epoch"))})
    if len(epochs) <= 12 and epochs:
        ax.set_xticks(epochs)
        if len(epochs) == 1:
            ax.set_xlim(epochs[0] - 1, epochs[0] + 1)
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def confusion(counts: Sequence[Sequence[int]], normalised: Sequence[Sequence[float]] | None,
              classes: Sequence[str]) -> bytes:
    """The confusion matrix as counts and normalised by true class (rows), side by side."""
    cm = np.asarray(counts, dtype=float)
    norm = np.asarray(normalised, dtype=float) if normalised is not None else \
        np.divide(cm, cm.sum(1, keepdims=True), out=np.zeros_like(cm), where=cm.sum(1, keepdims=True) > 0)
    names = [fig_text(c)[:24] for c in classes]
    annotate = len(names) <= 12
    tilt = len(names) > 3 or sum(len(n) for n in names) > 24

    def draw(axes):
        for ax, matrix, title, fmt in ((axes[0], cm, "counts", "{:.0f}"), (axes[1], norm, "normalised by true class",
                                                                           "{:.2f}")):
            ax.grid(False)
            ax.imshow(matrix, cmap="Blues", vmin=0, vmax=max(matrix.max(), 1e-9))
            ax.set_xticks(range(len(names)), names, rotation=30 if tilt else 0, ha="right" if tilt else "center")
            ax.set_yticks(range(len(names)), names)
            ax.set_xlabel("predicted")
            ax.set_ylabel("true")
            ax.set_title(title)
            if annotate:
                top = matrix.max() or 1.0
                for i in range(matrix.shape[0]):
                    for j in range(matrix.shape[1]):
                        ax.text(j, i, fmt.format(matrix[i, j]), ha="center", va="center", fontsize=8,
                                color="white" if matrix[i, j] > 0.6 * top else "black")

    side = min(3.6, 1.8 + 0.35 * len(names)) + (0.012 * max(len(n) for n in names) * 8 if tilt else 0)
    return _render(draw, (min(2 * side + 0.6, 7.6), side), ncols=2)


def roc_pr(curves: Sequence[dict[str, Any]]) -> bytes:
    """ROC and PR panels; each curve ``{label, fpr, tpr, recall, precision, band}`` (band from bands.py)."""

    def draw(axes):
        roc_ax, pr_ax = axes
        roc_ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls=":")
        for k, c in enumerate(curves):
            color = COLORS[k % len(COLORS)]
            band = c.get("band") or {}
            if c.get("fpr"):
                roc_ax.plot(c["fpr"], c["tpr"], color=color, lw=1.5, label=fig_text(c["roc_label"]))
            if band.get("roc_lo") is not None:
                roc_ax.fill_between(band["grid"], band["roc_lo"], band["roc_hi"], color=color, alpha=0.2, lw=0)
            if c.get("recall"):
                pr_ax.plot(c["recall"], c["precision"], color=color, lw=1.5, label=fig_text(c["pr_label"]))
            if band.get("pr_lo") is not None:
                pr_ax.fill_between(band["grid"], band["pr_lo"], band["pr_hi"], color=color, alpha=0.2, lw=0)
        for ax, title, xl, yl in ((roc_ax, "ROC", "false positive rate", "true positive rate"),
                                  (pr_ax, "precision-recall", "recall", "precision")):
            ax.set_xlim(-0.02, 1.02)
            ax.set_ylim(-0.02, 1.02)
            ax.set_title(title)
            ax.set_xlabel(xl)
            ax.set_ylabel(yl)
            if ax.get_legend_handles_labels()[0]:
                ax.legend(loc="lower right" if ax is roc_ax else "lower left")

    return _render(draw, (7.4, 3.5), ncols=2)


def reliability(bins: Sequence[dict], raw_bins: Sequence[dict] | None = None) -> bytes:
    """Reliability diagram (accuracy against mean confidence per bin) and the confidence histogram."""

    def points(rows):
        kept = [b for b in rows if b.get("count") and is_number(b.get("confidence")) and is_number(b.get("accuracy"))]
        return [b["confidence"] for b in kept], [b["accuracy"] for b in kept], [b["count"] for b in kept]

    def draw(axes):
        ax, hist = axes
        ax.plot([0, 1], [0, 1], color="grey", ls=":", lw=0.8, label="perfect calibration")
        x, y, _ = points(bins)
        ax.plot(x, y, marker="o", color=COLORS[0], label="reported (after temperature)" if raw_bins else "model")
        if raw_bins:
            rx, ry, _ = points(raw_bins)
            ax.plot(rx, ry, marker="s", ms=3, ls="--", color=COLORS[1], label="before temperature")
        ax.set_xlim(0, 1.02)
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("mean confidence (top class)")
        ax.set_ylabel("accuracy")
        ax.set_title("reliability diagram")
        ax.legend(loc="lower right")
        centres = [(b["lower"] + b["upper"]) / 2 for b in bins]
        widths = [b["upper"] - b["lower"] for b in bins]
        hist.bar(centres, [b.get("count") or 0 for b in bins], width=widths, color=COLORS[0], alpha=0.7,
                 edgecolor="white")
        hist.set_xlim(0, 1.02)
        hist.set_xlabel("confidence")
        hist.set_ylabel("images")
        hist.set_title("confidence histogram")

    return _render(draw, (7.4, 3.2), ncols=2)


def error_bars(series: dict[str, dict[str, list]], metrics: Sequence[str], xlabel: str, log_x: bool) -> bytes:
    """Mean +- std per x value, one line per group: ``{group: {"x", <metric>: means, <metric>_std: stds}}``."""

    def draw(axes):
        for ax, metric in zip(axes, metrics):
            for k, (group, s) in enumerate(series.items()):
                ys = s.get(metric) or []
                pts = [(x, m, sd) for x, m, sd in zip(s["x"], ys, s.get(metric + "_std") or [0] * len(ys))
                       if is_number(m)]
                if pts:
                    ax.errorbar([p[0] for p in pts], [p[1] for p in pts], yerr=[p[2] or 0 for p in pts],
                                marker="o", ms=4, capsize=3, color=COLORS[k % len(COLORS)], label=fig_text(group)[:30])
            if log_x:
                ax.set_xscale("log")
            ax.set_xlabel(xlabel)
            ax.set_title(f"{metric} (mean +- std)")
            if ax.get_legend_handles_labels()[0]:
                ax.legend(loc="lower right")

    return _render(draw, (3.7 * len(metrics), 3.2), ncols=len(metrics))


def spread(groups: dict[str, list[float]], metric: str) -> bytes:
    """Each run's ``metric`` as a dot per group, with the group's mean +- std as a bar."""
    names = list(groups)

    def draw(axes):
        ax = axes[0]
        for k, name in enumerate(names):
            values = [v for v in groups[name] if is_number(v)]
            if not values:
                continue
            color = COLORS[k % len(COLORS)]
            jitter = np.linspace(-0.12, 0.12, len(values)) if len(values) > 1 else [0.0]
            ax.scatter(np.full(len(values), k) + jitter, values, s=14, color=color, zorder=3)
            sd = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
            ax.errorbar([k + 0.3], [float(np.mean(values))], yerr=[sd], fmt="D", ms=5, capsize=4, color=color)
        ax.set_xticks(range(len(names)), [fig_text(n)[:22] for n in names], rotation=20 if len(names) > 3 else 0)
        ax.set_ylabel(metric)
        ax.set_title(f"{metric}: runs (dots), mean +- std (diamond)")

    return _render(draw, (min(7.4, 3.6 + 0.9 * len(names)), 2.8))
