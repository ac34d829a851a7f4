"""Dataset browser: tree, lazy thumbnail grid, preview, summary charts, split view."""

from gui.dataset.browser import DatasetBrowserWidget

__all__ = ["DatasetBrowserWidget"]
