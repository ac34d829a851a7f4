"""Terminal progress: a one-line bar with ETA on a TTY, periodic lines otherwise."""

from __future__ import annotations

import sys
import time

from engine.jobs import Progress, format_duration


class TerminalProgress:
    """A progress callback printing bars, epoch summaries and log lines."""

    def __init__(self, stream=None, quiet: bool = False, min_interval: float = 0.2):
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.min_interval = min_interval if self.tty else 5.0
        self._last = 0.0
        self._open_line = False

    def __call__(self, event: Progress) -> None:
        if self.quiet:
            return
        if event.stage == "log":
            self._println(event.message)
        elif event.stage == "epoch":
            self._println(self._epoch_line(event.metrics))
        elif event.stage == "done":
            self._println(f"done: {event.message}")
        elif event.stage == "resumed":  # the rows kept, for viewers; the log line already said where it goes on
            return
        else:
            self._bar(event)

    def _bar(self, event: Progress) -> None:
        now = time.monotonic()
        final = event.total is not None and event.step >= event.total
        if now - self._last < self.min_interval and not final:
            return
        self._last = now
        frac = event.fraction
        width = 28
        bar = "#" * int(width * (frac or 0)) + "-" * (width - int(width * (frac or 0)))
        pct = f"{100 * frac:5.1f}%" if frac is not None else "  ?  "
        loss = event.metrics.get("batch_loss")
        extra = f" loss {loss:.4f}" if isinstance(loss, float) else ""
        eta = format_duration(event.eta_s)
        text = f"{event.stage:<10} [{bar}] {pct} {event.step}/{event.total or '?'} ETA {eta} {event.message}{extra}"
        if self.tty:
            self.stream.write("\r" + text[:150].ljust(150))
            self._open_line = True
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    @staticmethod
    def _epoch_line(m: dict) -> str:
        keys = ("train_loss", "train_acc", "val_loss", "val_acc", "knn_acc", "val_auc", "lr")
        parts = [f"{k} {m[k]:.4g}" for k in keys if isinstance(m.get(k), (int, float))]
        if isinstance(m.get("knn_acc"), (int, float)):  # SSL rows copy kNN accuracy into val_acc for the plots
            parts = [p for p in parts if not p.startswith("val_acc ")]
        phase = f" (phase {m['phase']})" if m.get("phase") is not None else ""
        return f"epoch {m.get('epoch')}{phase}: " + "  ".join(parts)

    def _println(self, text: str) -> None:
        if self._open_line:
            self.stream.write("\n")
            self._open_line = False
        self.stream.write(text + "\n")
        self.stream.flush()
