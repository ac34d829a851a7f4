"""Feature areas that add menus, tabs and dialogs to the main window.

Each module listed in :data:`EXTENSIONS` exposes ``install(window)``, called
once when the :class:`~gui.main_window.MainWindow` is built; it adds its
actions with ``window.menu(title)`` and its tabs with ``window.tabs``. Keeping
areas (self-supervised learning, embeddings, explanations, deployment) in
their own packages keeps ``main_window.py`` small.
"""

from __future__ import annotations

import importlib
import logging

EXTENSIONS = ("gui.ssl.actions", "gui.embedding.actions", "gui.explain.actions", "gui.deploy.actions",
              "gui.results.actions", "gui.studies.actions")

log = logging.getLogger(__name__)


def install_all(window) -> list[str]:
    """Call ``install(window)`` of every extension module present; returns the installed names."""
    installed = []
    for name in EXTENSIONS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name and name.startswith(exc.name):
                log.info("GUI extension %s not present", name)
                continue
            raise
        module.install(window)
        installed.append(name)
    return installed
