"""Page image -> text lines (polygons, baselines) in reading order, with OpenCV.

The steps, all on a downscaled working copy of the page (``SegmentConfig.work_size``):

1. **ink map** (:func:`~handwriting.preprocessing.ink_map`: the paper is divided out, so
   yellowing, shadows and uneven light do not matter) and a threshold -> binary ink;
2. **deskew**: the rotation that makes the row profile sharpest (within ``max_skew``);
3. **ruled lines and rules removed**: long thin horizontal (and vertical) runs, found by a
   morphological opening after short gaps (dashed, faint print) are closed;
4. **line spacing** from the autocorrelation of the row profile; every other size below is a
   multiple of it, so the method does not depend on the resolution;
5. **columns** split at vertical whitespace at least ``column_gap`` line spacings wide that
   runs the whole height of the text;
6. **lines** per column: peaks of the smoothed row profile, separated by minimum-ink seams
   (dynamic programming) that pass between ascenders and descenders; a connected component
   belongs to the band holding most of it, and is cut along the seam only when two lines
   really touch;
7. a band's ink is split where a horizontal gap wider than ``split_gap`` spacings opens
   (marginal notes), and pieces that do not look like text are dropped (specks, stamps and
   other solid blobs, vertical writing, remnants of rules);
8. each line gets a polygon (its ink envelope, padded) and a straight baseline, mapped back
   to the coordinates of the original page.

Reading order: columns left to right, lines top to bottom, pieces of one band left to right.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .config import _check, _Config
from .groundtruth import TextLine
from .preprocessing import ink_map, to_gray


@dataclass(frozen=True)
class SegmentConfig(_Config):
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
        min_height: (S) lowest ink height of a text line.
        min_aspect: smallest width / height of a text line (lower: vertical writing, blobs).
        max_fill: largest share of ink in a line's box (higher: a stamp or a smudge).
        pad: (S) margin added around a line's ink envelope.
        peak_distance: (S) closest two line centres may be.
    """

    work_size: int = 1600
    ink_threshold: float = 0.4
    max_skew: float = 5.0
    rule_length: float = 0.12
    column_gap: float = 1.5
    split_gap: float = 2.5
    min_height: float = 0.25
    min_aspect: float = 1.0
    max_fill: float = 0.5
    pad: float = 0.08
    peak_distance: float = 0.6

    def __post_init__(self):
        _check(200 <= self.work_size <= 10000,
               f"segment.work_size must be 200..10000, got {self.work_size}")
        _check(0 < self.ink_threshold < 1,
               f"segment.ink_threshold must be in (0, 1), got {self.ink_threshold}")
        _check(0 <= self.max_skew <= 20, f"segment.max_skew must be 0..20, got {self.max_skew}")
        _check(0 <= self.rule_length <= 1,
               f"segment.rule_length must be 0..1, got {self.rule_length}")
        for name in ("column_gap", "split_gap", "min_height", "min_aspect", "pad",
                     "peak_distance"):
            _check(getattr(self, name) >= 0, f"segment.{name} must be >= 0")
        _check(0 < self.max_fill <= 1, f"segment.max_fill must be in (0, 1], got {self.max_fill}")


# ---------------------------------------------------------------- public API

def segment_page(gray: np.ndarray, config: SegmentConfig | None = None) -> list[TextLine]:
    """Find the text lines of a page, in reading order.

    Args:
        gray: the page, any array :func:`~handwriting.preprocessing.to_gray` accepts.
        config: tunables (default :class:`SegmentConfig`).

    Returns:
        ``TextLine`` objects with ids ``l1``, ``l2`` ..., an ``(N, 2)`` int32 polygon and a
        ``(2, 2)`` int32 baseline in the coordinates of ``gray``; ``text`` is ``None``.

    Example:
        >>> lines = segment_page(load_image("page.jpg"))
        >>> crops = [crop_line(page, ln.polygon) for ln in lines]
    """
    config = config or SegmentConfig()
    gray = to_gray(gray)
    work = _Work(gray, config)
    lines = []
    for poly, base in work.lines():
        k = len(lines) + 1
        lines.append(TextLine(f"l{k}", poly, base))
    return lines


def is_page(gray: np.ndarray, config: SegmentConfig | None = None) -> bool:
    """Whether an image is a page (several lines) rather than a single line.

    A short (height < 150 px) or wide (aspect > 4) image is a line; anything else is a page
    when :func:`segment_page` finds at least two lines on it.
    """
    gray = to_gray(gray)
    h, w = gray.shape
    if h < 150 or w > 4 * h:
        return False
    return len(segment_page(gray, config)) >= 2


def draw_lines(gray: np.ndarray, lines: list[TextLine], thickness: int = 2) -> np.ndarray:
    """A BGR picture of the page with line polygons (red), baselines (blue) and the reading
    order number of each line."""
    img = cv2.cvtColor(to_gray(gray), cv2.COLOR_GRAY2BGR)
    scale = max(img.shape[:2]) / 2000
    for k, line in enumerate(lines, 1):
        cv2.polylines(img, [np.asarray(line.polygon, np.int32).reshape(-1, 1, 2)], True,
                      (0, 0, 230), thickness)
        if line.baseline is not None:
            cv2.polylines(img, [np.asarray(line.baseline, np.int32).reshape(-1, 1, 2)], False,
                          (230, 80, 0), thickness)
        x, y = np.asarray(line.polygon).min(0)
        cv2.putText(img, str(k), (int(x), max(12, int(y) - 4)), cv2.FONT_HERSHEY_SIMPLEX,
                    0.9 * max(scale, 0.4), (0, 140, 0), max(1, thickness))
    return img


# ---------------------------------------------------------------- the work

class _Work:
    """One page through the steps of the module docstring (working coordinates inside)."""

    def __init__(self, gray: np.ndarray, config: SegmentConfig):
        self.config = config
        h, w = gray.shape
        self.shape = (h, w)
        scale = min(1.0, config.work_size / max(h, w))
        small = gray if scale == 1.0 else cv2.resize(
            gray, (max(1, round(w * scale)), max(1, round(h * scale))),
            interpolation=cv2.INTER_AREA)
        ink = ink_map(small)
        binary = (ink >= config.ink_threshold).astype(np.uint8)
        angle = _estimate_skew(binary, config.max_skew) if config.max_skew > 0 else 0.0
        rot, size = _rotation(binary.shape, angle)
        if angle:
            ink = cv2.warpAffine(ink, rot[:2], size, flags=cv2.INTER_LINEAR, borderValue=0)
            binary = (ink >= config.ink_threshold).astype(np.uint8)
        self.angle = angle
        # working coordinates -> page coordinates
        forward = (rot @ np.array([[scale, 0, 0], [0, scale, 0], [0, 0, 1]], np.float64))[:2]
        self.to_page = cv2.invertAffineTransform(forward)
        self.binary = _remove_rules(binary, config.rule_length)

    # -------------------------------------------------------------- lines

    def lines(self):
        binary = self.binary
        hh, ww = binary.shape
        n, labels, stats, cents = cv2.connectedComponentsWithStats(binary, connectivity=8)
        area = stats[:, cv2.CC_STAT_AREA].astype(np.int64)
        area[0] = 0
        # specks: by page size first (the spacing is not known yet)
        speck = max(4, int(2e-5 * hh * ww))
        big = area >= speck
        big[0] = False
        if not big[1:].any():
            return []
        spacing = _line_spacing(binary * big[labels].astype(np.uint8), stats[big])
        self.spacing = spacing
        cfg = self.config
        small = area < max(speck, (0.12 * spacing) ** 2)  # dots, accents, commas, specks
        small[0] = True
        # solid or huge things are never text: scanner borders, photos, stamps
        bw, bh = stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_HEIGHT]
        huge = (bh > 6 * spacing) & (bw > 6 * spacing)
        huge |= (area > 0.6 * bw * bh) & (bh > 1.5 * spacing)
        main = ~small & ~huge
        main[0] = False
        if not main.any():
            return []
        main_mask = main[labels]
        for x0, x1 in _columns(main_mask, cfg.column_gap * spacing):
            comps = np.flatnonzero(main & (cents[:, 0] >= x0) & (cents[:, 0] < x1))
            if comps.size == 0:
                continue
            yield from self._column_lines(labels, stats, comps, small, x0, x1, spacing)

    def _column_lines(self, labels, stats, comps, small, x0, x1, spacing):
        cfg = self.config
        # the column's own box (components may reach a little over the gap)
        cx0 = int(min(x0, stats[comps, cv2.CC_STAT_LEFT].min()))
        cx1 = int(max(x1, (stats[comps, cv2.CC_STAT_LEFT] + stats[comps, cv2.CC_STAT_WIDTH]).max()))
        cy0 = int(stats[comps, cv2.CC_STAT_TOP].min())
        cy1 = int((stats[comps, cv2.CC_STAT_TOP] + stats[comps, cv2.CC_STAT_HEIGHT]).max())
        lab = labels[cy0:cy1, cx0:cx1]
        member = np.zeros(len(stats), bool)
        member[comps] = True
        mask = member[lab]
        peaks = _profile_peaks(mask.sum(axis=1).astype(np.float64), spacing,
                               cfg.peak_distance)
        seams = _seams(mask, peaks, spacing)  # (len(peaks) - 1, width), increasing rows
        # band of each main pixel; a component goes whole to its majority band unless
        # two lines really touch (a sizable share on each side of a seam)
        ys, xs = np.nonzero(mask)
        band = (seams[:, xs] <= ys).sum(0) if len(seams) else np.zeros(len(ys), np.int64)
        comp = lab[ys, xs]
        nb = len(peaks)
        index = np.full(len(stats), -1)
        index[comps] = np.arange(len(comps))
        counts = np.zeros((len(comps), nb), np.int64)
        np.add.at(counts, (index[comp], band), 1)
        order = np.sort(counts, axis=1)
        share2 = order[:, -2] / np.maximum(order.sum(1), 1) if nb > 1 else np.zeros(len(comps))
        tall = stats[comps, cv2.CC_STAT_HEIGHT] > 1.1 * spacing
        split = (share2 >= 0.2) & tall
        majority = counts.argmax(1)
        pix_band = np.where(split[index[comp]], band, majority[index[comp]])
        # small components (dots, accents) join the band they lie in, if near a line's ink
        sm = np.zeros(len(stats), bool)
        sm[np.flatnonzero(small)] = True
        sm[0] = False
        sys_, sxs = np.nonzero(sm[lab])
        sband = ((seams[:, sxs] <= sys_).sum(0) if len(seams)
                 else np.zeros(len(sys_), np.int64))
        for b in range(nb):
            sel = pix_band == b
            if not sel.any():
                continue
            yield from self._band_lines(ys[sel], xs[sel], sys_[sband == b], sxs[sband == b],
                                        cx0, cy0, spacing)

    def _band_lines(self, ys, xs, sys_, sxs, ox, oy, spacing):
        """Pieces of one band (split at wide gaps), filtered, as page polygons."""
        cfg = self.config
        x_min, x_max = xs.min(), xs.max()
        occupied = np.zeros(x_max - x_min + 1, bool)
        occupied[xs - x_min] = True
        # runs of ink columns joined across gaps narrower than split_gap spacings
        cols = np.flatnonzero(occupied) + x_min
        breaks = np.flatnonzero(np.diff(cols) > max(2.0, cfg.split_gap * spacing))
        starts = np.r_[cols[0], cols[breaks + 1]]
        ends = np.r_[cols[breaks], cols[-1]]
        for a, b in zip(starts, ends):
            sel = (xs >= a) & (xs <= b)
            py, px = ys[sel], xs[sel]
            top, bottom = np.percentile(py, [1, 99])
            height = bottom - top + 1
            width = b - a + 1
            if height < cfg.min_height * spacing or len(py) < 0.05 * spacing ** 2:
                continue
            if width < cfg.min_aspect * height:
                continue
            if len(py) > cfg.max_fill * width * (py.max() - py.min() + 1):
                continue
            near = (sxs >= a - 0.3 * spacing) & (sxs <= b + 0.3 * spacing)
            near &= (sys_ >= py.min() - 0.5 * spacing) & (sys_ <= py.max() + 0.5 * spacing)
            ay = np.r_[py, sys_[near]] + oy
            ax = np.r_[px, sxs[near]] + ox
            poly, base = _envelope(ax, ay, px + ox, py + oy, spacing, cfg.pad)
            yield self._map(poly), self._map(base)

    def _map(self, pts: np.ndarray) -> np.ndarray:
        pts = np.asarray(pts, np.float64)
        out = pts @ self.to_page[:, :2].T + self.to_page[:, 2]
        h, w = self.shape
        out[:, 0] = np.clip(out[:, 0], 0, w - 1)
        out[:, 1] = np.clip(out[:, 1], 0, h - 1)
        return np.rint(out).astype(np.int32)


# ---------------------------------------------------------------- steps

def _rotation(shape: tuple[int, int], angle: float) -> tuple[np.ndarray, tuple[int, int]]:
    """3x3 matrix rotating by ``angle`` degrees onto a canvas that holds the whole image."""
    h, w = shape
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    cos, sin = abs(m[0, 0]), abs(m[0, 1])
    nw, nh = int(np.ceil(h * sin + w * cos)), int(np.ceil(h * cos + w * sin))
    m[0, 2] += nw / 2 - w / 2
    m[1, 2] += nh / 2 - h / 2
    return np.vstack([m, [0, 0, 1]]), (nw, nh)


def _estimate_skew(binary: np.ndarray, max_skew: float) -> float:
    """Rotation (degrees, OpenCV sign) that maximizes the energy of the row profile."""
    h, w = binary.shape
    f = min(1.0, 600 / max(h, w))
    small = cv2.resize(binary.astype(np.float32), (max(1, round(w * f)), max(1, round(h * f))),
                       interpolation=cv2.INTER_AREA)
    if small.sum() < 50:
        return 0.0

    def score(a: float) -> float:
        m, size = _rotation(small.shape, a)
        prof = cv2.warpAffine(small, m[:2], size, flags=cv2.INTER_LINEAR).sum(axis=1)
        return float((prof.astype(np.float64) ** 2).sum())

    coarse = np.arange(-max_skew, max_skew + 1e-6, 0.5)
    scores = [score(a) for a in coarse]
    best = float(coarse[int(np.argmax(scores))])
    fine = np.arange(best - 0.45, best + 0.451, 0.1)
    best = float(fine[int(np.argmax([score(a) for a in fine]))])
    return 0.0 if abs(best) < 0.05 else best


def _remove_rules(binary: np.ndarray, rule_length: float) -> np.ndarray:
    """Erase long thin horizontal and vertical runs (ruled paper, frames, scanner edges)."""
    if rule_length <= 0:
        return binary
    h, w = binary.shape
    out = binary.copy()
    for length, horizontal in ((int(rule_length * w), True), (int(rule_length * h), False)):
        if length < 20:
            continue
        gap = max(3, length // 12)  # close dashes of faint or dotted rules first
        k_close = (gap, 1) if horizontal else (1, gap)
        k_open = (length, 1) if horizontal else (1, length)
        closed = cv2.morphologyEx(binary, cv2.MORPH_CLOSE,
                                  cv2.getStructuringElement(cv2.MORPH_RECT, k_close))
        rules = cv2.morphologyEx(closed, cv2.MORPH_OPEN,
                                 cv2.getStructuringElement(cv2.MORPH_RECT, k_open))
        if not rules.any():
            continue
        # only thin runs: a rule is a few pixels thick, a filled area is not
        thick = cv2.morphologyEx(rules, cv2.MORPH_OPEN, cv2.getStructuringElement(
            cv2.MORPH_RECT, (1, 9) if horizontal else (9, 1)))
        rules = rules & (1 - thick)
        grow = cv2.getStructuringElement(cv2.MORPH_RECT, (1, 3) if horizontal else (3, 1))
        out[cv2.dilate(rules, grow) > 0] = 0
    return out


def _line_spacing(mask: np.ndarray, stats: np.ndarray) -> float:
    """Typical distance between text lines, from the autocorrelation of the row profile."""
    heights = stats[:, cv2.CC_STAT_HEIGHT]
    char = float(np.median(heights)) if len(heights) else 10.0
    fallback = max(8.0, 2.5 * char)
    prof = mask.sum(axis=1).astype(np.float64)
    rows = np.flatnonzero(prof)
    if rows.size < 4:
        return fallback
    prof = prof[rows[0]: rows[-1] + 1]
    prof = _smooth(prof, max(1.0, 0.25 * char))
    prof -= prof.mean()
    n = len(prof)
    lo, hi = int(max(4, 1.2 * char)), int(min(n // 2, 8 * char))
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
    first = local[seg[local] >= 0.7 * best][0]  # the fundamental, not a multiple
    return float(lo + first)


def _smooth(x: np.ndarray, sigma: float) -> np.ndarray:
    r = max(1, int(3 * sigma))
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    return np.convolve(np.pad(x, r, mode="edge"), k / k.sum(), mode="valid")


def _columns(mask: np.ndarray, min_gap: float) -> list[tuple[int, int]]:
    """x ranges of columns separated by vertical whitespace at least ``min_gap`` wide."""
    prof = mask.sum(axis=0)
    cols = np.flatnonzero(prof > 0)
    if cols.size == 0:
        return []
    gaps = np.flatnonzero(np.diff(cols) > max(1.0, min_gap))
    edges = [cols[0]] + [int((cols[g] + cols[g + 1]) // 2) for g in gaps] + [cols[-1] + 1]
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:])]


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
        valley = sm[p:c + 1].min()
        if valley > 0.75 * min(sm[p], sm[c]):
            if sm[c] > sm[p]:
                merged[-1] = c
        else:
            merged.append(c)
    return np.array(merged, np.int64)


def _seams(mask: np.ndarray, peaks: np.ndarray, spacing: float) -> np.ndarray:
    """One separator per pair of neighbouring peaks: the path from left to right between
    them that crosses the least ink (moves of at most one row per column)."""
    h, w = mask.shape
    if len(peaks) < 2:
        return np.zeros((0, w), np.int64)
    cost = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), max(1.0, 0.05 * spacing))
    out = np.zeros((len(peaks) - 1, w), np.int64)
    for i, (a, b) in enumerate(zip(peaks[:-1], peaks[1:])):
        lo, hi = int(a) + 1, int(b)
        if hi - lo < 2:
            out[i] = (a + b) // 2
            continue
        band = cost[lo:hi]
        nh = hi - lo
        # prefer the middle of the gap and straight paths where there is no ink
        centre = np.abs(np.arange(nh) - (nh - 1) / 2) / max(nh, 1)
        c = band + 0.02 * centre[:, None]
        acc = c[:, 0].copy()
        back = np.zeros((nh, w), np.int8)
        big = np.float32(1e9)
        for x in range(1, w):
            up = np.r_[big, acc[:-1]]
            down = np.r_[acc[1:], big]
            stack = np.stack([up + 0.01, acc, down + 0.01])
            choice = stack.argmin(0)
            acc = stack[choice, np.arange(nh)] + c[:, x]
            back[:, x] = choice - 1
        y = int(acc.argmin())
        path = np.empty(w, np.int64)
        for x in range(w - 1, -1, -1):
            path[x] = y
            y = y + (back[y, x] if x else 0)  # choice 0 came from y-1 ("up")
        out[i] = path + lo
    return out


def _envelope(ax, ay, px, py, spacing, pad_frac):
    """Polygon around a line's ink (all of it: ``ax, ay``) and a straight baseline fitted to
    the lower edge of its main strokes (``px, py``), in working coordinates."""
    pad = max(2.0, pad_frac * spacing)
    step = max(4.0, spacing / 3)
    x0, x1 = float(ax.min()), float(ax.max())
    nbins = max(1, int(np.ceil((x1 - x0 + 1) / step)))
    edges = x0 + np.arange(nbins + 1) * (x1 - x0 + 1) / nbins
    idx = np.clip(((ax - x0) / (x1 - x0 + 1) * nbins).astype(int), 0, nbins - 1)
    tops = np.full(nbins, np.inf)
    bots = np.full(nbins, -np.inf)
    np.minimum.at(tops, idx, ay)
    np.maximum.at(bots, idx, ay)
    have = np.isfinite(tops)
    centres = (edges[:-1] + edges[1:]) / 2
    tops = np.interp(centres, centres[have], tops[have]) - pad
    bots = np.interp(centres, centres[have], bots[have]) + pad
    # each bin holds its level across its width: steps, as corners at the bin edges
    upper = [(edges[0] - pad, tops[0])]
    for k in range(nbins):
        upper += [(edges[k], tops[k]), (edges[k + 1], tops[k])]
    upper.append((edges[-1] + pad, tops[-1]))
    lower = [(edges[-1] + pad, bots[-1])]
    for k in range(nbins - 1, -1, -1):
        lower += [(edges[k + 1], bots[k]), (edges[k], bots[k])]
    lower.append((edges[0] - pad, bots[0]))
    poly = np.array(upper + lower, np.float64)
    # baseline: the 85th percentile row of the main strokes per bin (descenders are few)
    pidx = np.clip(((px - x0) / (x1 - x0 + 1) * nbins).astype(int), 0, nbins - 1)
    bx, by, bw = [], [], []
    for k in range(nbins):
        sel = pidx == k
        if sel.sum() >= 3:
            bx.append(centres[k])
            by.append(np.percentile(py[sel], 85))
            bw.append(sel.sum())
    if len(bx) >= 2:
        slope, icpt = np.polyfit(bx, by, 1, w=np.sqrt(bw))
    else:
        slope, icpt = 0.0, float(np.percentile(py, 85))
    bl = np.array([[x0, slope * x0 + icpt], [x1, slope * x1 + icpt]])
    return poly, bl
