"""What a run's figures rest on, as rich text: split notes, curation applied, exposure, external datasets."""

from __future__ import annotations

from gui.results.intervals import html_escape


def run_warnings(summary: dict) -> list[str]:
    """Run-wide warnings shown in the banner next to the split's small-sample warnings."""
    out = []
    if summary.get("image_level_split"):
        out.append("Image-level split: images of one patient may be in train and test, so test figures may be "
                   "optimistic.")
    curation = summary.get("curation")
    if isinstance(curation, dict) and curation.get("evaluation_changed"):
        out.append("Curation changed validation/test images (curation scope 'all'): these figures are not "
                   "comparable with runs evaluated on the uncurated split.")
    exposure = summary.get("transductive")
    if isinstance(exposure, dict) and exposure.get("message"):
        out.append(str(exposure["message"]))
    return out


def _list(items: list) -> str:
    return "<ul style='margin-top:2px'>" + "".join(f"<li>{html_escape(i)}</li>" for i in items) + "</ul>"


def curation_html(curation) -> str:
    """The curation block of summary.json (engine.data.curation): file, scope and what changed per split."""
    if curation is None:
        return "<p><b>Curation:</b> none applied (the dataset has no curation file).</p>"
    if not isinstance(curation, dict):
        return f"<p><b>Curation:</b> {html_escape(curation)}</p>"
    head = (f"<p><b>Curation applied</b> from {html_escape(curation.get('file', '?'))} (scope "
            f"{html_escape(curation.get('scope', '?'))}, sha1 "
            f"{html_escape(str(curation.get('sha1') or '?')[:12])})</p>")
    splits = sorted({s for kind in ("excluded", "relabelled", "not_applied") for s in (curation.get(kind) or {})})
    if not splits:
        return head
    rows = "".join(f"<tr><td>{html_escape(s)}</td>" + "".join(
        f"<td align='right'>{(curation.get(k) or {}).get(s, 0)}</td>"
        for k in ("excluded", "relabelled", "not_applied"))
        + "</tr>" for s in splits)
    return (head + "<table border='0' cellspacing='0' cellpadding='3'><tr><th align='left'>split</th><th>excluded</th>"
            f"<th>relabelled</th><th>left as they are</th></tr>{rows}</table>")


def run_notes_html(summary: dict, split: dict | None = None) -> str:
    """Split notes, the notes logged at the start of training, and the curation applied."""
    parts = []
    split_notes = list((split or {}).get("notes") or []) + [n for n in summary.get("split_notes") or []
                                                            if n not in ((split or {}).get("notes") or [])]
    parts.append("<p><b>Split notes:</b></p>" + _list(split_notes) if split_notes else
                 "<p><b>Split notes:</b> none.</p>")
    notes = [n for n in summary.get("notes") or [] if not str(n).startswith("Split note:")]
    if notes:
        parts.append("<p><b>Notes recorded at the start of training:</b></p>" + _list(notes))
    if "curation" in summary:
        parts.append(curation_html(summary.get("curation")))
    else:
        parts.append("<p><b>Curation:</b> not recorded (a run made before curation was recorded).</p>")
    return "".join(parts)


def external_html(meta: dict) -> str:
    """An external evaluation: dataset, label map, images used and the unmapped labels counted apart."""
    mapping = meta.get("mapping") or {}
    by_class: dict[str, list[str]] = {}
    for source, target in mapping.items():
        by_class.setdefault(target, []).append(source)
    label_map = "; ".join(f"{html_escape(c)} ← {html_escape(', '.join(s))}" for c, s in by_class.items()) or "–"
    per_class = ", ".join(f"{html_escape(k)} {v}" for k, v in (meta.get("per_class") or {}).items())
    unmapped = meta.get("unmapped") or {}
    lines = [f"<b>External dataset</b> {html_escape(meta.get('dataset', '?'))} "
             f"({html_escape(meta.get('importer', '?'))}"
             " importer, no curation: external data is test data)",
             f"<b>label map</b> {label_map}",
             f"<b>evaluated</b> {meta.get('n_images', '?')} images ({per_class or '–'})",
             f"<b>not evaluated</b> {meta.get('n_unmapped', 0)} images whose label maps to no class of the run"
             + (" (" + ", ".join(f"{html_escape(k)} {v}" for k, v in unmapped.items()) + ")" if unmapped else "")]
    if meta.get("n_unreadable"):
        lines.append(f"<b>unreadable files</b> {meta['n_unreadable']} skipped by the scan")
    if meta.get("tta"):
        lines.append(f"<b>test-time augmentation</b> {html_escape(meta['tta'])}")
    lines += [html_escape(n) for n in meta.get("notes") or []]
    lines.append(f"<span style='color:#777'>evaluated {html_escape(meta.get('date', '?'))}; stored in "
                 f"{html_escape(meta.get('path', '?'))}; the run's val-fitted calibration applied unchanged</span>")
    return "<br>".join(lines)


def external_warnings(meta: dict) -> list[str]:
    """Banner lines for an external evaluation (images left out because their label maps to no class)."""
    out = []
    if meta.get("n_unmapped"):
        out.append(f"{meta['n_unmapped']} images of the external dataset were not evaluated: their label maps to no "
                   "class of the run (see the Data tab).")
    return out + [str(n) for n in meta.get("notes") or []]
