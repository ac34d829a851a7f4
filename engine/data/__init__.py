"""Datasets: image reading, importers, catalogs, splits, cache and transforms."""
