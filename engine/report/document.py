"""The report as plain blocks, rendered alike by :mod:`engine.report.html` and :mod:`engine.report.pdf`.

Builders (:mod:`engine.report.run_sections`, :mod:`engine.report.study`)
turn collected data into a :class:`Document`: sections of paragraphs,
notes, key-value lists, tables, figures (PNG bytes) and image galleries.
Both renderers walk the same blocks, so the HTML and the PDF always hold the
same sections, tables and figures. Text in blocks is raw; renderers clean it
(:func:`engine.report.text.clean`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Union

#: Pixels per inch of the report's figures: a renderer shows a PNG at (pixels / DPI) inches at most.
DPI = 110


@dataclass
class Para:
    """A paragraph of text."""

    text: str


@dataclass
class Note:
    """A highlighted line: ``kind`` "warning" (shown prominently), "missing" (not recorded) or "info"."""

    text: str
    kind: str = "missing"


@dataclass
class Heading:
    """A sub-heading inside a section; ``anchor`` makes it a link target."""

    text: str
    anchor: str = ""


@dataclass
class Link:
    """Table-cell text that links to a :class:`Heading` anchor of the same report."""

    text: str
    anchor: str


@dataclass
class KeyValues:
    """Label / value pairs shown as a two-column table."""

    items: list[tuple[str, str]]


@dataclass
class Table:
    """A table: ``header`` then ``rows`` of cells (text or :class:`Link`); ``widths`` are relative."""

    header: list[str]
    rows: Sequence[Sequence[Union[str, Link]]]  # Sequence: a list of plain-text rows is one too
    caption: str = ""
    widths: list[float] | None = None


@dataclass
class Figure:
    """A PNG figure; ``width`` is the fraction of the text width it takes."""

    png: bytes
    caption: str
    width: float = 1.0


@dataclass
class Gallery:
    """Small captioned PNGs laid out in a grid (the worst-errors gallery)."""

    items: list[tuple[bytes, str]]
    caption: str = ""


Block = Union[Para, Note, Heading, KeyValues, Table, Figure, Gallery]

#: ``(id, title, builder)`` of one report section; ``builder(data, ctx)`` returns its blocks.
SectionSpec = tuple[str, str, Callable[[dict, dict], list]]


@dataclass
class Section:
    """A numbered section of the report."""

    id: str
    title: str
    blocks: list[Block] = field(default_factory=list)


@dataclass
class Document:
    """A whole report: title block, prominent warnings, then the sections."""

    title: str
    subtitle: str
    meta: list[tuple[str, str]]
    warnings: list[str]
    sections: list[Section]
    generated: str

    def figures(self) -> int:
        """The number of images in the document (figures and gallery items)."""
        return sum(1 if isinstance(b, Figure) else len(b.items) if isinstance(b, Gallery) else 0
                   for s in self.sections for b in s.blocks)
