"""The one reading path: every input (a line image or a page) becomes one :class:`Reading`,
a :class:`~handwriting.document.Page` (a line image is a one-line page) or the error that
stopped it. ``handwriting recognize`` is this plus argument checks and output.

Example:
    >>> from handwriting.reading import read
    >>> from handwriting.recognize import Recognizer
    >>> for r in read(Recognizer(), ["line.png", "letter.jpg"]):
    ...     print(r.source, r.text if r.ok else r.error)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .decode import Prediction
from .document import Page, TextLine
from .errors import HandwritingError

log = logging.getLogger(__name__)

MODES = ("auto", "line", "page")
JSON_VERSION = 1  # of the schema Reading.to_dict writes
FILE_FORMATS = ("text", "json", "alto", "page", "hocr")  # what Reading.to_bytes writes


@dataclass
class Reading:
    """What one input became: ``page`` (``kind`` "line" for a line image read as a one-line
    page, "page" for a segmented or laid-out page) or the ``error`` that stopped it. A line
    image also keeps its ``prediction`` (per-character confidences)."""

    source: str
    page: Page | None = None
    kind: str | None = None
    prediction: Prediction | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def text(self) -> str:
        """The text read, one line of text per line (empty for a failed input)."""
        return "\n".join(ln.text or "" for ln in self.page.lines) if self.page else ""

    def to_dict(self) -> dict:
        """The JSON schema of ``recognize --format json`` (version :data:`JSON_VERSION`):
        ``version``, ``source``, ``kind``, ``image``, ``width``, ``height``, ``text`` and
        ``lines`` (id, polygon, baseline, text, confidence, words; a line image's one line
        also ``chars``); a failed input: ``version``, ``source`` and ``error``."""
        if not self.ok:
            return {"version": JSON_VERSION, "source": self.source, "error": self.error}
        from .formats import to_json

        page = to_json(self.page)
        if self.prediction is not None and page["lines"]:
            page["lines"][0]["chars"] = self.prediction.to_dict()["chars"]
        return {
            "version": JSON_VERSION,
            "source": self.source,
            "kind": self.kind,
            "text": self.text,
            **page,
        }

    def to_bytes(self, fmt: str) -> bytes:
        """The file ``recognize --out`` writes for this reading in ``fmt`` (one of
        :data:`FILE_FORMATS`): its text lines, its JSON (:meth:`to_dict`, indented), or ALTO,
        PAGE XML or hOCR naming the image by its file name. A failed reading has no file:
        :class:`ValueError`."""
        import json

        from .formats import serialize

        if not self.ok:
            raise ValueError(f"{self.source}: failed, nothing to write ({self.error})")
        if fmt == "json":
            return (json.dumps(self.to_dict(), ensure_ascii=False, indent=2) + "\n").encode()
        if fmt == "text":
            return ("\n".join(ln.text or "" for ln in self.page.lines) + "\n").encode()
        return serialize(self.page, fmt, Path(self.source).name)


def line_as_page(
    source: Path | None, shape: tuple[int, int], prediction: Prediction, words
) -> Page:
    """A line image read as a one-line page: the line's polygon is the whole image and its
    baseline a straight line at three quarters of its height."""
    h, w = shape
    poly = np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], np.int32)
    base = np.array([[0, int(h * 0.75)], [w - 1, int(h * 0.75)]], np.int32)
    line = TextLine("l1", poly, base, prediction.text, float(prediction.confidence), words)
    return Page(source, w, h, [line])


def read(
    recognizer,
    inputs,
    mode: str = "auto",
    layout=None,
    progress: bool = False,
    raise_internal: bool = False,
    pages: str | None = None,
    dpi: float | None = None,
) -> list[Reading]:
    """Read every input (a path or an image array) as a line or a page, in order.

    Args:
        recognizer: a :class:`~handwriting.recognize.Recognizer`.
        inputs: paths and/or arrays.
        mode: ``"auto"`` (a page when segmentation finds two lines or more, or one line
            taking at most a sixth of the image; else a line), ``"line"`` or ``"page"``.
        layout: ALTO/PAGE XML (path or :class:`Page`) whose lines are read instead of
            segmenting; it describes one page, so it needs exactly one input.
        pages: a page range (``"1-5,8"``) read from every PDF or multi-page TIFF among the
            inputs (default: all their pages); each page is one Reading, named
            ``doc.pdf#page=3``.
        dpi: the resolution PDF pages are rendered at (default: their scan's, else 300).
        progress: progress bars on stderr.
        raise_internal: let an unexpected exception (a bug) propagate instead of turning it
            into that input's error.

    Returns:
        One :class:`Reading` per input; a bad input (missing, unreadable, not an image, too
        large) is a Reading with ``error`` and the others are still read. Line images are
        predicted together in width-sorted batches.
    """
    from tqdm.auto import tqdm

    from .images import load_image, to_gray
    from .multipage import expand_documents, page_of
    from .pages import recognize_page
    from .segment import page_lines

    if mode not in MODES:
        raise HandwritingError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    if isinstance(inputs, (str, Path, np.ndarray)):
        inputs = [inputs]
    expanded, failed = [], {}
    for item in inputs:  # a PDF or multi-page TIFF becomes its pages, in place
        if isinstance(item, np.ndarray):
            expanded.append(item)
            continue
        names, bad = expand_documents([str(item)], pages, dpi)
        expanded += names
        failed.update(bad)
    inputs = expanded
    if layout is not None and len(inputs) != 1:
        raise HandwritingError("a layout describes one page: give exactly one input")
    readings: list[Reading] = []
    sources = [None if isinstance(item, np.ndarray) else Path(item) for item in inputs]
    line_at, line_images = [], []
    for k, item in enumerate(tqdm(inputs, desc="reading", unit="image", disable=not progress)):
        source = sources[k]
        name = f"<array {k}>" if source is None else str(item)
        try:
            if name in failed:
                raise HandwritingError(failed[name])
            doc_page = page_of(name, dpi) if source is not None else None
            if doc_page is not None:
                gray = doc_page.load()
                source = sources[k] = doc_page.path
            else:
                gray = load_image(item) if source is not None else to_gray(item)
            found = None if layout is not None or mode != "auto" else page_lines(gray)
            if layout is not None or mode == "page" or found is not None:
                # along the layout, or the lines that made it a page (not segmented twice)
                given = (
                    layout
                    if found is None
                    else Page(None, *gray.shape[::-1], found.lines, found.unread)
                )
                page = recognize_page(recognizer, gray, layout=given, name=name)
                page.image = source
                readings.append(Reading(name, page, "page"))
            else:
                line_at.append(k)
                line_images.append(gray)
                readings.append(Reading(name, kind="line"))
        except HandwritingError as exc:
            readings.append(Reading(name, error=str(exc)))
        except Exception as exc:  # noqa: BLE001 - a bug must not cost the rest of the batch
            if raise_internal:
                raise
            readings.append(
                Reading(
                    name,
                    error=f"{name}: internal error ({exc!r}); please "
                    "report it (--debug shows the traceback)",
                )
            )
    names = [readings[k].source for k in line_at]
    results = recognizer.recognize(line_images, progress, names) if line_images else []
    for k, gray, result in zip(line_at, line_images, results):
        r = readings[k]
        if not result.ok:
            r.error, r.kind = result.error, None
            continue
        r.prediction = result.prediction
        r.page = line_as_page(sources[k], gray.shape, result.prediction, result.words)
    return readings
