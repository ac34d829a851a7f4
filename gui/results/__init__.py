"""Views of finished (or running) runs: the runs list, one run's results, and a comparison."""

from gui.results.compare import CompareRunsWidget
from gui.results.run_view import RunResultsWidget
from gui.results.runs_list import RunsListWidget

__all__ = ["CompareRunsWidget", "RunResultsWidget", "RunsListWidget"]
