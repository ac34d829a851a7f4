"""What the wizard's settings change from the chosen preset: dotted keys with the preset's and the current value.

Pure functions on config dicts (no Qt), shared by the field markers, the
preset box and the review page.
"""

from __future__ import annotations

import math
from typing import Any

#: Keys that are the dataset's own choices, never the preset's: a difference there is not "a change".
IGNORED = frozenset({"preset", "data.path", "data.importer", "data.cache", "data.max_images"})


def flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"optim": {"lr": 1e-3}}`` -> ``{"optim.lr": 1e-3}``; lists (ratios, phases) stay whole values."""
    out: dict[str, Any] = {}
    for key, value in d.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(flatten(value, name + "."))
        else:
            out[name] = value
    return out


def nest(flat: dict[str, Any]) -> dict[str, Any]:
    """The inverse of :func:`flatten`: ``{"optim.lr": 1e-3}`` -> ``{"optim": {"lr": 1e-3}}``."""
    out: dict[str, Any] = {}
    for key, value in flat.items():
        *parents, leaf = key.split(".")
        node = out
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return out


def same(a: Any, b: Any) -> bool:
    """Equal values, floats compared to a relative 1e-9 (a spin box rounds, a text field reparses)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b or a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return a == b


def changes(reference: dict[str, Any], current: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """``{dotted key: (preset value, current value)}`` for every setting that differs (dataset choices ignored)."""
    ref, cur = flatten(reference), flatten(current)
    return {key: (ref.get(key), value) for key, value in cur.items()
            if key not in IGNORED and not same(ref.get(key), value)}


def show_value(value: Any) -> str:
    """A setting as the markers and the review page write it: ``0.001``, ``none``, ``2 phases (20 + 80 epochs)``."""
    if value is None:
        return "none"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list) and value and all(isinstance(p, dict) for p in value):
        return f"{len(value)} phases ({' + '.join(str(p.get('epochs')) for p in value)} epochs)"
    if isinstance(value, list):
        return "[" + ", ".join(show_value(v) for v in value) + "]" if value else "none"
    return str(value)


def change_lines(found: dict[str, tuple[Any, Any]]) -> list[str]:
    """One ``key: preset value → current value`` line per change, in key order."""
    return [f"{key}: {show_value(was)} → {show_value(now)}" for key, (was, now) in sorted(found.items())]
