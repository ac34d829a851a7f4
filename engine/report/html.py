"""One self-contained HTML file from a :class:`~engine.report.document.Document`.

Inline CSS, images as base64 ``data:`` URIs, no script, no external file or
network reference: the file can be mailed or archived on its own and opens
the same anywhere. A print style sheet keeps figures and tables from being
split across printed pages.
"""

from __future__ import annotations

import base64
from html import escape

from engine.report.document import Document, Figure, Gallery, Heading, KeyValues, Link, Note, Para, Section, Table
from engine.report.text import clean

CSS = """
body{font-family:"DejaVu Sans",Helvetica,Arial,sans-serif;font-size:14px;line-height:1.45;color:#222;
max-width:1100px;margin:0 auto;padding:24px 32px;background:#fff}
h1{font-size:24px;margin:0 0 4px}h2{font-size:19px;border-bottom:2px solid #2c5d8f;padding-bottom:3px;
margin-top:34px;color:#1d3f63}h3{font-size:15px;margin:18px 0 6px;color:#1d3f63}
.subtitle{color:#555;margin-bottom:14px}
table{border-collapse:collapse;margin:8px 0 14px;font-size:13px}
th,td{border:1px solid #ccd3db;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#e8eef5}tr:nth-child(even) td{background:#f7f9fb}
table.kv td:first-child{font-weight:bold;white-space:nowrap;width:1%}
caption{caption-side:bottom;text-align:left;color:#555;font-size:12px;padding-top:3px}
.note{padding:6px 10px;margin:6px 0;border-left:4px solid #9aa7b4;background:#f2f4f6}
.note.warning{border-color:#c0392b;background:#fdecea;font-weight:bold}
.note.info{border-color:#2c7fb8;background:#eaf3fb}
.warnings{border:2px solid #c0392b;padding:8px 14px;margin:12px 0 18px;background:#fff6f5}
.warnings h2{border:none;margin:0;color:#c0392b}
figure{margin:10px 0 18px}figure img{max-width:100%;height:auto;border:1px solid #e2e6ea}
figcaption{color:#555;font-size:12px}
.gallery{display:flex;flex-wrap:wrap;gap:14px}.gallery figure{margin:0;width:330px}
.toc{columns:2;font-size:13px;list-style:none;padding-left:0}.path{word-break:break-all}
.footer{margin-top:40px;color:#777;font-size:12px;border-top:1px solid #ddd;padding-top:6px}
@media print{body{max-width:none;padding:0}figure,table,.note{break-inside:avoid}h2{break-after:avoid}}
"""


def _t(text) -> str:
    """Clean and escape text; newlines become line breaks."""
    return escape(clean(text)).replace("\n", "<br>")


def _img(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{escape(clean(alt), quote=True)}">'


def _cell(cell, tag: str = "td") -> str:
    if isinstance(cell, Link):
        return f'<{tag}><a href="#{escape(cell.anchor, quote=True)}">{_t(cell.text)}</a></{tag}>'
    return f"<{tag}>{_t(cell)}</{tag}>"


def _block(block) -> str:
    if isinstance(block, Para):
        return f"<p>{_t(block.text)}</p>"
    if isinstance(block, Note):
        return f'<div class="note {escape(block.kind)}">{_t(block.text)}</div>'
    if isinstance(block, Heading):
        anchor = f' id="{escape(block.anchor, quote=True)}"' if block.anchor else ""
        return f"<h3{anchor}>{_t(block.text)}</h3>"
    if isinstance(block, KeyValues):
        rows = "".join(f"<tr>{_cell(k)}{_cell(v)}</tr>" for k, v in block.items)
        return f'<table class="kv">{rows}</table>'
    if isinstance(block, Table):
        head = "".join(_cell(h, "th") for h in block.header)
        body = "".join("<tr>" + "".join(_cell(c) for c in row) + "</tr>" for row in block.rows)
        caption = f"<caption>{_t(block.caption)}</caption>" if block.caption else ""
        return f"<table>{caption}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    if isinstance(block, Figure):
        style = f' style="max-width:{int(block.width * 100)}%"' if block.width < 1 else ""
        return f"<figure{style}>{_img(block.png, block.caption)}<figcaption>{_t(block.caption)}</figcaption></figure>"
    if isinstance(block, Gallery):
        items = "".join(f"<figure>{_img(png, cap)}<figcaption>{_t(cap)}</figcaption></figure>"
                        for png, cap in block.items)
        caption = f"<p>{_t(block.caption)}</p>" if block.caption else ""
        return f'{caption}<div class="gallery">{items}</div>'
    raise TypeError(f"unknown report block {type(block).__name__}")


def _section(number: int, section: Section) -> str:
    body = "\n".join(_block(b) for b in section.blocks)
    return f'<section id="{escape(section.id, quote=True)}"><h2>{number}. {_t(section.title)}</h2>\n{body}</section>'


def render_html(doc: Document) -> str:
    """The whole report as one HTML string (UTF-8, self-contained)."""
    meta = "".join(f"<tr>{_cell(k)}{_cell(v)}</tr>" for k, v in doc.meta)
    warnings = ""
    if doc.warnings:
        items = "".join(f"<li>{_t(w)}</li>" for w in doc.warnings)
        warnings = f'<div class="warnings"><h2>Read first</h2><ul>{items}</ul></div>'
    toc = "".join(f'<li><a href="#{escape(s.id, quote=True)}">{i}. {_t(s.title)}</a></li>'
                  for i, s in enumerate(doc.sections, 1))
    sections = "\n".join(_section(i, s) for i, s in enumerate(doc.sections, 1))
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{_t(doc.title)}</title><style>{CSS}</style></head><body>\n"
            f'<h1>{_t(doc.title)}</h1><div class="subtitle">{_t(doc.subtitle)}</div>'
            f'<table class="kv">{meta}</table>{warnings}<ul class="toc">{toc}</ul>\n{sections}\n'
            f'<div class="footer">Generated by HistoDesk on {_t(doc.generated)}.</div></body></html>\n')
