"""The paired comparison job of the compare view and the cells of its table (run in a worker thread)."""

from __future__ import annotations

from engine.errors import HistoDeskError


def compare_with(reference: str, others: list[str], split: str, *, progress, cancel) -> dict[str, dict]:
    """The job: ``{other run path: compare_runs(reference, other) or {"error": message}}``."""
    from engine.evaluation.compare import compare_runs

    out = {}
    for path in others:
        cancel.raise_if_cancelled()
        try:
            out[path] = compare_runs(reference, path, split)
        except HistoDeskError as exc:
            out[path] = {"error": str(exc)}
    return out


def pair_cells(result: dict) -> list[str]:
    """images, ΔAUC [CI], DeLong p, Δaccuracy [CI] of one paired comparison (or its error)."""
    if "error" in result:
        return [result["error"], "", "", ""]
    diff = result["difference"]
    delong = result.get("delong") or {}
    p = delong.get("p_value")
    p_text = f"p = {p:.3g}" if p is not None else (delong.get("note") or "n/a (needs two classes)")

    def signed(key: str) -> str:
        d = diff.get(key) or {}
        if d.get("value") is None:
            return "–"
        ci = d.get("ci")
        return f"{d['value']:+.3f}" + (f" [{ci[0]:+.3f}, {ci[1]:+.3f}]" if ci else "")

    return [f"{result['n_images']} images, {result['n_units']} {result['unit']}s", signed("roc_auc"), p_text,
            signed("accuracy")]
