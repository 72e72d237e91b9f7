"""What is measured: character and word error rates, the most frequent character errors,
and for pages the one-to-one matching of line boxes and the page scores built on it."""

from __future__ import annotations

from collections import Counter

import numpy as np
from rapidfuzz.distance import Levenshtein

from .document import TextLine


def cer(refs: list[str], hyps: list[str]) -> float:
    """Character error rate over a corpus, in percent (total edits / total reference chars)."""
    edits = sum(Levenshtein.distance(r, h) for r, h in zip(refs, hyps))
    return 100.0 * edits / max(1, sum(len(r) for r in refs))


def wer(refs: list[str], hyps: list[str]) -> float:
    """Word error rate over a corpus, in percent (words split on whitespace)."""
    edits = sum(Levenshtein.distance(r.split(), h.split()) for r, h in zip(refs, hyps))
    return 100.0 * edits / max(1, sum(len(r.split()) for r in refs))


def confusions(refs: list[str], hyps: list[str], top: int = 20) -> list[dict]:
    """The ``top`` most frequent character errors over a corpus: ``{"truth", "prediction",
    "count"}``, with ``""`` for the missing side of a deletion or an insertion (one optimal
    alignment per line, as :func:`cer` counts them)."""
    counts: Counter = Counter()
    for r, h in zip(refs, hyps):
        for op in Levenshtein.editops(r, h):
            counts[
                (
                    r[op.src_pos] if op.tag != "insert" else "",
                    h[op.dest_pos] if op.tag != "delete" else "",
                )
            ] += 1
    return [{"truth": t, "prediction": p, "count": n} for (t, p), n in counts.most_common(top)]


def line_box(poly) -> tuple[float, float, float, float]:
    """``(x0, y0, x1, y1)`` of a polygon's bounding box."""
    p = np.asarray(poly)
    (x0, y0), (x1, y1) = p.min(0), p.max(0)
    return float(x0), float(y0), float(x1), float(y1)


def iou(a, b) -> float:
    """Intersection over union of two ``(x0, y0, x1, y1)`` boxes."""
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def match_lines(
    gt: list[TextLine], pred: list[TextLine], threshold: float = 0.5
) -> list[tuple[int, int, float]]:
    """Greedy one-to-one matching of line bounding boxes, best IoU first; pairs
    ``(gt index, pred index, IoU)`` with IoU >= ``threshold``."""
    gb, pb = [line_box(g.polygon) for g in gt], [line_box(p.polygon) for p in pred]
    pairs = sorted(
        ((iou(a, b), i, j) for i, a in enumerate(gb) for j, b in enumerate(pb)),
        key=lambda t: (-t[0], t[1], t[2]),
    )
    used_g, used_p, out = set(), set(), []
    for v, i, j in pairs:
        if v < threshold:
            break
        if i not in used_g and j not in used_p:
            used_g.add(i)
            used_p.add(j)
            out.append((i, j, v))
    return out


def score_page(gt: list[TextLine], pred: list[TextLine], threshold: float = 0.5) -> dict:
    """Line detection and reading-order-independent CER of one page (counts, not percents).

    Ground-truth lines without text are *don't care* regions (as in the ICDAR detection
    protocols): they do not count towards recall, and a prediction matched to one is left
    out of precision and CER, since there is no reference to judge it by (archive
    foliation, stamps, struck-out words that the transcribers left empty).

    CER: predicted lines are paired with ground-truth lines by the box matching; the edit
    distances of the pairs, plus the full length of every unmatched ground-truth text
    (a miss) and of every unmatched predicted text (a false alarm), over the number of
    ground-truth characters.
    """
    pairs = match_lines(gt, pred, threshold)
    matched_g = {i for i, _, _ in pairs}
    matched_p = {j: i for i, j, _ in pairs}
    care = [i for i, g in enumerate(gt) if g.text]
    ignored_p = {j for j, i in matched_p.items() if not gt[i].text}
    counted_p = [j for j in range(len(pred)) if j not in ignored_p]
    hits = sum(1 for i in care if i in matched_g)
    chars = sum(len(gt[i].text) for i in care)
    errors = 0
    for i, j, _ in pairs:
        if gt[i].text:
            errors += Levenshtein.distance(gt[i].text, pred[j].text or "")
    errors += sum(len(gt[i].text) for i in care if i not in matched_g)
    errors += sum(len(pred[j].text or "") for j in counted_p if j not in matched_p)
    return {
        "gt_lines": len(care),
        "pred_lines": len(counted_p),
        "matched": hits,
        "ignored": len(gt) - len(care),
        "chars": chars,
        "errors": errors,
    }


def rates(c: dict) -> dict:
    """Counts plus precision, recall and CER in percent (an empty page and an empty
    prediction agree perfectly)."""

    def ratio(num: int, den: int) -> float:
        if den == 0:
            return 100.0 if c["gt_lines"] == c["pred_lines"] == 0 else 0.0
        return round(100.0 * num / den, 2)

    return {
        **c,
        "precision": ratio(c["matched"], c["pred_lines"]),
        "recall": ratio(c["matched"], c["gt_lines"]),
        "cer": round(100.0 * c["errors"] / max(1, c["chars"]), 2),
    }


def totals(rows: list[dict]) -> dict:
    """The counts of several :func:`score_page` rows added up (pass the sum to :func:`rates`)."""
    keys = ("gt_lines", "pred_lines", "matched", "ignored", "chars", "errors")
    return {"pages": len(rows), **{k: sum(r[k] for r in rows) for k in keys}}
