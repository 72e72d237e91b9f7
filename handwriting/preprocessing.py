"""Line image -> normalized float array (H x W, ink = 1, paper = 0) -> model columns.

One pure, deterministic function (``preprocess``) serves training and inference alike; its
parameters come from the model's own :class:`~handwriting.config.PreprocessConfig`.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .config import PreprocessConfig
from .errors import DataError, ImageError
from .images import to_gray


def dark_ground(gray: np.ndarray) -> bool:
    """Whether the image is mostly dark: light writing on it (a negative), or a page
    photographed on a dark table."""
    return bool(np.median(gray) < 110)


def ink_map(gray: np.ndarray, normalize_background: bool = True) -> np.ndarray:
    """Grayscale -> float32 ink intensity in [0, 1] (paper 0), robust to light and polarity."""
    img = gray.astype(np.float32)
    if dark_ground(img):
        # a dark ground: light text on it (a negative), or a page photographed on a dark
        # table. Ink is what is sparse: keep the polarity whose paper-normalized image is
        # brighter, i.e. leaves less ink (without normalization: the brighter polarity)
        kept = _divide_paper(img, normalize_background)
        flipped = _divide_paper(255.0 - img, normalize_background)
        img = flipped if flipped.mean() > kept.mean() else kept
    else:
        img = _divide_paper(img, normalize_background)
    ink = 255.0 - img
    u8 = ink.astype(np.uint8)
    thr, _ = cv2.threshold(u8, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    strokes = ink[ink > thr]
    if strokes.size < 4 or float(strokes.max()) < 20:  # nothing that looks like writing
        return np.zeros_like(ink)
    lo = float(np.percentile(ink, 50)) + 0.25 * (thr - float(np.percentile(ink, 50)))
    hi = max(float(np.percentile(strokes, 90)), lo + 10.0)
    return np.clip((ink - lo) / (hi - lo), 0.0, 1.0)


def _divide_paper(img: np.ndarray, normalize_background: bool) -> np.ndarray:
    """The paper is the local maximum of brightness; divide it out (yellowing, shadows)."""
    if not normalize_background or min(img.shape) < 8:
        return img
    k = max(9, (min(img.shape[0], 96) // 2) | 1)
    paper = cv2.dilate(img, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    paper = cv2.blur(paper, (k, k))
    return np.clip(img / np.maximum(paper, 1.0), 0, 1) * 255.0


def _ink_box(ink: np.ndarray, frac: float = 0.02) -> tuple[int, int, int, int] | None:
    """First and last rows and columns holding ink (ignoring faint specks); None for no ink."""
    rows = ink.sum(axis=1)
    cols = ink.sum(axis=0)
    if rows.size == 0 or rows.max() <= 0:
        return None
    r = np.flatnonzero(rows > frac * rows.max())
    c = np.flatnonzero(cols > 0.05)
    if c.size == 0:
        c = np.flatnonzero(cols > 0)
    return int(r[0]), int(r[-1]), int(c[0]), int(c[-1])


def _small(ink: np.ndarray, height: int = 32) -> np.ndarray:
    if ink.shape[0] <= height:
        return ink
    scale = height / ink.shape[0]
    return cv2.resize(
        ink, (max(1, round(ink.shape[1] * scale)), height), interpolation=cv2.INTER_AREA
    )


def rotation(shape: tuple[int, int], degrees: float) -> tuple[np.ndarray, tuple[int, int]]:
    """The 2 x 3 matrix turning an image of ``shape`` by ``degrees`` (counter-clockwise
    positive, as in OpenCV) about its centre into a canvas that holds all of it, and that
    canvas's size (w, h). Lines and pages are turned with it."""
    h, w = shape
    m = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    cos, sin = abs(m[0, 0]), abs(m[0, 1])
    nw, nh = int(h * sin + w * cos) + 2, int(h * cos + w * sin) + 2
    m[0, 2] += nw / 2 - w / 2
    m[1, 2] += nh / 2 - h / 2
    return m, (nw, nh)


def _warp(ink: np.ndarray, m: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    return cv2.warpAffine(ink, m, size, flags=cv2.INTER_LINEAR, borderValue=0)


def _rotate(ink: np.ndarray, degrees: float) -> np.ndarray:
    return _warp(ink, *rotation(ink.shape, degrees))


def sharpest(score, limit: float, step: float, fine_step: float) -> float:
    """The value near ``[-limit, limit]`` where ``score`` is highest: the best of a grid of
    ``step``, then the best of a grid of ``fine_step`` from one step below it to one step
    above (the first best on ties)."""
    coarse = np.linspace(-limit, limit, 2 * int(round(limit / step)) + 1)
    best = float(coarse[int(np.argmax([score(a) for a in coarse]))])
    n = int(round(step / fine_step)) - 1
    fine = best + fine_step * np.arange(-n, n + 1)
    return float(fine[int(np.argmax([score(a) for a in fine]))])


def skew_angle(ink: np.ndarray, max_skew: float, step: float, fine_step: float) -> float:
    """The rotation (degrees, OpenCV sign) within ``max_skew`` that makes the rows of ``ink``
    (ink > 0, on 0) sharpest: the highest energy of its row profile."""

    def score(a: float) -> float:
        prof = _rotate(ink, a).sum(axis=1, dtype=np.float64)
        return float((prof**2).sum())

    return sharpest(score, max_skew, step, fine_step)


def estimate_skew(ink: np.ndarray, max_skew: float) -> float:
    """The rotation (degrees, OpenCV sign) that makes a line's rows sharpest, to 0.25°; 0 for
    a line too short to tell a slope from letter shapes."""
    small = _small(ink)
    if small.shape[1] < 2 * small.shape[0]:
        return 0.0
    return skew_angle(small, max_skew, 1.0, 0.25)


def _shearing(shape: tuple[int, int], s: float) -> tuple[np.ndarray, tuple[int, int]]:
    """x' = x + s * (h - 1 - y) as a 2 x 3 matrix (positive s uprights strokes that lean
    right), and the size (w, h) of the canvas that holds the result."""
    h, w = shape
    extra = int(np.ceil(abs(s) * h))
    off = 0 if s >= 0 else extra
    return np.float32([[1, -s, s * (h - 1) + off], [0, 1, 0]]), (w + extra, h)


def _shear(ink: np.ndarray, s: float) -> np.ndarray:
    return _warp(ink, *_shearing(ink.shape, s))


def estimate_slant(ink: np.ndarray, max_slant: float) -> float:
    """Shear that maximizes the energy of the column projection (upright strokes)."""
    small = _small(ink)
    if small.shape[0] < 4:
        return 0.0

    def score(s: float) -> float:
        prof = _shear(small, s).sum(axis=0, dtype=np.float64)
        return float((prof**2).sum())

    return sharpest(score, max_slant, 0.1, 0.025)


@dataclass(frozen=True)
class InkExtent:
    """Where :func:`preprocess` found the writing in its input image: the 2 x 3 matrix
    ``to_image`` taking a point of the normalized line back to the image (deskew and slant
    correction undone), the first and last ink columns ``x0``..``x1``, and per column of the
    image the first and last ink row (-1: none there)."""

    to_image: np.ndarray
    x0: int
    x1: int
    top: np.ndarray
    bottom: np.ndarray

    def column(self, x: float, y: float) -> float:
        """The image column of the normalized line's point (x, y)."""
        return float(self.to_image[0] @ (x, y, 1.0))

    def rows(self, x0: int, x1: int) -> tuple[int, int] | None:
        """First and last ink row over columns ``x0``..``x1 - 1``; None if they hold no ink."""
        top, bottom = self.top[max(0, x0) : max(0, x1)], self.bottom[max(0, x0) : max(0, x1)]
        top, bottom = top[top >= 0], bottom[bottom >= 0]
        return (int(top.min()), int(bottom.max())) if top.size else None


def preprocess(image: np.ndarray, config: PreprocessConfig | None = None) -> np.ndarray:
    """Normalize a line image to float32 ``(config.height, W)``, ink 1 and paper 0
    (``config``: default :class:`PreprocessConfig()`).

    Steps: grayscale, background/contrast normalization, polarity, crop to ink, deskew,
    slant correction, resize to the fixed height keeping aspect, pad left and right.
    """
    return _preprocess(to_gray(image), config or PreprocessConfig())[0]


def preprocess_with_extent(
    image: np.ndarray, config: PreprocessConfig | None = None
) -> tuple[np.ndarray, InkExtent | None]:
    """:func:`preprocess`, and where the ink lies in ``image`` (None: no ink), to map the
    model's frames back to the image (word boxes)."""
    out, ink, box, forward = _preprocess(to_gray(image), config or PreprocessConfig())
    if forward is None:
        return out, None
    r0, r1, c0, c1 = box
    on = ink[r0 : r1 + 1] >= 0.5
    seen = on.any(axis=0)
    top = np.where(seen, on.argmax(axis=0) + r0, -1)
    bottom = np.where(seen, r1 - on[::-1].argmax(axis=0), -1)
    return out, InkExtent(cv2.invertAffineTransform(forward[:2]), c0, c1, top, bottom)


def _cropped(ink: np.ndarray, m: np.ndarray):
    """``ink`` cropped to the rows and columns holding ink (ignoring faint specks), ``m``
    (3 x 3, image -> ``ink``) followed by the crop's shift, and the crop's box (None: no ink)."""
    box = _ink_box(ink)
    if box is None:
        return ink[:0, :0], m, None
    r0, r1, c0, c1 = box
    return ink[r0 : r1 + 1, c0 : c1 + 1], _affine([[1, 0, -c0], [0, 1, -r0]]) @ m, box


def _affine(m) -> np.ndarray:
    return np.vstack([np.asarray(m, np.float64).reshape(2, 3), [0, 0, 1]])


MAX_ASPECT = 500  # an image more elongated than this holds no line of writing
MAX_LINE_COLUMNS = 32768  # a normalized line wider than this is not one line


def _preprocess(gray: np.ndarray, config: PreprocessConfig):
    """The normalized line, the ink map of ``gray``, the ink's box in it, and the 3 x 3 matrix
    taking ``gray``'s coordinates to the line's (box and matrix None when there is no ink).
    Degenerate shapes are refused before any work grows with them."""
    hh, ww = gray.shape
    if max(hh, ww) > MAX_ASPECT * min(hh, ww):
        raise ImageError(
            f"{ww} x {hh} px: too thin to hold a line of writing (over {MAX_ASPECT} times as "
            "long as it is wide)"
        )
    full = ink_map(gray, config.normalize_background)
    ink, m, box = _cropped(full, np.eye(3))
    if ink.size and config.deskew and config.max_skew > 0:
        angle = estimate_skew(ink, config.max_skew)
        if angle:
            turn, size = rotation(ink.shape, angle)
            ink, m, _ = _cropped(_warp(ink, turn, size), _affine(turn) @ m)
    if ink.size and config.slant and config.max_slant > 0:
        s = estimate_slant(ink, config.max_slant)
        if s:
            shear, size = _shearing(ink.shape, s)
            ink, m, _ = _cropped(_warp(ink, shear, size), _affine(shear) @ m)
    h = config.height
    if ink.size == 0:
        return np.zeros((h, 2 * config.pad + h // 2), np.float32), full, None, None
    w = max(1, int(round(ink.shape[1] * h / ink.shape[0])))
    if w > MAX_LINE_COLUMNS:
        raise ImageError(
            f"its writing is {ink.shape[1]} x {ink.shape[0]} px: too long for its height to be "
            "one line; give line images (or the page, to be segmented)"
        )
    interp = cv2.INTER_AREA if ink.shape[0] > h else cv2.INTER_LINEAR
    out = cv2.resize(ink, (w, h), interpolation=interp)
    # cv2.resize maps pixel centres: x' + 0.5 = (x + 0.5) * w / W
    sx, sy = w / ink.shape[1], h / ink.shape[0]
    m = _affine([[sx, 0, 0.5 * sx - 0.5 + config.pad], [0, sy, 0.5 * sy - 0.5]]) @ m
    line = np.pad(np.clip(out, 0, 1), ((0, 0), (config.pad, config.pad))).astype(np.float32)
    return line, full, box, m


def to_columns(line: np.ndarray) -> np.ndarray:
    """``(H, W)`` normalized line -> ``(W, H)`` column sequence, the order the LSTM reads."""
    return np.ascontiguousarray(line.T)


def to_uint8(line: np.ndarray) -> np.ndarray:
    """Compact storage of a normalized line (for caches and figures)."""
    return np.round(np.clip(line, 0, 1) * 255).astype(np.uint8)


# ---------------------------------------------------------------- padding


def bucket(width: int, multiple: int = 64) -> int:
    """The width a line of ``width`` columns is padded to, in training batches and when it
    is read: a multiple of ``multiple`` up to 512, then steps of 12.5 % (fewer shapes to
    compile)."""
    w = -(-width // multiple) * multiple
    if w <= 512:
        return w
    step = max(multiple, int(w * 0.125) // multiple * multiple)
    return -(-w // step) * step


def pad_to_bucket(line: np.ndarray) -> np.ndarray:
    """A normalized line (H x W) zero-padded on the right to its :func:`bucket` width, as
    :func:`~handwriting.decode.predict_lines` feeds it to the model."""
    return np.pad(line, ((0, 0), (0, bucket(line.shape[1]) - line.shape[1])))


# ---------------------------------------------------------------- line crops from pages

CROP_DILATE = 2  # px the polygon mask grows by in crop_line


def check_polygon(polygon: np.ndarray) -> np.ndarray:
    """``polygon`` as ``(N, 2)`` int32; a :class:`DataError` when it cannot hold a line."""
    poly = np.asarray(polygon)
    if poly.ndim != 2 or poly.shape[1] != 2 or len(poly) < 3:
        raise DataError(f"degenerate line polygon: {len(poly)} points, need at least 3")
    w, h = poly.max(0) - poly.min(0)
    if w < 2 or h < 2:
        raise DataError(f"degenerate line polygon: {w} x {h} px")
    return poly.astype(np.int32)


def crop_origin(polygon: np.ndarray, pad: int = 4) -> tuple[int, int]:
    """Where :func:`crop_line`'s crop of ``polygon`` starts in the page (x, y)."""
    x0, y0 = np.maximum(np.asarray(polygon).min(0) - pad, 0)
    return int(x0), int(y0)


def crop_line(page: np.ndarray, polygon: np.ndarray, pad: int = 4) -> np.ndarray:
    """Crop a line polygon's box (+ pad) from a gray page, the paper's colour (as lit there)
    outside the polygon."""
    page = np.asarray(page)
    if page.ndim != 2:
        raise DataError(f"crop_line needs a 2-D gray page, got shape {page.shape}")
    poly = check_polygon(polygon)
    h, w = page.shape
    x0, y0 = crop_origin(poly, pad)
    x1, y1 = np.minimum(poly.max(0) + pad + 1, (w, h))
    if x1 - x0 < 2 or y1 - y0 < 2:
        raise DataError(f"line polygon lies outside the {w} x {h} page")
    crop = page[y0:y1, x0:x1].copy()
    mask = np.zeros(crop.shape, np.uint8)
    cv2.fillPoly(mask, [poly - (x0, y0)], 255)
    under = crop[mask > 0]
    if under.size == 0:
        raise DataError(f"line polygon lies outside the {w} x {h} page")
    thr, _ = cv2.threshold(under.reshape(-1, 1), 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    k = 2 * CROP_DILATE + 1
    mask = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    # the paper as lit along the line: brightest nearby pixel (smoothed), scaled so that on
    # the paper under the polygon it matches the pixels; a page lit from one side gets no
    # edge where the fill meets the paper, and a flat scan gets its paper colour
    s = max(3, (min(crop.shape) // 2) | 1)
    local = cv2.dilate(
        cv2.GaussianBlur(crop, (0, 0), 1.5), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (s, s))
    )
    local = cv2.blur(local.astype(np.float32), (s, s))
    light = (mask > 0) & (crop > thr)  # paper pixels under the (dilated) polygon
    ratio = (
        float(np.median(crop[light])) / max(float(np.median(local[light])), 1.0)
        if light.any()
        else 1.0
    )
    fill = np.clip(local * ratio, 0, 255).round().astype(np.uint8)
    crop[mask == 0] = fill[mask == 0]
    return crop
