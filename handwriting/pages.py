"""Whole pages: segment (or take a given ALTO/PAGE layout), crop, recognize in one batch,
save in a document format, and evaluate line detection and page CER against ground truth.

Example:
    >>> rec = Recognizer()
    >>> page = recognize_page(rec, "letter.jpg")
    >>> save_page(page, "letter.xml", "alto")
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from .charset import normalize_text
from .document import Page, TextLine
from .errors import DataError, HandwritingError
from .fileio import write_atomic
from .formats import read_layout, serialize
from .geometry import settle_line
from .groundtruth import first_problem
from .images import load_image, to_gray
from .metrics import rates, score_page, totals
from .preprocessing import crop_line, crop_origin
from .segment import SegmentConfig, segment

log = logging.getLogger(__name__)

# ---------------------------------------------------------------- recognition


def recognize_page(
    recognizer,
    image: str | Path | np.ndarray | None,
    layout: str | Path | Page | None = None,
    config: SegmentConfig | None = None,
    name: str | None = None,
) -> Page:
    """Read a whole page: its lines (found by :func:`~handwriting.segment.segment`, or
    those of an ALTO/PAGE ``layout`` file), each cropped as ground-truth lines are
    (:func:`~handwriting.preprocessing.crop_line`) and all recognized in one batched call.

    Args:
        recognizer: a :class:`~handwriting.recognize.Recognizer`.
        image: the page (path or array); ``None`` with a ``layout`` takes the image the
            layout names.
        layout: ALTO or PAGE XML (or the Page already read from it) whose lines are read
            instead of segmenting (the eScriptorium / Transkribus workflow: lines drawn there,
            text read here). When its page size differs from the image's, its coordinates are
            scaled to the image.
        config: segmentation tunables (ignored with ``layout``).
        name: what the page is called in warnings (default: the image's path).

    Returns:
        A :class:`~handwriting.document.Page` in image coordinates whose lines carry
        ``text`` and ``confidence`` (a line that cannot be cropped gets ``""`` and 0.0),
        and whose geometry is settled (:func:`~handwriting.geometry.settle_line`): each
        polygon valid and holding its baseline and word boxes, the word boxes apart.
    """
    given = read_layout(layout) if isinstance(layout, (str, Path)) else layout
    if image is None:
        if given is None or given.image is None:
            raise DataError(
                "recognize_page needs an image (the layout names none)"
                if given is not None
                else "recognize_page needs an image"
            )
        image = given.image
    if isinstance(image, np.ndarray):
        gray, source = to_gray(image), None
    else:
        gray, source = load_image(image), Path(image)
    h, w = gray.shape
    named = name or source or (layout if isinstance(layout, (str, Path)) else None) or "page"
    if given is None:
        found = segment(gray, config)
        lines, unread = found.lines, found.unread
    else:
        lines = _fit_layout(given, w, h, layout if isinstance(layout, (str, Path)) else named)
        unread = list(given.unread) if (given.width, given.height) == (w, h) else []
    if unread:
        x0, y0, x1, y1 = max(unread, key=lambda b: (b[2] - b[0]) * (b[3] - b[1]))
        log.warning(
            "%s: %d area(s) of writing outside every line not read (the largest at "
            "x %d-%d, y %d-%d: vertical writing, small print or ink unlike a line); to read "
            "them, draw their lines and pass them with --layout",
            named,
            len(unread),
            x0,
            x1,
            y0,
            y1,
        )
    crops, extents, where = [], [], []
    for k, line in enumerate(lines):
        try:
            pre, extent = recognizer.prepare(crop_line(gray, line.polygon))
        except HandwritingError as exc:
            log.warning("%s: line %s skipped: %s", named, line.id, exc)
            line.text, line.confidence, line.words = "", 0.0, []
            continue
        crops.append(pre)
        extents.append(extent)
        where.append(k)
    preds = recognizer.predict_lines(crops) if crops else []
    for k, pred, pre, extent in zip(where, preds, crops, extents):
        line = lines[k]
        # normalized as ground truth is: no space at either end or twice (words are unchanged)
        line.text, line.confidence = normalize_text(pred.text), float(pred.confidence)
        dx, dy = crop_origin(line.polygon)
        line.words = [word.moved(dx, dy) for word in recognizer.locate(pred, pre, extent)]
    for line in lines:
        settle_line(line, w, h)
    return Page(source, w, h, lines, unread)


def _fit_layout(page: Page, w: int, h: int, where) -> list[TextLine]:
    """The layout's lines (texts dropped), scaled to a ``w`` x ``h`` image if needed."""
    sx = w / page.width if page.width > 0 else 1.0
    sy = h / page.height if page.height > 0 else 1.0
    if abs(sx - 1) > 1e-3 or abs(sy - 1) > 1e-3:
        log.warning(
            "%s: page is %d x %d, the image %d x %d: coordinates scaled",
            where,
            page.width,
            page.height,
            w,
            h,
        )

    def fit(pts):  # kept within the image (a foreign page size can scale them anywhere)
        if pts is None:
            return None
        scaled = np.rint(np.asarray(pts, np.float64) * (sx, sy))
        return np.clip(scaled, -1, (w, h)).astype(np.int32)

    return [TextLine(ln.id, fit(ln.polygon), fit(ln.baseline)) for ln in page.lines]


def save_page(
    page: Page, path: str | Path, fmt: str = "alto", image_name: str | None = None
) -> Path:
    """Write ``page`` as ``alto``, ``page`` (PAGE XML), ``hocr`` or ``json``; atomic. Returns
    the path."""
    path = Path(path)
    write_atomic(path, serialize(page, fmt, image_name))  # an unknown fmt raises first
    return path


# ---------------------------------------------------------------- evaluation


def find_pages(dirs) -> tuple[list[tuple[Path, Page]], list[str]]:
    """ALTO/PAGE files under ``dirs`` (recursively, sorted) whose page image exists; other
    XML is passed over, broken files and missing images are problems."""
    found, problems = [], []
    for d in dirs:
        d = Path(d)
        if not d.is_dir():
            problems.append(f"{d}: {'not a directory' if d.exists() else 'directory not found'}")
            continue
        for folder, subdirs, names in os.walk(
            d,
            onerror=lambda e: problems.append(
                f"{e.filename}: cannot read this folder ({e.strerror})"
            ),
        ):
            subdirs.sort()
            for name in sorted(names):
                if not name.lower().endswith(".xml"):
                    continue
                path = Path(folder) / name
                try:
                    page = read_layout(path)
                except DataError as exc:
                    if "neither ALTO nor PAGE" not in str(exc):
                        problems.append(str(exc))
                    continue
                if page.lines and not any(line.text for line in page.lines):  # (a blank page
                    # without lines is scored: every line found on it is a false detection)
                    problems.append(
                        f"{path}: no transcribed lines, nothing to score against (page left out)"
                    )
                elif page.image is None:
                    problems.append(f"{path}: names no page image")
                elif not _image_file(page.image).is_file():
                    problems.append(f"{path}: page image {page.image} not found")
                else:
                    found.append((path, page))
    return found, problems


def _image_file(image: Path) -> Path:
    """The file a page's image is read from: ``doc.pdf`` for ``doc.pdf#page=3``."""
    from .multipage import page_of

    doc = page_of(str(image))
    return doc.path if doc else image


def _page_image(image: Path) -> Path | np.ndarray:
    """What :func:`recognize_page` reads for a page image name: the path itself, or the page
    of a PDF / multi-page TIFF (``doc.pdf#page=3``, as ``recognize`` names pages in the
    files it writes) rendered as ``recognize`` renders it."""
    from .multipage import page_of

    doc = page_of(str(image))
    return doc.load() if doc else image


def evaluate_pages(
    recognizer,
    dirs,
    config: SegmentConfig | None = None,
    threshold: float = 0.5,
    use_layout: bool = False,
) -> dict:
    """Segment and read every page of ``dirs`` that has ALTO/PAGE ground truth, and score it
    with :func:`score_page` (IoU >= ``threshold`` on line bounding boxes).

    Args:
        recognizer: a :class:`~handwriting.recognize.Recognizer`.
        dirs: folders searched recursively for ALTO/PAGE XML; the image is the one the XML
            names, which may be a page of a PDF or multi-page TIFF (``doc.pdf#page=3``).
        config: segmentation tunables.
        threshold: IoU for a detected line to count as found.
        use_layout: read the ground-truth lines instead of segmenting (detection is then
            perfect by construction; the CER is the recognizer's on these pages).

    Returns:
        ``{"overall": {...}, "sets": [{"path", ...} per dir], "pages": [{"path", "gt_lines",
        "pred_lines", "matched", "ignored", "chars", "errors", "precision", "recall",
        "cer"}, ...], "problems": [...]}`` with precision, recall and CER in percent,
        pooled over lines and characters (not averaged over pages).
    """
    dirs = [Path(d) for d in dirs]
    rows, sets, problems = [], [], []
    for d in dirs:
        found, probs = find_pages([d])
        problems += probs
        mine = []
        for path, gt in found:
            try:
                pred = recognize_page(
                    recognizer,
                    _page_image(gt.image),
                    layout=path if use_layout else None,
                    config=config,
                    name=str(gt.image),
                )
            except HandwritingError as exc:
                problems.append(f"{path}: {exc}")
                continue
            gt_lines = _fit_layout(gt, pred.width, pred.height, path)
            for ln, g in zip(gt_lines, gt.lines):
                ln.text = g.text
            row = {"path": str(path), **rates(score_page(gt_lines, pred.lines, threshold))}
            mine.append(row)
        rows += mine
        sets.append({"path": str(d), **rates(totals(mine))})
    if not rows:
        more = f": {first_problem(problems)}" if problems else ""
        raise DataError(
            f"no ALTO/PAGE ground truth with a page image found in "
            f"{', '.join(map(str, dirs))}{more}"
        )
    return {"overall": rates(totals(rows)), "sets": sets, "pages": rows, "problems": problems}
