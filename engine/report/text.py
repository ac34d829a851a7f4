r"""Text helpers shared by the report's builders and renderers: safe text and compact numbers.

Every string that reaches a figure, the HTML or the PDF goes through
:func:`clean`: a file name's undecodable byte (a lone surrogate such as
``"\udcff"`` in a Python ``str``) becomes the visible text ``\xff`` and control
characters other than a newline are escaped, so no renderer ever sees a
character it cannot encode (engine/io_utils.py's file-name convention).
"""

from __future__ import annotations

import math
import os
import re
from functools import lru_cache
from typing import Any

from engine.io_utils import display_path

NOT_RECORDED = "not recorded for this run"


def clean(value: Any) -> str:
    """``value`` as printable text: surrogates as ``\\xNN``, control characters escaped, newlines kept."""
    text = value if isinstance(value, str) else str(value)
    return "\n".join(display_path(line) for line in text.split("\n"))


def slug(text: str, default: str = "report") -> str:
    """A file-name-safe stem of ``text`` (letters, digits, ``._-``; at most 80 characters)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", clean(text)).strip("-.")[:80] or default


def is_number(value: Any) -> bool:
    """True for a finite int or float (not a bool)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def num(value: Any, digits: int = 3) -> str:
    """A number with ``digits`` decimals (ints as they are), or ``n/a``."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return f"{value:.{digits}f}" if is_number(value) else "n/a"


def with_ci(value: Any, ci: Any, digits: int = 3) -> str:
    """``0.912 [0.850, 0.960]``; the bare value when there is no interval."""
    text = num(value, digits)
    if is_number(value) and isinstance(ci, (list, tuple)) and len(ci) == 2 and all(is_number(c) for c in ci):
        text += f" [{ci[0]:.{digits}f}, {ci[1]:.{digits}f}]"
    return text


def plain(value: Any) -> str:
    """A config or record value as short text (lists joined, floats compact, None as a dash)."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(plain(v) for v in value) or "-"
    if isinstance(value, dict):
        return "; ".join(f"{k}={plain(v)}" for k, v in value.items()) or "-"
    return clean(value)


def font_path(style: str = "") -> str | None:
    """matplotlib's DejaVu Sans (``style`` "" or "B"), or None when it is not there."""
    import matplotlib

    name = "DejaVuSans-Bold.ttf" if style == "B" else "DejaVuSans.ttf"
    path = os.path.join(matplotlib.get_data_path(), "fonts", "ttf", name)
    return path if os.path.isfile(path) else None


@lru_cache(maxsize=2)
def _coverage(path: str | None) -> frozenset[int]:
    """Code points the font at ``path`` has glyphs for (Latin-1 for the core font)."""
    if path is None:
        return frozenset(range(256))
    from fontTools.ttLib import TTFont

    return frozenset(TTFont(path, lazy=True).getBestCmap())


def printable(text, path: str | None) -> str:
    """``text`` cleaned, with characters outside the font written as ``\\uXXXX`` escapes."""
    covered = _coverage(path)
    out = clean(text)
    if all(ord(ch) in covered or ch == "\n" for ch in out):
        return out
    return "".join(ch if ord(ch) in covered or ch == "\n" else
                   (f"\\u{ord(ch):04x}" if ord(ch) < 0x10000 else f"\\U{ord(ch):08x}") for ch in out)
