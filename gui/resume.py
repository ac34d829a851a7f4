"""Resume a cancelled or interrupted run from the app: the Runs tab's Resume and Train > Resume run...

Which runs can be resumed, and why not (:func:`resume_block`); the job that resumes one, training or SSL
pretraining, with its curves starting from the run's earlier epochs (:func:`resume_run`); the message a
cancel leaves (:func:`cancelled_message`). No message here tells the user to type a command: the engine's
are command-neutral and the CLI adds its own ``--resume`` hint.
"""

from __future__ import annotations

from pathlib import Path

from engine.errors import HistoDeskError
from engine.run_table import RunRow, run_row
from engine.runs import Run
from gui import errors
from gui.extensions import Extension, ExtensionHost
from gui.run_lists import is_ssl_run
from gui.workers import QUEUED, RUNNING, Job

#: Statuses a run can be resumed from ("interrupted": its process died while it ran).
RESUMABLE = ("cancelled", "interrupted")
#: What a GUI user does to go on with a cancelled or interrupted run.
RESUME_HINT = "Resume it from the Runs tab (Resume)."
_WHY_NOT = {
    "completed": "It is completed: there is nothing left to resume.",
    "failed": "It failed: resuming would meet the same error. Read it in the run's header, fix the cause and "
              "train again.",
    "running": "It is running now.",
    "preparing": "It is being prepared now.",
    "unreadable": "Its summary.json cannot be read.",
}


def resume_block(row: RunRow, queue=None) -> str:
    """Why the run of ``row`` cannot be resumed now (one line), or "" when it can.

    ``queue``: the window's JobQueue, so a run already queued to resume is not queued twice.
    """
    if row.status not in RESUMABLE:
        return _WHY_NOT.get(row.status, f"Its status is {row.status}: only cancelled and interrupted runs resume.")
    if row.study:
        return f"It belongs to the study {row.study}: resume the study (Study > Resume study...)."
    if not row.run.last_checkpoint.exists():
        return "It never finished an epoch, so there is no checkpoint to go on from: train it again."
    if queue is not None and _queued(queue, row.run.path):
        return "It is already queued to resume (Jobs tab)."
    return ""


def _queued(queue, path: Path) -> bool:
    target = str(Path(path).resolve())
    return any(job.state in (QUEUED, RUNNING) and job.args and isinstance(job.args[0], (str, Path))
               and str(Path(job.args[0]).resolve()) == target for job in queue.jobs)


def epochs_done(row: RunRow) -> int:
    """Epochs the run finished (its metrics rows when an interrupted run's summary has no count)."""
    if row.epochs_run is not None:
        return int(row.epochs_run)
    try:
        return len(row.run.metrics())
    except (HistoDeskError, OSError, ValueError):
        return 0


def cancelled_message(run: Run) -> str:
    """``Cancelled after epoch 3 of 10. Resume it from the Runs tab (Resume).`` for a cancelled run."""
    row = run_row(run)
    total = f" of {row.epochs_total}" if row.epochs_total else ""
    return f"Cancelled after epoch {epochs_done(row)}{total}. {RESUME_HINT}"


def earlier_rows(run_dir: str | Path) -> list[dict]:
    """The run's per-epoch rows so far (metrics.jsonl), which a resume job's curves start from."""
    try:
        return Run(Path(run_dir)).metrics()
    except (HistoDeskError, OSError, ValueError):
        return []


def queue_resume(window: ExtensionHost, title: str, fn, run_dir: str | Path) -> Job:
    """Queue ``fn(run_dir)`` (a resume) as a "train" job whose curves start with the run's earlier epochs;
    the engine's "resumed" event then replaces them with the rows its checkpoint kept."""
    job = Job(title, fn, (str(run_dir),), kind="train")
    job.history = earlier_rows(run_dir)
    return window.show_job(window.queue.add(job))


def resume_run(window: ExtensionHost, run_dir: str | Path) -> Job:
    """Queue the resume of ``run_dir``: SSL pretraining for an SSL run, else training."""
    name = Path(run_dir).name
    if is_ssl_run(Run(Path(run_dir))):
        from engine.ssl.job import resume_pretrain

        return queue_resume(window, f"Resume pretraining {name}", resume_pretrain, run_dir)
    from engine.training.job import resume

    return queue_resume(window, f"Resume {name}", resume, run_dir)


class ResumeActions(Extension):
    """The Runs tab's Resume (button and context menu) and Train > Resume run...; ``dialog``: the last one."""

    def __init__(self, window: ExtensionHost):
        super().__init__(window)
        self.dialog = None
        self.button = window.runs_tab.add_run_action("Resume", self.resume_selected,
                                                     "Go on with a cancelled or interrupted run from its last epoch")
        self.action = window.runs_tab.run_actions[-1][1]
        window.runs_list.table.itemSelectionChanged.connect(self.update)
        for signal in (window.queue.job_added, window.queue.job_finished, window.queue.job_failed):
            signal.connect(lambda *_args: self.update())
        self.update()

    def selected_row(self) -> RunRow | None:
        """The runs-table row of the (first) selected run."""
        runs = self.window.runs_tab.selected_runs()
        if not runs:
            return None
        return next((row for row in self.window.runs_list.rows if row.run.path == runs[0].path), None)

    def update(self) -> None:
        """Enable Resume for a resumable selected run; otherwise its tooltip says why not."""
        row = self.selected_row()
        why = resume_block(row, self.window.queue) if row is not None else "Select a cancelled or interrupted run."
        tip = f"Go on with {row.run.id} from epoch {epochs_done(row) + 1}" if row is not None and not why \
            else f"Cannot resume: {why}"
        for widget in (self.button, self.action):
            widget.setEnabled(not why)
            widget.setToolTip(tip)

    def resume_selected(self) -> Job | None:
        """Queue the resume of the selected run (refused with a one-line message when it cannot resume)."""
        row = self.selected_row()
        return self.resume_row(row) if row is not None else None

    def resume_row(self, row: RunRow) -> Job | None:
        """Queue the resume of ``row``'s run, or say in one line why it cannot be resumed."""
        why = resume_block(row, self.window.queue)
        if why:
            errors.show_error(self.window, "Resume run", f"{row.run.id} cannot be resumed. {why}")
            return None
        job = resume_run(self.window, row.run.path)
        self.update()
        return job

    def resume_folder(self, path: str) -> Job | None:
        """Resume the run in folder ``path`` (from "Other folder..."), or say why it cannot be."""
        try:
            run = Run.open(path)
        except HistoDeskError as exc:
            errors.show_error(self.window, "Resume run", str(exc))
            return None
        return self.resume_row(run_row(run))

    def open_dialog(self, ssl_only: bool = False):
        """Train > Resume run...: the resumable runs (status, epochs done) plus "Other folder..."; ``ssl_only``:
        only self-supervised runs (Self-supervised > Resume pretraining...)."""
        from gui.resume_dialog import ResumeRunDialog

        self.window.refresh_runs()
        rows = [row for row in self.window.runs_list.rows if not resume_block(row, self.window.queue)
                and (not ssl_only or is_ssl_run(row.run))]
        dialog = ResumeRunDialog(rows, self.window, runs_dir=self.window.runs_dir)
        dialog.chosen.connect(lambda row: self.resume_row(row))
        dialog.other_folder.connect(self.resume_folder)
        self.dialog = dialog
        dialog.open()
        return dialog


def install(window: ExtensionHost) -> ResumeActions:
    """Add Resume to the Runs tab and Train > Resume run... to ``window``; registers :class:`ResumeActions`."""
    actions = window.register(ResumeActions(window))
    window.add_action(window.menu("&Train"), "Resume run...", lambda: actions.open_dialog())
    return actions
