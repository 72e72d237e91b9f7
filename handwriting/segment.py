"""Page image -> text lines (polygons, baselines) in reading order, with OpenCV.

The steps, all on a downscaled working copy of the page (``SegmentConfig.work_size``):

1. (a scan 3 or more times ``work_size``: its dark strokes widened by under one working
   pixel first, so a fine pen's strokes do not fade away in the downscaled copy)
   **ink map** (:func:`~handwriting.preprocessing.ink_map`: the paper is divided out, so
   yellowing, shadows and uneven light do not matter) and a threshold -> binary ink; for a
   page photographed on a darker ground, the ground around the page is dropped;
2. **deskew**: the rotation that makes the row profile of the text-sized components
   sharpest (within ``max_skew``); rules and page edges do not vote;
3. **rules removed**: long thin horizontal (and vertical) runs of ruled paper, frames and
   scanner edges, found in a fainter threshold by a morphological opening after short
   breaks are closed; where a stroke crosses a rule the rule's pixels stay, so descenders
   keep their letters;
4. **line spacing** S from the autocorrelation of the row profile, capped at four times the
   median height of the writing's components, weighted by their ink (lines far apart would
   overstate the writing);
   every size below is a multiple of it, so nothing depends on the resolution;
5. **components sorted**: dots, accents and commas (small: they never start a line but join
   the line whose ink is nearest), solid blobs bigger than the letters, what touches the
   edge of the image and is not the size of writing (scanner edges, shadows) and rule
   remnants (dropped), and vertical writing up a margin (not read, reported: strips of tall
   components that follow each other with small gaps);
6. **columns** split at vertical whitespace at least ``column_gap`` spacings wide;
7. **lines** per column: peaks of the smoothed count of strokes crossed per row (the core
   band of the writing; a rule or an underline barely counts), separated by minimum-ink
   seams (dynamic programming) between them; a component belongs to the band holding most
   of it, and is cut along the seam only when two lines really touch; words written between
   the lines (wholly above a line's core band or below its baseline) become lines of their
   own (``insertions``);
8. a band's ink is cut where a gap wider than ``split_gap`` spacings opens, and pieces that
   do not look like text are dropped (specks, stamps, vertical pieces, and small print: low
   for the spacing and under SMALL_PRINT (0.42) times the page's writing, its ink-weighted
   median line);
9. each line gets a polygon hugging its ink (narrowing to the core band between words, so
   the neighbours' ascenders and descenders stay out of the crop) and a straight baseline,
   mapped back to the coordinates of the original page;
10. writing that no band took (a note in a margin, a signature far under the text) becomes
   a line of its own where it looks like one (placed in reading order by height), and the
   writing that no line holds in the end (vertical writing, small print, a flourish; not
   what lies near the edge of the scan: shadows, folds) is reported as ``unread`` boxes.

Reading order: columns left to right; in a column, lines top to bottom (an insertion just
before the line it is written above); pieces of one line left to right.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .config import ConfigSection, require
from .document import TextLine
from .images import to_gray
from .preprocessing import dark_ground, ink_map, rotation, skew_angle

# The thresholds of _Work.lines that are not tunables. (S): in line spacings, estimated per
# page; (C): in the writing's median glyph height; else as said.
SPECK_AREA = 2e-5  # of the page area: smaller components are dust (before the spacing is known)
EDGE_BAND = 0.006  # of the longer side: ink touching this band along the edges is not text,
EDGE_TEXT_SIDE = 1.5  # (S) unless it is at most this high
EDGE_TEXT_LENGTH = 8.0  # (S) and this long (a word written up to the edge of the scan)
SPACING_CAP = 4.0  # (C) the spacing is at most this (lines far apart do not inflate it)
MARK_AREA = 0.08  # (S) a component smaller than this squared is a mark (dot, accent, comma)
MARK_SIDE = 0.15  # (S) ... and so is one whose longer side is under this
HUGE_SIDE = 6.0  # (S) both sides longer: a border, a photo or a stamp, not text
SOLID_FILL = 0.6  # share of its box a solid component fills (bold writing fills its box too)
SOLID_SIDE = 0.3  # (S) a solid component with a shorter side over this (and over
SOLID_CHARS = 1.5  # (C) this) is not text
RULE_LENGTH = 0.2  # of the longer page side: a component this long and thinner than
RULE_WIDTH = 0.15  # (S) this is a rule, not text
FLAT_HEIGHT = 0.1  # (S) a flat stroke is at most this high (and at most 3 px)
FLAT_MIN_PX = 3
REMNANT_ASPECT = 3.0  # a flat piece touching a removed rule, this many times wider than high
FLAT_LENGTH = 1.5  # (S) a flat stroke this long anywhere (an underline, a dash) makes no line
HAIR_HEIGHT = 0.06  # (S) a stroke at most this high (and 2 px) joins a line as a mark does
MARK_MIN_AREA = 0.0015  # (S squared) smaller marks are not attached to any line
SMALL_PRINT = 0.42  # of the page's writing height: a lower line is small print (or dust)


@dataclass(frozen=True)
class SegmentConfig(ConfigSection):
    """Tunables of :func:`segment_page`. Sizes marked (S) are in line spacings (estimated per
    page), so they hold at any resolution.

    Args:
        work_size: longer side of the working copy in pixels (pages are never upscaled).
        ink_threshold: ink-map value (0..1) from which a pixel counts as ink.
        max_skew: largest page rotation searched, in degrees (0: no deskew).
        rule_length: shortest ruled line removed, as a fraction of the page width (height for
            vertical rules); 0 keeps rules.
        column_gap: (S) narrowest vertical whitespace that separates two columns.
        split_gap: (S) horizontal gap inside a line that cuts it into two lines.
        min_height: (S) lowest ink height of a text line, unless it reaches SMALL_PRINT times that of
            the page's writing (the ink-weighted median line) and that one reaches this.
        min_aspect: smallest width / height of a text line (lower: vertical writing, blobs).
        max_fill: largest share of ink in a line's box (higher: a stamp or a smudge).
        min_glyph: (S) a line's tallest glyphs (90th percentile of its connected components'
            heights) must reach this, or SMALL_PRINT times the page's writing as for ``min_height``:
            smaller writing (print on a form) is not read.
        pad: (S) margin added around a line's ink envelope.
        peak_distance: (S) closest two line centres may be.
        insertions: read words written between the lines (wholly above a line's core band
            or under its baseline, at least a spacing wide) as lines of their own.
    """

    work_size: int = 1600
    ink_threshold: float = 0.25
    max_skew: float = 5.0
    rule_length: float = 0.25
    column_gap: float = 1.0
    split_gap: float = 2.5
    min_height: float = 0.25
    min_aspect: float = 1.0
    min_glyph: float = 0.25
    max_fill: float = 0.7
    pad: float = 0.1
    peak_distance: float = 0.6
    insertions: bool = True

    def __post_init__(self):
        require(
            200 <= self.work_size <= 10000,
            f"segment.work_size must be 200..10000, got {self.work_size}",
        )
        require(
            0 < self.ink_threshold < 1,
            f"segment.ink_threshold must be in (0, 1), got {self.ink_threshold}",
        )
        require(0 <= self.max_skew <= 20, f"segment.max_skew must be 0..20, got {self.max_skew}")
        require(
            0 <= self.rule_length <= 1, f"segment.rule_length must be 0..1, got {self.rule_length}"
        )
        for name in (
            "column_gap",
            "split_gap",
            "min_height",
            "min_aspect",
            "min_glyph",
            "pad",
            "peak_distance",
        ):
            require(getattr(self, name) >= 0, f"segment.{name} must be >= 0")
        require(0 < self.max_fill <= 1, f"segment.max_fill must be in (0, 1], got {self.max_fill}")


# ---------------------------------------------------------------- public API


@dataclass
class Segmentation:
    """What :func:`segment` finds on a page: its ``lines`` in reading order, and the boxes
    ``(x0, y0, x1, y1)`` of writing left outside every line (``unread``: vertical writing,
    small print, ink that does not look like a line), for the reader to be told."""

    lines: list[TextLine]
    unread: list[tuple[int, int, int, int]]


def segment(gray: np.ndarray, config: SegmentConfig | None = None) -> Segmentation:
    """Find the text lines of a page, in reading order, and the writing left out of them.

    Args:
        gray: the page, any array :func:`~handwriting.images.to_gray` accepts.
        config: tunables (default :class:`SegmentConfig`).

    Returns:
        A :class:`Segmentation`: ``TextLine`` objects with ids ``l1``, ``l2`` ..., an
        ``(N, 2)`` int32 polygon and a ``(2, 2)`` int32 baseline in the coordinates of
        ``gray`` (``text`` is ``None``), and the boxes of writing no line holds.
    """
    config = config or SegmentConfig()
    gray = to_gray(gray)
    found = _photographed_page(gray)
    x0 = y0 = 0
    page = None
    if found is not None:  # segment the page's own box, at the full working resolution
        (x0, y0, bw, bh), page = found
        gray = gray[y0 : y0 + bh, x0 : x0 + bw]
    work = _Work(gray, config, page)
    lines = []
    for poly, base in work.lines():
        k = len(lines) + 1
        lines.append(TextLine(f"l{k}", poly + np.int32([x0, y0]), base + np.int32([x0, y0])))
    unread = [(a + x0, b + y0, c + x0, d + y0) for a, b, c, d in work.unread]
    return Segmentation(lines, unread)


def segment_page(gray: np.ndarray, config: SegmentConfig | None = None) -> list[TextLine]:
    """The text lines of a page in reading order (:func:`segment`'s ``lines``).

    Example:
        >>> lines = segment_page(load_image("page.jpg"))
        >>> crops = [crop_line(page, ln.polygon) for ln in lines]
    """
    return segment(gray, config).lines


def page_lines(gray: np.ndarray, config: SegmentConfig | None = None) -> Segmentation | None:
    """What :func:`segment` finds on an image that is a page, or ``None`` for a single line.

    A short (height < 150 px) or wide (aspect > 4) image is a line; anything else is a page
    when :func:`segment` finds at least two lines on it, or one line taking at most a sixth
    of its height (a note on a sheet: read along its line, not squeezed whole).
    """
    gray = to_gray(gray)
    h, w = gray.shape
    if h < 150 or w > 4 * h:
        return None
    found = segment(gray, config)
    lines = found.lines
    if len(lines) >= 2 or (len(lines) == 1 and int(np.ptp(lines[0].polygon[:, 1])) <= h / 6):
        return found
    return None


def is_page(gray: np.ndarray, config: SegmentConfig | None = None) -> bool:
    """Whether an image is a page rather than a single line (see :func:`page_lines`)."""
    return page_lines(gray, config) is not None


def draw_lines(gray: np.ndarray, lines: list[TextLine], thickness: int = 2) -> np.ndarray:
    """A BGR picture of the page with line polygons (red), baselines (blue) and the reading
    order number of each line."""
    img = cv2.cvtColor(to_gray(gray), cv2.COLOR_GRAY2BGR)
    scale = max(img.shape[:2]) / 2000
    for k, line in enumerate(lines, 1):
        cv2.polylines(
            img,
            [np.asarray(line.polygon, np.int32).reshape(-1, 1, 2)],
            True,
            (0, 0, 230),
            thickness,
        )
        if line.baseline is not None:
            cv2.polylines(
                img,
                [np.asarray(line.baseline, np.int32).reshape(-1, 1, 2)],
                False,
                (230, 80, 0),
                thickness,
            )
        x, y = np.asarray(line.polygon).min(0)
        cv2.putText(
            img,
            str(k),
            (int(x), max(12, int(y) - 4)),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.9 * max(scale, 0.4),
            (0, 140, 0),
            max(1, thickness),
        )
    return img


# ---------------------------------------------------------------- the work


class _Work:
    """One page through the steps of the module docstring (working coordinates inside)."""

    def __init__(self, gray: np.ndarray, config: SegmentConfig, page: np.ndarray | None = None):
        self.config = config
        h, w = gray.shape
        self.shape = (h, w)
        scale = min(1.0, config.work_size / max(h, w))
        small = (
            gray
            if scale == 1.0
            else cv2.resize(
                _thicken(gray, int(1.0 / scale)),
                (max(1, round(w * scale)), max(1, round(h * scale))),
                interpolation=cv2.INTER_AREA,
            )
        )
        ink = ink_map(small)
        if page is not None:  # the ground around a photographed page is not ink
            ink[
                cv2.resize(
                    page.astype(np.uint8), small.shape[::-1], interpolation=cv2.INTER_NEAREST
                )
                == 0
            ] = 0
        binary = (ink >= config.ink_threshold).astype(np.uint8)
        angle = 0.0
        if config.max_skew > 0:
            angle = _estimate_skew(_text_like(binary), config.max_skew)
        turn, size = rotation(binary.shape, angle)
        rot = np.vstack([turn, [0, 0, 1]])
        inside = np.ones(binary.shape, np.uint8)
        if angle:
            ink = cv2.warpAffine(ink, rot[:2], size, flags=cv2.INTER_LINEAR, borderValue=0)
            binary = (ink >= config.ink_threshold).astype(np.uint8)
            inside = cv2.warpAffine(inside, rot[:2], size, flags=cv2.INTER_NEAREST, borderValue=0)
        # a band along the edges of the image: what touches it is a scanner edge or shadow
        k = 2 * max(3, int(EDGE_BAND * max(binary.shape))) + 1
        self.edge = 1 - cv2.erode(
            inside, np.ones((k, k), np.uint8), borderType=cv2.BORDER_CONSTANT, borderValue=0
        )
        # three times as wide: ink there that no line holds is not reported (shadows, folds)
        self.near_edge = 1 - cv2.erode(
            inside, np.ones((3 * k, 3 * k), np.uint8), borderType=cv2.BORDER_CONSTANT, borderValue=0
        )
        self.angle = angle
        self.unread: list[tuple[int, int, int, int]] = []  # boxes of writing left unread
        # working coordinates -> page coordinates
        forward = (rot @ np.array([[scale, 0, 0], [0, scale, 0], [0, 0, 1]], np.float64))[:2]
        self.to_page = cv2.invertAffineTransform(forward)
        faint = (ink >= 0.5 * config.ink_threshold).astype(np.uint8)
        self.binary, self.rules = _remove_rules(binary, faint, config.rule_length)

    # -------------------------------------------------------------- lines

    def lines(self):
        """(polygon, baseline) per line in page coordinates, in reading order."""
        binary = self.binary
        hh, ww = binary.shape
        n, labels, stats, cents = cv2.connectedComponentsWithStats(binary, connectivity=8)
        area = stats[:, cv2.CC_STAT_AREA].astype(np.int64)
        area[0] = 0
        # specks: by page size first (the spacing is not known yet)
        speck = max(4, int(SPECK_AREA * hh * ww))
        big = area >= speck
        big[0] = False
        if not big.any():
            return []
        text = big & _text_like_components(stats, binary.shape)
        if not text.any():
            text = big
        # on a page whose lines are far apart the spacing would overstate the writing (and
        # drop it as dust or small print): capped at 4 times its components' median height,
        # weighted by ink (so that dust or a form's small print does not set it)
        char = _weighted_median(stats[text, cv2.CC_STAT_HEIGHT], stats[text, cv2.CC_STAT_AREA])
        spacing = min(
            _line_spacing(binary * text[labels].astype(np.uint8), stats[text]), SPACING_CAP * char
        )
        self.spacing = spacing
        cfg = self.config
        bw, bh = stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_HEIGHT]
        # dots, accents, commas, specks (and print far smaller than the handwriting): they
        # never make a line, but join the line they belong to
        small = (area < max(4.0, (MARK_AREA * spacing) ** 2)) | (
            np.maximum(bw, bh) < MARK_SIDE * spacing
        )
        small[0] = False
        # solid or huge things are never text: scanner borders, photos, stamps; nor is
        # what touches the edge of the image
        huge = (bh > HUGE_SIDE * spacing) & (bw > HUGE_SIDE * spacing)
        # solid: filled and bigger than the letters (bold writing fills its boxes too)
        huge |= (area > SOLID_FILL * bw * bh) & (
            np.minimum(bw, bh) > max(SOLID_SIDE * spacing, SOLID_CHARS * char)
        )
        # ... unless it is the size of writing (a word written up to the edge of the scan)
        sized = (bh <= EDGE_TEXT_SIDE * spacing) & (bw <= EDGE_TEXT_LENGTH * spacing)
        huge |= (np.bincount(labels[self.edge > 0], minlength=n) > 0) & ~sized
        huge |= (np.maximum(bw, bh) > RULE_LENGTH * max(hh, ww)) & (
            np.minimum(bw, bh) < RULE_WIDTH * spacing
        )
        small &= ~huge
        # what is left of a rule where its removal stopped short: flat, long, touching it
        near_rule = cv2.dilate(self.rules, np.ones((3, 3), np.uint8))
        touch = np.bincount(labels[near_rule > 0], minlength=n) > 0
        flat = bh <= np.maximum(FLAT_MIN_PX, FLAT_HEIGHT * spacing)
        remnant = touch & flat & (bw >= REMNANT_ASPECT * bh)
        # and long flat strokes anywhere (bits of rules, underlines, dashes drawn to fill a
        # line) neither make a line nor stretch one; short hair-thin ones (hyphens, dashes)
        # join a line like dots do
        remnant |= flat & (bw >= FLAT_LENGTH * spacing)
        small |= (bh <= max(2.0, HAIR_HEIGHT * spacing)) & ~remnant
        small &= ~remnant
        main = ~small & ~huge & ~remnant
        main[0] = False
        # what a line should hold, or be reported (self.unread); near the edge of the scan
        # it may as well be a shadow, a fold or the edge of the paper
        writing = main & ~(np.bincount(labels[self.near_edge > 0], minlength=n) > 0)
        main &= ~_vertical_writing(labels, stats, cents, main, spacing)
        if not main.any():
            self.unread = self._outside(labels, writing, [], spacing)
            return []
        groups = []  # (ys, xs, comp) of the main ink of each band (or insertion), in order
        for x0, x1 in _columns(main[labels], cfg.column_gap * spacing):
            comps = np.flatnonzero(main & (cents[:, 0] >= x0) & (cents[:, 0] < x1))
            if comps.size:
                groups += self._column_lines(labels, stats, cents, comps, spacing)
        if not groups:
            self.unread = self._outside(labels, writing, [], spacing)
            return []
        extra = _attach_small(
            [(ys, xs) for ys, xs, _ in groups],
            labels,
            stats,
            np.flatnonzero(small & (area >= max(3.0, MARK_MIN_AREA * spacing**2))),
            binary.shape,
            spacing,
            [_baseline(xs, ys, spacing) for ys, xs, _ in groups],
        )
        pieces = [
            piece
            for (ys, xs, comp), (sy, sx) in zip(groups, extra)
            for piece in self._pieces(ys, xs, comp, sy, sx, stats, spacing)
        ]
        if not pieces:
            self.unread = self._outside(labels, writing, [], spacing)
            return []
        # specks and small print: low for the spacing, unless the page's writing (the
        # ink-weighted median piece) is not and this piece reaches SMALL_PRINT of it: one line
        # written at half the size of the rest stays, a form's small print (~1/3) does not
        height, glyph = np.array([p[4:] for p in pieces]).T
        ink = np.array([len(p[0]) for p in pieces], np.float64)
        low = _low(height, cfg.min_height * spacing, ink) | _low(
            glyph, cfg.min_glyph * spacing, ink
        )
        found = []  # (polygon, baseline) in working coordinates
        for (py, px, ay, ax, _, _), drop in zip(pieces, low):
            if not drop:
                found.append(_envelope(ax, ay, px, py, spacing, cfg.pad))
        # writing that no band took (far from every line: a signature, a note in the
        # margin): a line of its own where it looks like one; what no line holds in the
        # end (vertical writing, small print, a stray flourish) is reported
        seen = np.zeros(n, bool)
        for _, _, comp in groups:
            seen[comp] = True
        stray = main & ~seen
        stray[0] = False
        if stray.any():
            for poly, base in self._stray_lines(labels, stray, small, spacing):
                found.insert(_reading_place(found, poly), (poly, base))
        self.unread = self._outside(labels, writing, [poly for poly, _ in found], spacing)
        return [(self._map(poly), self._map(base)) for poly, base in found]

    def _outside(self, labels, writing, polygons, spacing) -> list[tuple[int, int, int, int]]:
        """Page boxes (x0, y0, x1, y1) of the ``writing`` components that lie mostly outside
        every polygon (vertical writing, small print, blobs that were not read), grouped
        where they are under a third of a spacing apart."""
        inside = np.zeros(labels.shape, np.uint8)
        cv2.fillPoly(inside, [np.rint(p).astype(np.int32) for p in polygons], 1)
        n = len(writing)
        total = np.bincount(labels.ravel(), minlength=n)
        held = np.bincount(labels[inside > 0], minlength=n)
        left = writing & (held < 0.5 * np.maximum(total, 1))
        left[0] = False
        if not left.any():
            return []
        r = max(1, int(spacing / 3))
        near = cv2.dilate(left[labels].astype(np.uint8), np.ones((r, r), np.uint8))
        _, _, boxes, _ = cv2.connectedComponentsWithStats(near, connectivity=8)
        out = []
        for x, y, w, h, _ in boxes[1:]:
            corners = np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]], np.float64)
            mapped = self._map(corners)
            (x0, y0), (x1, y1) = mapped.min(0), mapped.max(0)
            out.append((int(x0), int(y0), int(x1), int(y1)))
        return out

    def _stray_lines(self, labels, stray, small, spacing):
        """Lines made of the ``stray`` components (with the marks near them), grouped as
        words and lines are (gaps under half a spacing across, a fifth down), where a group
        looks like a line of writing: (polygon, baseline) pairs in working coordinates."""
        cfg = self.config
        mask = stray[labels].astype(np.uint8)
        reach = max(1, int(0.5 * spacing))
        joined = cv2.dilate(mask, np.ones((max(1, int(0.2 * spacing)), 2 * reach + 1), np.uint8))
        k, groups = cv2.connectedComponents(joined, connectivity=8)
        made = []
        marks = small[labels]
        for g in range(1, k):
            inside = groups == g
            py, px = np.nonzero(inside & (mask > 0))
            if not len(py):
                continue
            ay, ax = np.nonzero(inside & ((mask > 0) | marks))
            top, bottom = np.percentile(py, [1, 99])
            height, width = bottom - top + 1, ax.max() - ax.min() + 1
            fill = len(py) / (width * (py.max() - py.min() + 1))
            if (
                cfg.min_height * spacing <= height <= 2.0 * spacing
                and width >= cfg.min_aspect * height
                and fill <= cfg.max_fill
                and len(py) >= 0.02 * spacing**2
            ):
                made.append(_envelope(ax, ay, px, py, spacing, cfg.pad))
        return made

    def _column_lines(self, labels, stats, cents, comps, spacing) -> list[tuple[np.ndarray, ...]]:
        """Main ink (ys, xs, component) of each line of one column, top to bottom."""
        cfg = self.config
        cx0 = int(stats[comps, cv2.CC_STAT_LEFT].min())
        cx1 = int((stats[comps, cv2.CC_STAT_LEFT] + stats[comps, cv2.CC_STAT_WIDTH]).max())
        cy0 = int(stats[comps, cv2.CC_STAT_TOP].min())
        cy1 = int((stats[comps, cv2.CC_STAT_TOP] + stats[comps, cv2.CC_STAT_HEIGHT]).max())
        lab = labels[cy0:cy1, cx0:cx1]
        member = np.zeros(len(stats), bool)
        member[comps] = True
        mask = member[lab]
        # strokes crossed per row (not ink per row): the core of the writing stands out, a
        # rule, an underline or a long flourish does not
        crossings = np.count_nonzero(mask[:, 1:] & ~mask[:, :-1], axis=1) + mask[:, 0]
        peaks = _profile_peaks(crossings.astype(np.float64), spacing, cfg.peak_distance)
        if not len(peaks):
            return []
        seams = _seams(mask, peaks, spacing)  # (len(peaks) - 1, width), increasing rows
        # band of each pixel; a component goes whole to its majority band unless two lines
        # really touch (a tall component with a sizable share on each side of a seam)
        ys, xs = np.nonzero(mask)
        band = (seams[:, xs] <= ys).sum(0) if len(seams) else np.zeros(len(ys), np.int64)
        comp = lab[ys, xs]
        nb = len(peaks)
        index = np.full(len(stats), -1)
        index[comps] = np.arange(len(comps))
        counts = np.zeros((len(comps), nb), np.int64)
        np.add.at(counts, (index[comp], band), 1)
        if nb > 1:
            ranked = np.sort(counts, axis=1)
            share2 = ranked[:, -2] / np.maximum(ranked.sum(1), 1)
        else:
            share2 = np.zeros(len(comps))
        split = (share2 >= 0.2) & (stats[comps, cv2.CC_STAT_HEIGHT] > 1.1 * spacing)
        majority = counts.argmax(1)
        pix_band = np.where(split[index[comp]], band, majority[index[comp]])
        # nothing more than a spacing away from its line's centre (below the last line or
        # above the first: stray marks)
        off = np.abs(cents[comps, 1] - cy0 - peaks[majority]) > spacing
        pix_band[off[index[comp]] & ~split[index[comp]]] = -1
        out = []
        for b in range(nb):
            sel = pix_band == b
            if not sel.any():
                continue
            ys_, xs_, comp_ = ys[sel] + cy0, xs[sel] + cx0, comp[sel]
            # interlinear insertions on their own: above the line before it, below after it
            above, below, rest = _insertions(ys_, xs_, comp_, spacing, cfg.insertions)
            for part in above + [rest] + below:
                if part.any():
                    out.append((ys_[part], xs_[part], comp_[part]))
        return out

    def _pieces(self, ys, xs, comp, sy, sx, stats, spacing):
        """A band's ink cut at gaps wider than ``split_gap`` (main strokes ``ys, xs`` of
        components ``comp``, and the small ones ``sy, sx`` that joined them), left to right,
        without the pieces that do not look like text. Yields (main ys, main xs, all ys,
        all xs, height, glyph height) per piece: the height of its main ink and the 90th
        percentile of its components' heights (small print is judged by the caller)."""
        cfg = self.config
        ay, ax = np.r_[ys, sy], np.r_[xs, sx]
        cols = np.unique(ax)
        breaks = np.flatnonzero(np.diff(cols) > max(2.0, cfg.split_gap * spacing))
        for a, b in zip(np.r_[cols[0], cols[breaks + 1]], np.r_[cols[breaks], cols[-1]]):
            sel = (xs >= a) & (xs <= b)
            if not sel.any():
                continue  # dots only
            py, px = ys[sel], xs[sel]
            both = (ax >= a) & (ax <= b)
            top, bottom = np.percentile(py, [1, 99])
            height = bottom - top + 1
            width = ax[both].max() - ax[both].min() + 1  # with its dots and dashes
            if len(py) < 0.02 * spacing**2:
                continue  # a speck
            if width < cfg.min_aspect * height:
                continue  # vertical writing, a blob
            if len(py) > cfg.max_fill * width * (py.max() - py.min() + 1):
                continue  # a stamp, a smudge
            glyph = np.percentile(stats[np.unique(comp[sel]), cv2.CC_STAT_HEIGHT], 90)
            yield py, px, ay[both], ax[both], height, glyph

    def _map(self, pts: np.ndarray) -> np.ndarray:
        pts = np.asarray(pts, np.float64)
        out = pts @ self.to_page[:, :2].T + self.to_page[:, 2]
        h, w = self.shape
        out[:, 0] = np.clip(out[:, 0], 0, w - 1)
        out[:, 1] = np.clip(out[:, 1], 0, h - 1)
        return np.rint(out).astype(np.int32)


# ---------------------------------------------------------------- steps


def _reading_place(found, poly) -> int:
    """Where a line with polygon ``poly`` goes in the reading order of the lines ``found``
    ((polygon, baseline) pairs): after the last line whose middle is above its own among
    those that share columns with it (else among all lines)."""
    if not found:
        return 0
    y = (poly[:, 1].min() + poly[:, 1].max()) / 2
    x0, x1 = poly[:, 0].min(), poly[:, 0].max()
    mids = np.array([(p[:, 1].min() + p[:, 1].max()) / 2 for p, _ in found])
    share = np.array([min(x1, p[:, 0].max()) > max(x0, p[:, 0].min()) for p, _ in found])
    above = np.flatnonzero((mids < y) & share) if share.any() else np.flatnonzero(mids < y)
    return int(above.max()) + 1 if len(above) else 0


def _thicken(gray: np.ndarray, k: int) -> np.ndarray:
    """Dark strokes widened by ``k - 1`` pixels (a k x k minimum filter) before the page is
    shrunk k or more times: by less than one pixel of the working copy, but a fine pen's
    strokes on a large scan (3 or more times the working size: 4800 px and up) then stay
    whole there instead of fading into the paper. Smaller scans (where widening gave an
    ordinary pen's writing false lines) and light writing on a dark ground are left as
    they are."""
    if k < 3 or dark_ground(gray[::4, ::4]):
        return gray
    return cv2.erode(gray, np.ones((k, k), np.uint8))


def _text_like_components(stats: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Components that may be writing: not longer than a fifth of the page (rules, frames,
    page edges against a scanner lid) and not touching the image edge."""
    h, w = shape
    x0, y0 = stats[:, cv2.CC_STAT_LEFT], stats[:, cv2.CC_STAT_TOP]
    x1, y1 = x0 + stats[:, cv2.CC_STAT_WIDTH], y0 + stats[:, cv2.CC_STAT_HEIGHT]
    keep = np.maximum(x1 - x0, y1 - y0) < 0.2 * max(h, w)
    keep &= (x0 > 0) & (y0 > 0) & (x1 < w) & (y1 < h)
    keep[0] = False
    return keep


def _text_like(binary: np.ndarray) -> np.ndarray:
    """``binary`` with only its :func:`_text_like_components`."""
    _, labels, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
    return _text_like_components(stats, binary.shape)[labels].astype(np.uint8)


def _estimate_skew(binary: np.ndarray, max_skew: float) -> float:
    """The page's rotation (degrees, OpenCV sign), to 0.1°: the one that makes the rows of
    its writing (``binary``, scaled to at most 600 px) sharpest; 0 for an almost empty page."""
    h, w = binary.shape
    f = min(1.0, 600 / max(h, w))
    small = cv2.resize(
        binary.astype(np.float32),
        (max(1, round(w * f)), max(1, round(h * f))),
        interpolation=cv2.INTER_AREA,
    )
    if small.sum() < 50:
        return 0.0
    return skew_angle(small, max_skew, 0.5, 0.1)


def _remove_rules(
    binary: np.ndarray, faint: np.ndarray, rule_length: float
) -> tuple[np.ndarray, np.ndarray]:
    """Erase long thin horizontal and vertical runs (ruled paper, frames, scanner edges) from
    ``binary``; they are looked for in ``faint`` (a lower threshold: printed rules are often
    light and broken). Returns the cleaned binary and the mask of what was erased."""
    out = binary.copy()
    erased = np.zeros_like(binary)
    if rule_length <= 0:
        return out, erased
    h, w = binary.shape
    for length, horizontal in ((int(rule_length * w), True), (int(rule_length * h), False)):
        if length < 20:
            continue
        rect = lambda along, across, horizontal=horizontal: cv2.getStructuringElement(  # noqa: E731
            cv2.MORPH_RECT, (along, across) if horizontal else (across, along)
        )
        gap = max(3, length // 50)
        # a pixel of wobble across, then short breaks along, then only long runs remain
        cand = cv2.dilate(faint, rect(1, 3))
        cand = cv2.morphologyEx(cand, cv2.MORPH_CLOSE, rect(gap, 1))
        rules = cv2.morphologyEx(cand, cv2.MORPH_OPEN, rect(length, 1))
        if not rules.any():
            continue
        # only thin runs: a rule is a few pixels thick, a filled area is not
        thick = cv2.morphologyEx(rules, cv2.MORPH_OPEN, rect(1, 11))
        rules = rules & (1 - thick)
        gone = (rules > 0) & (binary > 0)
        # where a stroke crosses the rule (ink right on both sides) its pixels stay, so that
        # a descender through a rule keeps its letter
        rest = binary & ~gone
        before, after = np.zeros_like(rest), np.zeros_like(rest)
        axis = 0 if horizontal else 1
        for d in range(1, 5):
            before |= _shift(rest, d, axis)
            after |= _shift(rest, -d, axis)
        crossed = (before & after).astype(bool)
        # a "rule" crossed along most of its ink is a row through dense writing: not a rule
        n, lab = cv2.connectedComponents(rules, connectivity=8)
        ink_px = np.bincount(lab[gone], minlength=n)
        crossed_px = np.bincount(lab[gone & crossed], minlength=n)
        writing = crossed_px > 0.4 * np.maximum(ink_px, 1)
        writing[0] = True
        gone &= ~crossed & ~writing[lab]
        out[gone] = 0
        erased[gone] = 1
    return out, erased


def _shift(a: np.ndarray, d: int, axis: int) -> np.ndarray:
    """``a`` moved by ``d`` along ``axis`` (positive: down / right), zeros shifted in."""
    out = np.zeros_like(a)
    src = [slice(None)] * 2
    dst = [slice(None)] * 2
    if d > 0:
        src[axis], dst[axis] = slice(0, -d), slice(d, None)
    else:
        src[axis], dst[axis] = slice(-d, None), slice(0, d)
    out[tuple(dst)] = a[tuple(src)]
    return out


def _line_spacing(mask: np.ndarray, stats: np.ndarray) -> float:
    """Typical distance between text lines: the period of the row profile (its
    autocorrelation's first strong peak); without one (a single line, or two), one and a
    half times the height of the strongest line, measured on the count of strokes crossed
    per row (where a rule or an underline hardly shows)."""
    heights = stats[:, cv2.CC_STAT_HEIGHT]
    char = float(np.median(heights)) if len(heights) else 10.0
    prof = mask.sum(axis=1).astype(np.float64)
    rows = np.flatnonzero(prof)
    if rows.size < 4:
        return max(8.0, 2.5 * char)
    sigma = max(1.0, 0.25 * char)
    m = mask[rows[0] : rows[-1] + 1].astype(bool)
    strokes = _smooth(np.count_nonzero(m[:, 1:] & ~m[:, :-1], axis=1).astype(np.float64), sigma)
    top = int(strokes.argmax())
    low = np.flatnonzero(strokes < 0.2 * strokes[top])
    start = low[low < top].max() if (low < top).any() else 0
    end = low[low > top].min() if (low > top).any() else len(strokes)
    fallback = max(8.0, 2.5 * char, 1.5 * (end - start))
    prof = _smooth(prof[rows[0] : rows[-1] + 1], sigma)
    prof -= prof.mean()
    n = len(prof)
    lo, hi = int(max(4, 1.2 * char)), n // 2
    if hi <= lo + 2:
        return fallback
    spec = np.fft.rfft(prof, 2 * n)
    ac = np.fft.irfft(spec * np.conj(spec))[:n]
    ac /= max(ac[0], 1e-9)
    seg = ac[lo:hi]
    local = np.flatnonzero((seg[1:-1] >= seg[:-2]) & (seg[1:-1] >= seg[2:]) & (seg[1:-1] > 0.1)) + 1
    if local.size == 0:
        return fallback
    best = seg[local].max()
    first = local[seg[local] >= 0.4 * best][0]  # the fundamental, not a multiple
    return float(lo + first)


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    """The value under which half of the total weight lies."""
    order = np.argsort(values)
    cum = np.cumsum(np.asarray(weights, np.float64)[order])
    return float(np.asarray(values)[order][np.searchsorted(cum, 0.5 * cum[-1])])


def _low(values: np.ndarray, minimum: float, weights: np.ndarray) -> np.ndarray:
    """Which ``values`` are under ``minimum`` and under :data:`SMALL_PRINT` times their
    ``weights``-weighted median (or under ``minimum`` when that median is too)."""
    ref = _weighted_median(values, weights)
    return (values < minimum) & ((values < SMALL_PRINT * ref) | (ref < minimum))


def _smooth(x: np.ndarray, sigma: float) -> np.ndarray:
    r = max(1, int(3 * sigma))
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    return np.convolve(np.pad(x, r, mode="edge"), k / k.sum(), mode="valid")


def _vertical_writing(labels, stats, cents, main, spacing) -> np.ndarray:
    """Components of vertical writing (notes written up a margin): those whose centre lies
    in a strip at least a line spacing wide where most ink belongs to components clearly
    taller than wide, when such components stack up over several line spacings with
    small gaps between them."""
    bw, bh = stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_HEIGHT]
    area = stats[:, cv2.CC_STAT_AREA].astype(np.float64)
    tall = main & (bh >= 1.3 * bw) & (bh >= 0.4 * spacing)
    out = np.zeros(len(stats), bool)
    if tall.sum() < 3:
        return out
    w = labels.shape[1]
    total = np.zeros(w)
    upright = np.zeros(w)
    for sel, prof in ((main, total), (tall, upright)):  # ink spread over each box's width
        idx = np.flatnonzero(sel)
        x0 = stats[idx, cv2.CC_STAT_LEFT]
        np.add.at(prof, x0, area[idx] / bw[idx])
        np.add.at(prof, np.minimum(x0 + bw[idx], w - 1), -area[idx] / bw[idx])
        prof[:] = np.cumsum(prof)
    k = max(3, int(spacing)) | 1
    total = np.convolve(total, np.ones(k) / k, mode="same")
    upright = np.convolve(upright, np.ones(k) / k, mode="same")
    strip = (upright >= 0.5 * np.maximum(total, 1e-9)) & (total > 0)
    if not strip.any():
        return out
    xs = np.flatnonzero(strip)
    breaks = np.flatnonzero(np.diff(xs) > 1)
    for a, b in zip(np.r_[xs[0], xs[breaks + 1]], np.r_[xs[breaks], xs[-1]]):
        inside = main & (cents[:, 0] >= a) & (cents[:, 0] <= b)
        members = np.flatnonzero(inside & tall)
        if len(members) < 3:
            continue
        top = stats[members, cv2.CC_STAT_TOP]
        bottom = top + bh[members]
        if bottom.max() - top.min() < 3 * spacing:
            continue
        # a strip of vertical writing is at least a line spacing wide, and its pieces
        # follow each other up the page with word gaps between them; the tall letters
        # of horizontal lines that line up in a margin are a line's whitespace apart
        if b - a < spacing:
            continue
        below = np.median([_neighbour_gaps(stats, main, m)[1] for m in members])
        if below >= 0.25 * spacing:
            continue
        out |= inside
    return out


def _baseline(xs, ys, spacing) -> tuple[float, float, float]:
    """Straight baseline ``y = slope * x + icpt`` of a line's ink and the height of its core
    (x-height) band: per bin of a third spacing the 85th / 15th percentile rows, fitted
    twice, the second time without the bins far off the first fit."""
    x0, n = int(xs.min()), int(xs.max() - xs.min() + 1)
    nbins = max(1, int(np.ceil(n / max(4.0, spacing / 3))))
    idx = np.minimum(((xs - x0) * nbins) // n, nbins - 1)
    bx, lo, hi, wt = [], [], [], []
    for k in range(nbins):
        sel = ys[idx == k]
        if sel.size >= 3:
            bx.append(x0 + (k + 0.5) * n / nbins)
            lo.append(np.percentile(sel, 85))
            hi.append(np.percentile(sel, 15))
            wt.append(sel.size)
    if len(bx) < 2:
        low = float(np.percentile(ys, 85))
        return 0.0, low, low - float(np.percentile(ys, 15))
    bx, lo, hi, wt = map(np.asarray, (bx, lo, hi, wt))
    slope, icpt = np.polyfit(bx, lo, 1, w=np.sqrt(wt))
    near = np.abs(lo - (slope * bx + icpt)) <= 0.2 * spacing
    if near.sum() >= 2 and near.sum() < len(bx):
        slope, icpt = np.polyfit(bx[near], lo[near], 1, w=np.sqrt(wt[near]))
    return float(slope), float(icpt), float(np.median(lo - hi))


def _insertions(ys, xs, comp, spacing, enabled=True):
    """Split interlinear insertions off a band's ink: groups of components, together at
    least a line spacing wide and a fifth of one high, lying wholly above the line's core
    band (their lowest ink 0.35 spacings over the baseline) or wholly under its baseline.
    Returns (list of masks above, list of masks below, mask of the rest)."""
    rest = np.ones(len(ys), bool)
    if not enabled or len(ys) < 10:
        return [], [], rest
    slope, icpt, _ = _baseline(xs, ys, spacing)
    ids, inv = np.unique(comp, return_inverse=True)
    top = np.full(len(ids), np.inf)
    bot = np.full(len(ids), -np.inf)
    left = np.full(len(ids), np.inf)
    right = np.full(len(ids), -np.inf)
    np.minimum.at(top, inv, ys)
    np.maximum.at(bot, inv, ys)
    np.minimum.at(left, inv, xs)
    np.maximum.at(right, inv, xs)
    base = slope * (left + right) / 2 + icpt
    groups = ([], [])
    for side, float_ in enumerate((bot < base - 0.35 * spacing, top > base + 0.15 * spacing)):
        cand = np.flatnonzero(float_)
        if cand.size == 0:
            continue
        cand = cand[np.argsort(left[cand])]
        runs, cur, reach = [], [cand[0]], right[cand[0]]
        for c in cand[1:]:
            if left[c] - reach <= 0.5 * spacing:
                cur.append(c)
                reach = max(reach, right[c])
            else:
                runs.append(cur)
                cur, reach = [c], right[c]
        runs.append(cur)
        for run in runs:
            run = np.array(run)
            width = right[run].max() - left[run].min()
            height = bot[run].max() - top[run].min()
            if width < spacing or height < 0.2 * spacing:
                continue
            sel = np.isin(inv, run)
            if sel.sum() > 0.6 * len(ys):
                continue  # most of the band: the line itself, not an insertion
            groups[side].append(sel)
            rest &= ~sel
    return groups[0], groups[1], rest


def _attach_small(pieces, labels, stats, small, shape, spacing, baselines):
    """Give each small component (accent, dot, comma) to the line whose main ink is nearest
    to it (within 0.3 line spacings: the letter it belongs to, not the seam's side), if it
    lies where accents and punctuation go: from 0.35 spacings over the line's core band
    (``baselines``: slope, intercept, core height per line) to 0.2 under its baseline.
    Dust further off stays out of the line's polygon."""
    owner = np.zeros(shape, np.int32)
    for k, (ys, xs) in enumerate(pieces, 1):
        owner[ys, xs] = k
    extra = [([], []) for _ in pieces]
    reach = 0.3 * spacing
    h, w = shape
    for c in small:
        x0, y0 = stats[c, cv2.CC_STAT_LEFT], stats[c, cv2.CC_STAT_TOP]
        x1, y1 = x0 + stats[c, cv2.CC_STAT_WIDTH], y0 + stats[c, cv2.CC_STAT_HEIGHT]
        wx0, wy0 = max(0, int(x0 - reach)), max(0, int(y0 - reach))
        wx1, wy1 = min(w, int(x1 + reach)), min(h, int(y1 + reach))
        win = owner[wy0:wy1, wx0:wx1]
        oy, ox = np.nonzero(win)
        if oy.size == 0:
            continue
        cy, cx = (y0 + y1) / 2 - wy0, (x0 + x1) / 2 - wx0
        d2 = (oy - cy) ** 2 + (ox - cx) ** 2
        if d2.min() > (reach + max(x1 - x0, y1 - y0) / 2) ** 2:
            continue
        k = win[oy, ox][np.argmin(d2)]
        slope, icpt, core = baselines[k - 1]
        base = slope * (x0 + x1) / 2 + icpt
        if not base - core - 0.35 * spacing <= (y0 + y1) / 2 <= base + 0.2 * spacing:
            continue
        py, px = np.nonzero(labels[y0:y1, x0:x1] == c)
        extra[k - 1][0].append(py + y0)
        extra[k - 1][1].append(px + x0)
    return [
        (
            np.concatenate(ey) if ey else np.zeros(0, np.int64),
            np.concatenate(ex) if ex else np.zeros(0, np.int64),
        )
        for ey, ex in extra
    ]


def _neighbour_gaps(stats, main, m) -> tuple[float, float]:
    """Gap from component ``m`` to its nearest neighbour beside it and above or below it."""
    x0, y0 = stats[:, cv2.CC_STAT_LEFT], stats[:, cv2.CC_STAT_TOP]
    x1, y1 = x0 + stats[:, cv2.CC_STAT_WIDTH], y0 + stats[:, cv2.CC_STAT_HEIGHT]
    ov_x = np.minimum(x1, x1[m]) - np.maximum(x0, x0[m])
    ov_y = np.minimum(y1, y1[m]) - np.maximum(y0, y0[m])
    ok = main.copy()
    ok[m] = False
    side = ok & (ov_y > 0) & (ov_x <= 0)
    updown = ok & (ov_x > 0) & (ov_y <= 0)
    gh = float((-ov_x[side]).min()) if side.any() else np.inf
    gv = float((-ov_y[updown]).min()) if updown.any() else np.inf
    return gh, gv


def _columns(mask: np.ndarray, min_gap: float) -> list[tuple[int, int]]:
    """x ranges of columns separated by vertical whitespace at least ``min_gap`` wide."""
    prof = mask.sum(axis=0)
    cols = np.flatnonzero(prof > 0)
    if cols.size == 0:
        return []
    gaps = np.flatnonzero(np.diff(cols) > max(1.0, min_gap))
    edges = [cols[0]] + [int((cols[g] + cols[g + 1]) // 2) for g in gaps] + [cols[-1] + 1]
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:])]


def _photographed_page(
    image: np.ndarray, size: int = 800
) -> tuple[tuple[int, int, int, int], np.ndarray] | None:
    """The page(s) photographed on a darker ground (a table, an open scanner lid): the bright
    regions (each at least 2 % of the image: a book's two pages, or a page cut by a shadow),
    when the ground around them is clearly darker and makes most of the image's border.
    None for a scan (paper up to the edges). Found on a copy whose longer side is ``size``
    pixels. Returns the pages' bounding box ``(x, y, w, h)`` in ``image`` and their mask over
    that box, at the copy's resolution (the caller scales it to its own working copy)."""
    scale = min(1.0, size / max(image.shape))
    gray = cv2.resize(
        image,
        (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale))),
        interpolation=cv2.INTER_AREA,
    )
    h, w = gray.shape
    sigma = max(2.0, max(h, w) / 200)
    blur = cv2.GaussianBlur(gray, (0, 0), sigma)
    _, bright = cv2.threshold(blur, 0, 1, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    border = np.r_[bright[0], bright[-1], bright[:, 0], bright[:, -1]]
    if border.mean() > 0.5:  # the border is mostly bright: paper up to the edges
        return None
    _, labels, stats, _ = cv2.connectedComponentsWithStats(bright, connectivity=8)
    mask = np.zeros((h, w), np.uint8)
    for k in np.flatnonzero(stats[1:, cv2.CC_STAT_AREA] >= 0.02 * h * w) + 1:
        hull = cv2.convexHull(cv2.findNonZero((labels == k).astype(np.uint8)))
        cv2.fillConvexPoly(mask, hull, 1)
    if not 0.1 <= mask.mean() <= 0.95:
        return None
    if gray[mask == 0].mean() > 0.7 * gray[mask > 0].mean():  # no clearly darker ground
        return None
    r = int(2 * sigma) | 1  # the blur widened the page a little
    mask = cv2.erode(mask, np.ones((r, r), np.uint8))
    if not mask.any():
        return None
    x, y, bw, bh = cv2.boundingRect(mask)
    x0, y0 = int(x / scale), int(y / scale)
    x1 = min(image.shape[1], int(np.ceil((x + bw) / scale)))
    y1 = min(image.shape[0], int(np.ceil((y + bh) / scale)))
    return (x0, y0, x1 - x0, y1 - y0), mask[y : y + bh, x : x + bw] > 0


def _profile_peaks(prof: np.ndarray, spacing: float, distance: float) -> np.ndarray:
    """Rows of line centres: maxima of the smoothed row profile at least ``distance``
    spacings apart, each clearly above the valleys next to it."""
    if prof.max() <= 0:
        return np.zeros(0, np.int64)
    sm = _smooth(prof, max(1.0, 0.15 * spacing))
    cand = np.flatnonzero((sm[1:-1] > sm[:-2]) & (sm[1:-1] >= sm[2:])) + 1
    if len(sm) >= 2:
        if sm[0] > sm[1]:
            cand = np.r_[0, cand]
        if sm[-1] > sm[-2]:
            cand = np.r_[cand, len(sm) - 1]
    if cand.size == 0:
        cand = np.array([int(sm.argmax())])
    cand = cand[sm[cand] >= 0.03 * sm.max()]
    keep: list[int] = []
    for c in sorted(cand, key=lambda i: -sm[i]):  # strongest first
        if all(abs(c - k) >= distance * spacing for k in keep):
            keep.append(int(c))
    keep.sort()
    # merge neighbours whose valley is shallow (one line with a bump, not two lines)
    merged = [keep[0]]
    for c in keep[1:]:
        p = merged[-1]
        valley = sm[p : c + 1].min()
        if valley > 0.75 * min(sm[p], sm[c]):
            if sm[c] > sm[p]:
                merged[-1] = c
        else:
            merged.append(c)
    return np.array(merged, np.int64)


def _seams(mask: np.ndarray, peaks: np.ndarray, spacing: float) -> np.ndarray:
    """One separator per pair of neighbouring peaks: the path from left to right that
    crosses the least ink (moving at most one row per column), kept to the middle half
    between the two peaks and, where there is no ink, to the middle of that."""
    h, w = mask.shape
    n = len(peaks) - 1
    if n < 1:
        return np.zeros((0, w), np.int64)
    cost = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), max(1.0, 0.05 * spacing))
    lo = peaks[:-1] + 1 + (peaks[1:] - peaks[:-1] - 1) // 4
    hi = np.maximum(peaks[1:] - (peaks[1:] - peaks[:-1] - 1) // 4, lo + 1)
    nh = hi - lo
    rows = int(nh.max())
    k = np.arange(rows)
    valid = k[None, :] < nh[:, None]
    half = np.maximum((nh[:, None] - 1) / 2, 1)
    prefer = 0.3 * ((k[None, :] - (nh[:, None] - 1) / 2) / half) ** 2
    idx = np.minimum(lo[:, None] + k[None, :], h - 1)  # (n, rows) image rows of each seam
    big = np.float32(1e9)
    c = np.where(valid[:, :, None], cost[idx] + prefer[:, :, None], big)  # (n, rows, w)
    acc = c[:, :, 0].copy()
    back = np.zeros((n, rows, w), np.int8)
    up = np.empty_like(acc)
    down = np.empty_like(acc)
    for x in range(1, w):
        up[:, 0] = big
        up[:, 1:] = acc[:, :-1] + 0.01
        down[:, -1] = big
        down[:, :-1] = acc[:, 1:] + 0.01
        best = np.minimum(np.minimum(up, acc), down)
        back[:, :, x] = np.where(best == acc, 0, np.where(best == up, -1, 1))
        acc = best + c[:, :, x]
    y = acc.argmin(1)
    path = np.empty((n, w), np.int64)
    ar = np.arange(n)
    for x in range(w - 1, -1, -1):
        path[:, x] = y
        if x:
            y = y + back[ar, y, x]  # the row of the path in column x - 1
    return path + lo[:, None]


def _envelope(ax, ay, px, py, spacing, pad_frac):
    """Polygon hugging a line's ink (all of it: ``ax, ay``) and a straight baseline fitted
    to the lower edge of its main strokes (``px, py``), in working coordinates.

    Each pixel column spans from the highest to the lowest ink near it (padded); between
    words, where there is no ink, the polygon narrows to the writing's core band along the
    baseline, so that ascenders and descenders of the neighbouring lines stay out.
    """
    ax, ay, px, py = (np.asarray(v, np.int64) for v in (ax, ay, px, py))
    pad = max(2.0, pad_frac * spacing)
    x0, x1 = int(ax.min()), int(ax.max())
    n = x1 - x0 + 1
    slope, icpt, core = _baseline(px, py, spacing)
    cols = np.arange(x0, x1 + 1)
    base = slope * cols + icpt
    # per column: ink extent, spread sideways a little
    big = 1e9
    tops = np.full(n, big, np.float32)
    bots = np.full(n, -big, np.float32)
    np.minimum.at(tops, ax - x0, ay)
    np.maximum.at(bots, ax - x0, ay)
    r = max(1, int(0.05 * spacing))
    kernel = np.ones((1, 2 * r + 1), np.uint8)
    tops = cv2.erode(tops[None], kernel, borderType=cv2.BORDER_REPLICATE)[0].astype(np.float64)
    bots = cv2.dilate(bots[None], kernel, borderType=cv2.BORDER_REPLICATE)[0].astype(np.float64)
    have = tops < big / 2
    core_top, core_bot = base - core, base
    if have.sum() >= 1:
        it = np.interp(cols, cols[have], tops[have])
        ib = np.interp(cols, cols[have], bots[have])
    else:
        it, ib = core_top, core_bot
    tops = np.where(have, tops, np.maximum(it, core_top)) - pad
    bots = np.where(have, bots, np.minimum(ib, core_bot)) + pad
    bots = np.maximum(bots, tops + 2)
    upper = np.c_[cols, tops]
    lower = np.c_[cols, bots][::-1]
    poly = np.r_[
        [[x0 - pad, tops[0]]],
        upper,
        [[x1 + pad, tops[-1]], [x1 + pad, bots[-1]]],
        lower,
        [[x0 - pad, bots[0]]],
    ]
    poly = cv2.approxPolyDP(poly.astype(np.float32).reshape(-1, 1, 2), 1.5, True).reshape(-1, 2)
    bl = np.array([[x0, slope * x0 + icpt], [x1, slope * x1 + icpt]])
    return poly.astype(np.float64), bl
