"""The PDF version of a :class:`~engine.report.document.Document` (fpdf2): the same sections, tables and figures.

A4 pages with a header (report title, date) and a footer ("page n of N");
every section is a PDF bookmark. Text uses the DejaVu Sans TrueType font
that ships with matplotlib, so any class name or path prints; a character
the font lacks (e.g. CJK) is written as its ``\\uXXXX`` escape instead of
vanishing, and an undecodable file-name byte as ``\\xNN``
(:func:`engine.report.text.clean`). Without that font the core Helvetica
font is used with Latin-1 text (other characters escaped the same way).
"""

from __future__ import annotations

import io
from collections.abc import Sequence

from engine.report.document import DPI, Document, Figure, Gallery, Heading, KeyValues, Link, Note, Para, Table
from engine.report.text import clean, font_path, printable

FONT = "DejaVu"
NOTE_COLORS = {"warning": ((253, 236, 234), (160, 30, 20)), "info": ((234, 243, 251), (20, 60, 110)),
               "missing": ((242, 244, 246), (70, 70, 70))}


class ReportPDF:
    """Renders a Document page by page; :meth:`render` returns the PDF bytes."""

    def __init__(self, doc: Document, compress: bool = True):
        from fpdf import FPDF

        self.doc = doc
        self.path = font_path()
        outer = self

        class _PDF(FPDF):
            def header(self):
                outer._header()

            def footer(self):
                outer._footer()

        self.pdf = _PDF(orientation="P", unit="mm", format="A4")
        self.pdf.set_compression(compress)
        self.pdf.set_margins(15, 16, 15)
        self.pdf.set_auto_page_break(True, margin=16)
        self.pdf.set_title(self.t(doc.title))
        self.pdf.set_creator("HistoDesk")
        if self.path and font_path("B"):
            self.pdf.add_font(FONT, "", self.path)
            self.pdf.add_font(FONT, "B", font_path("B"))
            self.family = FONT
        else:
            self.path, self.family = None, "helvetica"
        self.links: dict[str, int] = {}

    # --- text -------------------------------------------------------------
    def t(self, text) -> str:
        """Text the current font can print."""
        return printable(text, self.path)

    def font(self, size: float, bold: bool = False) -> None:
        """Set the report font."""
        self.pdf.set_font(self.family, "B" if bold else "", size)

    def _header(self) -> None:
        pdf = self.pdf
        self.font(7.5)
        pdf.set_text_color(120, 120, 120)
        pdf.set_y(7)
        pdf.cell(pdf.epw * 0.7, 4, self.t(self.doc.title)[:110])
        pdf.cell(pdf.epw * 0.3, 4, self.t(self.doc.generated), align="R", new_x="LMARGIN", new_y="NEXT")
        pdf.set_draw_color(200, 200, 200)
        pdf.line(pdf.l_margin, 12, pdf.w - pdf.r_margin, 12)
        pdf.set_y(pdf.t_margin)
        pdf.set_text_color(0, 0, 0)

    def _footer(self) -> None:
        pdf = self.pdf
        pdf.set_y(-11)
        self.font(7.5)
        pdf.set_text_color(120, 120, 120)
        pdf.cell(0, 4, f"HistoDesk report - page {pdf.page_no()} of {{nb}}", align="C")
        pdf.set_text_color(0, 0, 0)

    def _room(self, height: float) -> None:
        """Start a new page unless ``height`` mm still fit on this one."""
        if self.pdf.get_y() + height > self.pdf.page_break_trigger:
            self.pdf.add_page()

    # --- blocks -----------------------------------------------------------
    def para(self, text: str, size: float = 9, bold: bool = False) -> None:
        """A wrapped paragraph."""
        self.font(size, bold)
        self.pdf.multi_cell(0, size * 0.5, self.t(text), new_x="LMARGIN", new_y="NEXT", align="L")
        self.pdf.ln(1.5)

    def note(self, note: Note) -> None:
        """A shaded, left-ruled line of text (warnings bold red)."""
        fill, color = NOTE_COLORS.get(note.kind, NOTE_COLORS["missing"])
        pdf = self.pdf
        pdf.set_fill_color(*fill)
        pdf.set_text_color(*color)
        self.font(8.5, note.kind == "warning")
        pdf.multi_cell(0, 4.4, self.t(note.text), fill=True, new_x="LMARGIN", new_y="NEXT", align="L",
                       padding=1.2)  # type: ignore[arg-type]  # fpdf2 takes a float (mm); its hint says int
        pdf.set_text_color(0, 0, 0)
        pdf.ln(1.2)

    def heading(self, block: Heading) -> None:
        """A sub-heading (a bookmark under its section, and a link target)."""
        self._room(30)
        self.pdf.ln(1.5)
        self.pdf.start_section(self.t(block.text)[:120], level=1, strict=False)
        if block.anchor:
            self.pdf.set_link(self._link(block.anchor), y=self.pdf.get_y())
        self.font(10.5, True)
        self.pdf.set_text_color(29, 63, 99)
        self.pdf.multi_cell(0, 5.5, self.t(block.text), new_x="LMARGIN", new_y="NEXT", align="L")
        self.pdf.set_text_color(0, 0, 0)

    def _link(self, anchor: str) -> int:
        if anchor not in self.links:
            self.links[anchor] = self.pdf.add_link()
        return self.links[anchor]

    def table(self, header: list[str] | None, rows: Sequence[Sequence], caption: str = "", widths=None,
              bold_first: bool = False) -> None:
        """A table with a repeated heading row on page breaks, column widths from the content."""
        from fpdf.fonts import FontFace

        ncols = len(header) if header else max(len(r) for r in rows)
        size = 8 if ncols <= 5 else 7 if ncols <= 8 else 6
        all_rows = ([header] if header else []) + list(rows)
        texts = [[c.text if isinstance(c, Link) else c for c in row] for row in all_rows]
        widths = widths or [min(max(len(clean(r[i])) if i < len(r) else 0 for r in texts), 40) + 4
                            for i in range(ncols)]
        self.font(size)
        self._room(_table_height(len(rows), size))  # a short table stays on one page
        style = FontFace(emphasis="BOLD", fill_color=(232, 238, 245))
        with self.pdf.table(col_widths=widths, text_align="LEFT", first_row_as_headings=bool(header),
                            headings_style=style, line_height=size * 0.5, padding=0.8, width=self.pdf.epw,
                            cell_fill_color=(246, 248, 250), cell_fill_mode="ROWS") as table:
            for row in all_rows:
                out = table.row()
                for i in range(ncols):
                    cell = row[i] if i < len(row) else ""
                    bold = FontFace(emphasis="BOLD") if bold_first and i == 0 else None
                    if isinstance(cell, Link):
                        out.cell(self.t(cell.text), link=self._link(cell.anchor), style=bold)
                    else:
                        out.cell(self.t(cell), style=bold)
        if caption:
            self.font(7.5)
            self.pdf.set_text_color(90, 90, 90)
            self.pdf.multi_cell(0, 3.8, self.t(caption), new_x="LMARGIN", new_y="NEXT", align="L")
            self.pdf.set_text_color(0, 0, 0)
        self.pdf.ln(2.5)

    def figure(self, png: bytes, caption: str, width: float = 1.0) -> None:
        """A PNG scaled to ``width`` of the text width (kept on one page) with its caption."""
        from PIL import Image

        with Image.open(io.BytesIO(png)) as im:
            ratio = im.height / im.width
            natural = im.width / DPI * 25.4  # mm at the figure's own size, so fonts match across figures
        w = min(self.pdf.epw * width, natural)
        h = w * ratio
        page_room = self.pdf.page_break_trigger - self.pdf.t_margin - 12
        if h > page_room:
            h, w = page_room, page_room / ratio
        self._room(h + 8)
        self.pdf.image(io.BytesIO(png), x=self.pdf.l_margin + (self.pdf.epw - w) / 2, w=w, h=h)
        self.pdf.set_y(self.pdf.get_y() + 1)
        self.font(7.5)
        self.pdf.set_text_color(90, 90, 90)
        self.pdf.multi_cell(0, 3.8, self.t(caption), new_x="LMARGIN", new_y="NEXT", align="L")
        self.pdf.set_text_color(0, 0, 0)
        self.pdf.ln(3)

    def gallery(self, block: Gallery) -> None:
        """Captioned images two per row."""
        from PIL import Image

        if block.caption:
            self.para(block.caption, 8.5)
        pdf, gap = self.pdf, 6
        w = (pdf.epw - gap) / 2
        for start in range(0, len(block.items), 2):
            pair = block.items[start:start + 2]
            heights = []
            for png, _ in pair:
                with Image.open(io.BytesIO(png)) as im:
                    heights.append(w * im.height / im.width)
            self._room(max(heights) + 14)
            top = pdf.get_y()
            bottom = top
            for k, (png, caption) in enumerate(pair):
                x = pdf.l_margin + k * (w + gap)
                pdf.image(io.BytesIO(png), x=x, y=top, w=w)
                pdf.set_xy(x, top + heights[k] + 1)
                self.font(7)
                pdf.multi_cell(w, 3.4, self.t(caption), new_x="LEFT", new_y="NEXT", align="L")
                bottom = max(bottom, pdf.get_y())
            pdf.set_xy(pdf.l_margin, bottom + 3)

    def _height(self, block) -> float:
        """About how tall ``block`` renders (mm), so a section heading stays with its first block."""
        if isinstance(block, Figure):
            from PIL import Image

            with Image.open(io.BytesIO(block.png)) as im:
                w = min(self.pdf.epw * block.width, im.width / DPI * 25.4)
                return min(w * im.height / im.width + 8, 120)
        if isinstance(block, (KeyValues, Table)):
            return _table_height(len(block.items if isinstance(block, KeyValues) else block.rows), 8)
        return 25

    def block(self, block) -> None:
        """Render any document block."""
        if isinstance(block, Para):
            self.para(block.text)
        elif isinstance(block, Note):
            self.note(block)
        elif isinstance(block, Heading):
            self.heading(block)
        elif isinstance(block, KeyValues):
            self.table(None, [list(kv) for kv in block.items], widths=[32, 68], bold_first=True)
        elif isinstance(block, Table):
            self.table(block.header, block.rows, block.caption, block.widths)
        elif isinstance(block, Figure):
            self.figure(block.png, block.caption, block.width)
        elif isinstance(block, Gallery):
            self.gallery(block)
        else:
            raise TypeError(f"unknown report block {type(block).__name__}")

    # --- the document -------------------------------------------------------
    def render(self) -> bytes:
        """All pages: title block, warnings, one bookmarked section after another."""
        pdf, doc = self.pdf, self.doc
        pdf.add_page()
        self.font(17, True)
        pdf.multi_cell(0, 8, self.t(doc.title), new_x="LMARGIN", new_y="NEXT", align="L")
        self.para(doc.subtitle, 10)
        self.table(None, [list(kv) for kv in doc.meta], widths=[22, 78], bold_first=True)
        if doc.warnings:
            self.para("Read first", 11, bold=True)
            for w in doc.warnings:
                self.note(Note(w, "warning"))
        for number, section in enumerate(doc.sections, 1):
            self._room(14 + (self._height(section.blocks[0]) if section.blocks else 0))
            pdf.ln(3)
            title = f"{number}. {section.title}"
            pdf.start_section(self.t(title), level=0)
            self.font(13, True)
            pdf.set_text_color(29, 63, 99)
            pdf.cell(0, 8, self.t(title), new_x="LMARGIN", new_y="NEXT")
            pdf.set_draw_color(44, 93, 143)
            pdf.line(pdf.l_margin, pdf.get_y(), pdf.w - pdf.r_margin, pdf.get_y())
            pdf.set_text_color(0, 0, 0)
            pdf.ln(2)
            for block in section.blocks:
                self.block(block)
        return bytes(pdf.output())


def _table_height(rows: int, size: float) -> float:
    """About how tall (mm) a table of ``rows`` one-line rows is, capped: longer tables may break across pages."""
    return min(10 + size * 0.62 * rows, 90)


def render_pdf(doc: Document, compress: bool = True) -> bytes:
    """The report as PDF bytes (``compress=False`` leaves page streams readable, for tests)."""
    return ReportPDF(doc, compress).render()
