"""Opening a dataset, transactionally: scan it, and only then show it (and preview its split).

The window's dataset (path, catalog, split), title, recent list and the wizards' defaults change only when
the new dataset's scan has succeeded (:meth:`MainWindow.show_dataset`); a failed scan leaves all of it as it
was and says why: the browser's notice line, the status bar and the Jobs tab's error dialog. The split
preview is a bookkeeping step nested under the job that opened the dataset in the Jobs tab.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Slot

from gui.workers import Job


# Engine calls run as jobs; engine modules are looked up at call time so tests can patch them.
def _generate_demo_job(*, progress, cancel):
    from engine.data import demo
    return demo.generate_demo(progress=progress, cancel=cancel)


def _scan_job(path, *, progress, cancel):
    from engine.data.importers import scan
    return scan(path, progress=progress, cancel=cancel)


def _split_job(catalog, *, progress, cancel):
    from engine.data.audit import split_with_audit
    from engine.training.config import SplitConfig
    # a preview: a dataset too small for a test split (idc-sample's 2 patients) is shown with a note, not refused
    return split_with_audit(catalog, SplitConfig(allow_no_test=True), progress=progress, cancel=cancel)


def dataset_name(path: str) -> str:
    """The name a dataset is shown by (its folder or file name)."""
    return Path(path).name or str(path)


class DatasetOpener(QObject):
    """Queues the jobs that open a dataset for ``window`` (a MainWindow) and commits the result to it."""

    def __init__(self, window):
        super().__init__(window)
        self.window = window
        self._scans: dict[int, str] = {}  # id of a scan job not yet ended -> the path it opens
        window.queue.job_failed.connect(self._on_job_failed)
        window.queue.job_finished.connect(self._on_job_finished)

    def open_demo(self) -> Job:
        """Generate (if needed) and open the built-in demo dataset; the scan and split nest under this job."""
        job = Job("Generate demo dataset", _generate_demo_job, kind="demo")
        job.on_finished = lambda path: self.open(str(path), parent=job)
        return self.window.queue.add(job)

    def open(self, path: str, parent: Job | None = None) -> Job:
        """Queue the scan of ``path``; the window shows the dataset only once the scan has succeeded."""
        path = str(path)
        scan = Job(f"Scan {dataset_name(path)}", _scan_job, (path,), kind="scan", parent=parent)
        scan.on_finished = lambda catalog: self._commit(path, catalog, scan.parent or scan)
        self._scans[scan.id] = path
        self.window.browser.set_notice(f"Opening {dataset_name(path)}...")
        return self.window.queue.add(scan)

    def _commit(self, path: str, catalog, owner: Job) -> None:
        """The scan succeeded: show the dataset, then preview its split (a step nested under ``owner``)."""
        self.window.show_dataset(path, catalog)
        split = Job(f"Split {dataset_name(path)}", _split_job, (catalog,), kind="split", parent=owner)
        split.on_finished = lambda result: self._on_split_ready(catalog, result)
        self.window.queue.add(split)

    def _on_split_ready(self, catalog, split) -> None:
        if catalog is self.window.catalog:  # not a dataset replaced by a newer one meanwhile
            self.window.show_split(split)

    @Slot(object, str, str)
    def _on_job_failed(self, job: Job, message: str, _tb: str) -> None:
        path = self._scans.pop(job.id, None)
        if path is None:
            return
        shown = self.window.dataset_path
        still = f" Still showing {dataset_name(shown)}." if shown else ""
        self.window.browser.set_notice(f"Could not open {dataset_name(path)}: {message}{still}", error=True)

    @Slot(object)
    def _on_job_finished(self, job: Job) -> None:
        """Done (the commit already ran) or cancelled: the notice goes."""
        if self._scans.pop(job.id, None) is not None:
            self.window.browser.set_notice("")
