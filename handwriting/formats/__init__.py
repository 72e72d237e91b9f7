"""Page documents in and out. Readers return a :class:`~handwriting.document.Page`; writers
return bytes, and the caller decides where they go.

- :mod:`.alto`: ALTO (read v2-v4, write 4.2); :mod:`.pagexml`: PAGE XML (read 2009-2019,
  write 2019-07-15); :mod:`.hocr`: hOCR 1.2 (write); JSON (write, :func:`to_json`).
- :func:`serialize` writes any of them; :func:`read_layout` reads ALTO or PAGE, whichever
  a file is; :func:`written_here` tells this package's output from ground truth.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..document import Page
from ..errors import DataError, HandwritingError
from .alto import parse_alto, read_alto, to_alto
from .hocr import to_hocr
from .pagexml import parse_page, read_page_xml, to_page_xml
from .xml import kind, parse, written_here

FORMATS = ("alto", "page", "hocr", "json")
SUFFIXES = {"alto": ".xml", "page": ".xml", "hocr": ".hocr", "json": ".json"}

__all__ = [
    "FORMATS",
    "SUFFIXES",
    "read_alto",
    "read_layout",
    "read_page_xml",
    "serialize",
    "to_alto",
    "to_hocr",
    "to_json",
    "to_page_xml",
    "written_here",
]


def read_layout(path: str | Path) -> Page:
    """Read an ALTO or PAGE XML file, whichever it is."""
    path = Path(path)
    root = parse(path)
    page = _layout(root, path)
    if page is None:
        raise DataError(f"{path}: neither ALTO nor PAGE XML (root element {root.tag})")
    return page


def read_layout_if_any(path: str | Path) -> Page | None:
    """The page of an ALTO or PAGE XML file, or None for another XML document; a
    :class:`DataError` for a file that cannot be read as XML."""
    path = Path(path)
    return _layout(parse(path), path)


def _layout(root, path: Path) -> Page | None:
    found = kind(root)
    if found is None:
        return None
    return parse_alto(root, path) if found == "alto" else parse_page(root, path)


def to_json(page: Page) -> dict:
    """A JSON-ready dict: image, size and per line id, polygon, baseline, text, confidence
    and, for lines read here, words (text, box ``[x0, y0, x1, y1]``, confidence); and, if
    segmentation left writing outside every line, ``unread``: its boxes."""

    def pts(a):
        return None if a is None else [[int(x), int(y)] for x, y in np.asarray(a)]

    def line(ln):
        out = {
            "id": ln.id,
            "polygon": pts(ln.polygon),
            "baseline": pts(ln.baseline),
            "text": ln.text,
            "confidence": None if ln.confidence is None else round(ln.confidence, 4),
        }
        if ln.words is not None:
            out["words"] = [w.to_dict() for w in ln.words]
        return out

    return {
        "image": str(page.image) if page.image is not None else None,
        "width": page.width,
        "height": page.height,
        "lines": [line(ln) for ln in page.lines],
        **({"unread": [list(map(int, b)) for b in page.unread]} if page.unread else {}),
    }


def serialize(page: Page, fmt: str, image_name: str | None = None) -> bytes:
    """``page`` as the bytes of an ``alto``, ``page`` (PAGE XML), ``hocr`` or ``json``
    document; ``image_name``: the image file name the XML formats record (default: the page
    image's)."""
    if fmt == "alto":
        return to_alto(page, image_name)
    if fmt == "page":
        return to_page_xml(page, image_name)
    if fmt == "hocr":
        return to_hocr(page, image_name)
    if fmt == "json":
        return (json.dumps(to_json(page), ensure_ascii=False, indent=2) + "\n").encode("utf-8")
    raise HandwritingError(f"unknown page format {fmt!r}; choose one of {', '.join(FORMATS)}")
