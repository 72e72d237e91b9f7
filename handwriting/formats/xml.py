"""What the XML formats share: a parser that fetches and expands nothing, the kind of a
document (ALTO or PAGE), coordinate parsing, and the writers' IDs, boxes and signatures."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from lxml import etree

from ..document import Page, TextLine, Word
from ..errors import DataError

ALTO_NS = "http://www.loc.gov/standards/alto/ns-v4#"
PAGE_NS = "http://schema.primaresearch.org/PAGE/gts/pagecontent/2019-07-15"
ALTO_PREFIX = "http://www.loc.gov/standards/alto/"
PAGE_PREFIX = "http://schema.primaresearch.org/PAGE/gts/pagecontent/"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
MAX_COORD = 1e7  # pixels; beyond it (or nan, inf) a coordinate is garbage, not a page


def parse(path: Path) -> etree._Element:
    """The root element of the XML file ``path`` (no entities expanded, nothing fetched);
    a :class:`DataError` for a missing, unreadable or malformed file."""
    if path.is_dir():
        raise DataError(f"{path}: is a directory; give an ALTO or PAGE XML file")
    if not path.exists():
        raise DataError(f"{path}: file not found")
    if not path.is_file():  # a named pipe would block the parser, a device fill the memory
        raise DataError(f"{path}: not a regular file (a named pipe, a device?)")
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)
    try:
        tree = etree.parse(str(path), parser)
        dtd = tree.docinfo.internalDTD
        if dtd is not None and list(dtd.entities()):  # not expanded: their text would be cut
            raise DataError(
                f"{path}: declares DTD entities, which are not expanded here (their text "
                "would be lost); write the characters themselves and remove the DOCTYPE"
            )
        return tree.getroot()
    except etree.XMLSyntaxError as e:
        raise DataError(f"{path}: not well-formed XML: {e}") from None
    except OSError as e:
        raise DataError(f"{path}: cannot read it ({e})") from None


def parse_as(path: Path, wanted: str) -> etree._Element:
    """The root element of ``path`` if it is a ``wanted`` ("alto" or "page") document, else a
    :class:`DataError` naming what it is."""
    root = parse(path)
    if kind(root) != wanted:
        what = "ALTO XML" if wanted == "alto" else "PAGE XML"
        raise DataError(f"{path}: not {what} (root element {root.tag})")
    return root


def kind(root: etree._Element) -> str | None:
    """``"alto"``, ``"page"`` or None (another XML document)."""
    q = etree.QName(root)
    ns = q.namespace or ""
    if q.localname == "alto" and (not ns or ns.startswith(ALTO_PREFIX)):
        return "alto"
    if q.localname == "PcGts" and ns.startswith(PAGE_PREFIX):
        return "page"
    return None


def tag(root: etree._Element):
    """A function naming an element in ``root``'s namespace (``tag(root)("TextLine")``)."""
    ns = etree.QName(root).namespace
    return lambda name: f"{{{ns}}}{name}" if ns else name


def points(value: str | None, what: str) -> np.ndarray:
    """'x,y x,y ...' or 'x y x y ...' -> (N, 2) int32."""
    shown = repr(value if value is None or len(value) <= 60 else value[:60] + "...")
    try:
        nums = [float(v) for v in (value or "").replace(",", " ").split()]
    except ValueError:
        raise DataError(f"{what}: bad coordinates {shown}") from None
    if not nums or len(nums) % 2 or not all(abs(v) <= MAX_COORD for v in nums):  # nan too
        raise DataError(f"{what}: bad coordinates {shown}")
    return np.rint(np.array(nums).reshape(-1, 2)).astype(np.int32)


def number(value: str | None, default: float = 0.0) -> float:
    """``value`` as a float; ``default`` when it is missing, not a number or absurd."""
    try:
        v = float(value) if value is not None else default
    except ValueError:
        return default
    return v if abs(v) <= MAX_COORD else default


def xml_id(raw: str, seen: set[str]) -> str:
    """A valid, unique XML ID from ``raw`` ("1" -> "l1", spaces -> "_")."""
    ident = re.sub(r"[^\w.-]", "_", raw or "")
    if not ident or not (ident[0].isalpha() or ident[0] == "_"):
        ident = "l" + ident
    base, n = ident, 1
    while ident in seen:
        n += 1
        ident = f"{base}_{n}"
    seen.add(ident)
    return ident


def fmt_points(pts: np.ndarray) -> str:
    """``"x,y x,y ..."`` of integer pixels."""
    return " ".join(f"{int(x)},{int(y)}" for x, y in np.asarray(pts))


def box(pts: np.ndarray) -> tuple[int, int, int, int]:
    """``(x, y, width, height)`` of the points' bounding box."""
    (x0, y0), (x1, y1) = np.asarray(pts).min(0), np.asarray(pts).max(0)
    return int(x0), int(y0), int(x1 - x0), int(y1 - y0)


def image_name(page: Page, name: str | None) -> str | None:
    """The image file name a document names: ``name`` if given, else the page image's."""
    return name if name is not None else (page.image.name if page.image else None)


def boxed_words(line: TextLine) -> list[Word] | None:
    """The line's words with boxes, if they spell its text (else the writers split the text)."""
    if line.words and [w.text for w in line.words] == (line.text or "").split():
        return line.words
    return None


_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def xml_safe(text: str | None) -> str:
    """``text`` without the characters XML 1.0 cannot hold (control characters a charset may
    have learnt from a bad label): a writer never fails on them."""
    return _XML_ILLEGAL.sub("", text or "")


def tostring(root: etree._Element) -> bytes:
    """The document as UTF-8 bytes with its XML declaration, indented."""
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


# how the ALTO, PAGE and hOCR writers sign their output, near its top
_SIGNATURES = (
    b"<softwareName>handwriting</softwareName>",
    b"<Creator>handwriting</Creator>",
    b'name="ocr-system" content="handwriting ',
)


def written_here(path: str | Path) -> bool:
    """Whether the ALTO / PAGE / hOCR file ``path`` was written by this package (and so
    may be replaced by a new reading of its page, unlike ground truth or another tool's)."""
    try:
        with open(path, "rb") as f:
            head = f.read(4096)
    except OSError:
        return False
    return any(mark in head for mark in _SIGNATURES)
