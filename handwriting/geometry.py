"""Line geometry that other tools accept: every line polygon a valid simple polygon that
holds its baseline and its word boxes, and word boxes that lie inside their line and leave
a gap between neighbours (what OCR-D's PAGE validator, eScriptorium imports and searchable
PDF text layers need). Polygon arithmetic is Shapely's."""

from __future__ import annotations

import numpy as np
import shapely
from shapely.geometry import LineString, MultiPoint, MultiPolygon, Polygon
from shapely.geometry import box as rectangle

from .document import TextLine, Word

# the gap between neighbouring word boxes: at least WORD_GAP pixels, and WORD_GAP_SHARE of
# the line's height (a text layer built from boxes closer than that, OCRmyPDF's hOCR
# renderer read back by pdftotext, runs the two words together: its space is measured
# against the font size, which follows the line's height)
WORD_GAP = 2
WORD_GAP_SHARE = 0.1
# how far the outline reaches past what it must hold, in pixels: validators test containment
# with a slack of 1.5 px (OCR-D), and the outline's corners are rounded to whole pixels
MARGIN = 1.0


def separate_words(words: list[Word], gap: int = WORD_GAP) -> list[Word]:
    """The words (in reading order, left to right) with at least ``gap`` free pixel columns
    between neighbouring boxes: where two boxes touch or overlap, both give way around the
    middle of the overlap, and neither becomes narrower than one pixel."""
    out = list(words)
    for i in range(1, len(out)):
        a, b = out[i - 1], out[i]
        ax0, ay0, ax1, ay1 = a.box
        bx0, by0, bx1, by1 = b.box
        if bx0 - ax1 >= gap or bx0 < ax0:  # apart already, or not left to right
            continue
        mid = (ax1 + bx0) // 2  # the middle of the shared (or touching) columns
        new_a1 = max(ax0 + 1, min(ax1, mid - gap // 2))
        new_b0 = max(bx0, new_a1 + gap)
        if new_b0 > bx1 - 1:  # b is too narrow to give way: a gives way alone
            new_b0 = bx1 - 1
            new_a1 = max(ax0 + 1, min(new_a1, new_b0 - gap))
        out[i - 1] = Word(a.text, (ax0, ay0, new_a1, ay1), a.confidence)
        out[i] = Word(b.text, (new_b0, by0, bx1, by1), b.confidence)
    return out


def clip_box(
    box: tuple[int, int, int, int], x0: int, y0: int, x1: int, y1: int
) -> tuple[int, int, int, int]:
    """``box`` (x0, y0, x1, y1; x1, y1 exclusive) cut to the rectangle (x0, y0)-(x1, y1),
    at least one pixel wide and high."""
    bx0, by0 = min(max(int(box[0]), x0), x1 - 1), min(max(int(box[1]), y0), y1 - 1)
    return (
        int(bx0),
        int(by0),
        int(max(bx0 + 1, min(int(box[2]), x1))),
        int(max(by0 + 1, min(int(box[3]), y1))),
    )


def outline(
    polygon: np.ndarray,
    baseline: np.ndarray | None,
    boxes: list[tuple[int, int, int, int]],
    width: int,
    height: int,
) -> np.ndarray:
    """A line polygon that validators accept: ``polygon`` itself when it is a valid simple
    polygon inside the image that already holds ``baseline`` and the word ``boxes``
    (x0, y0, x1, y1, exclusive ends); otherwise the outer ring of their union, with a
    ``MARGIN`` around the baseline and the boxes (parts that do not meet are bridged),
    clipped to the image. A two-point ``polygon`` is the box its corners span.

    Returns:
        An ``(N, 2)`` int32 polygon (N >= 3, not closed: the last point is not the first).
    """
    must = [rectangle(*b) for b in boxes]
    if baseline is not None and len(baseline) >= 2:
        must.append(LineString(np.asarray(baseline, np.float64)))
    raw = np.asarray(polygon, np.float64).reshape(-1, 2)
    if len(raw) == 2:  # two corners: the box they span
        (x0, y0), (x1, y1) = raw.min(0), raw.max(0)
        raw = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])
    pts = np.clip(raw, 0, (width, height))
    if len(pts) >= 3:
        given = Polygon(pts)
        inside = np.array_equal(pts, raw)
        if given.is_valid and inside and all(given.buffer(0.5).contains(g) for g in must):
            return np.rint(raw).astype(np.int32)
        base = [shapely.make_valid(given)]
    else:
        base = [MultiPoint(pts).buffer(MARGIN, cap_style="square")] if len(pts) else []
    if not base and not must:
        raise ValueError("outline of nothing: no polygon points, baseline or words")
    # the margin goes around what must be held, not around the polygon drawn: its box stays
    union = shapely.unary_union(
        base + [s.buffer(MARGIN, cap_style="square", join_style="mitre") for s in must]
    )
    shapes = base + must
    union = _one_piece(union).intersection(rectangle(0, 0, width, height))
    ring = _one_piece(union).exterior
    out = np.rint(np.asarray(ring.coords[:-1])).astype(np.int32)
    result = Polygon(out) if len(out) >= 3 else Polygon()
    if not (result.is_valid and all(result.buffer(1.0).contains(g) for g in must)):
        # rounding twisted the ring or cut a corner off: the hull of it all never does
        hull = shapely.unary_union([*shapes, union]).convex_hull.buffer(MARGIN, join_style="mitre")
        hull = hull.intersection(rectangle(0, 0, width, height))
        out = np.rint(np.asarray(hull.exterior.coords[:-1])).astype(np.int32)
    return out


def _one_piece(geom) -> Polygon:
    """``geom`` as one polygon without holes: pieces that do not touch are joined by
    closing the gaps between them (their convex hull if that leaves several)."""
    if isinstance(geom, Polygon):
        return Polygon(geom.exterior)
    polys = [g for g in getattr(geom, "geoms", []) if isinstance(g, Polygon) and not g.is_empty]
    if not polys:
        return geom.convex_hull.buffer(MARGIN, join_style="mitre")
    merged = MultiPolygon(polys)
    for r in (2.0, 4.0, 8.0, 16.0):
        closed = merged.buffer(r, join_style="mitre").buffer(-r, join_style="mitre")
        if isinstance(closed, Polygon) and closed.covers(merged.buffer(-0.01)):
            return Polygon(closed.exterior)
    return Polygon(merged.convex_hull.exterior)


def settle_line(line: TextLine, width: int, height: int) -> TextLine:
    """Make a recognized line consistent for the document writers, in place: word boxes
    inside the polygon's box and the image, and apart (:func:`separate_words`, by
    ``WORD_GAP_SHARE`` of the line's height), then the polygon grown where its
    baseline or words stick out of it (:func:`outline`). Returns ``line``."""
    if line.words:
        # within the polygon's box (the crop's margin can put a box edge a pixel or two
        # outside it) and the image
        poly = np.asarray(line.polygon)
        (lx0, ly0), (lx1, ly1) = poly.min(0), poly.max(0)
        bounds = (max(int(lx0), 0), max(int(ly0), 0), min(int(lx1), width), min(int(ly1), height))
        words = [Word(w.text, clip_box(w.box, *bounds), w.confidence) for w in line.words]
        tall = int(np.ptp(poly[:, 1])) + 1
        line.words = separate_words(words, max(WORD_GAP, round(WORD_GAP_SHARE * tall)))
    boxes = [w.box for w in line.words or []]
    if line.baseline is not None:
        line.baseline = np.clip(line.baseline, 0, (width, height)).astype(np.int32)
    line.polygon = outline(line.polygon, line.baseline, boxes, width, height)
    return line
