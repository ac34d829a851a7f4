"""Command-line interface: ``python main.py <command>`` runs engine jobs headless."""

from engine.cli.main import main

__all__ = ["main"]
