"""Ground truth in and out: `.gt.txt` line folders, ALTO and PAGE XML, line polygons -> crops."""
from __future__ import annotations

import functools
import os
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import cv2
import numpy as np
from lxml import etree

from .charset import normalize_text
from .fileio import write_atomic
from .errors import DataError, HandwritingError
from .preprocessing import IMAGE_SUFFIXES, load_image, preprocess, to_uint8

LINE_SUFFIXES = IMAGE_SUFFIXES  # what recognize reads, training reads
ALTO_NS = "http://www.loc.gov/standards/alto/ns-v4#"
PAGE_NS = "http://schema.primaresearch.org/PAGE/gts/pagecontent/2019-07-15"
_ALTO_PREFIX = "http://www.loc.gov/standards/alto/"
_PAGE_PREFIX = "http://schema.primaresearch.org/PAGE/gts/pagecontent/"
_XSI = "http://www.w3.org/2001/XMLSchema-instance"
_DILATE = 2  # px the polygon mask grows by in crop_line


@dataclass
class LineRecord:
    """A line-level ground-truth sample: a line image file, or a polygon on a page."""
    id: str
    image: Path | None
    text: str
    source: Path | None = None
    polygon: np.ndarray | None = None


@dataclass
class Problem:
    """Something in the ground truth a user should fix; the sample is skipped."""
    path: Path
    message: str


@dataclass
class Word:
    """A read word: its text, its box ``(x0, y0, x1, y1)`` in pixels (``x1``, ``y1``
    exclusive) and its confidence."""
    text: str
    box: tuple[int, int, int, int]
    confidence: float | None = None

    def to_dict(self) -> dict:
        return {"text": self.text, "box": [int(v) for v in self.box],
                "confidence": None if self.confidence is None else round(self.confidence, 4)}

    def moved(self, dx: int, dy: int) -> "Word":
        x0, y0, x1, y1 = self.box
        return Word(self.text, (x0 + dx, y0 + dy, x1 + dx, y1 + dy), self.confidence)


@dataclass
class TextLine:
    id: str
    polygon: np.ndarray
    baseline: np.ndarray | None
    text: str | None = None
    confidence: float | None = None
    words: list[Word] | None = None  # with boxes in page pixels, when the line was read here


@dataclass
class Page:
    image: Path | None
    width: int
    height: int
    lines: list[TextLine]


# ---------------------------------------------------------------- line folders

def scan_line_dirs(dirs: Iterable[str | Path]) -> tuple[list[LineRecord], list[Problem]]:
    """Find `<id>.png|jpg|...` + `<id>.gt.txt` pairs and ALTO/PAGE lines under ``dirs``."""
    records: list[LineRecord] = []
    problems: list[Problem] = []
    unlabelled: list[Path] = []
    page_images: set[str] = set()
    broken: set[str] = set()  # XML files that could not be read: their image is not unlabelled

    def unreadable(exc: OSError) -> None:  # os.walk would pass such a folder over silently
        problems.append(Problem(Path(exc.filename), f"cannot read this folder ({exc.strerror})"))

    for d in dirs:
        d = Path(d)
        if not d.is_dir():
            problems.append(Problem(d, "directory not found" if not d.exists()
                                    else "not a directory"))
            continue
        for folder, _, names in os.walk(d, onerror=unreadable):
            folder = Path(folder)
            images: dict[str, Path] = {}
            labels: set[str] = set()
            for name in sorted(names):
                low = name.lower()
                if low.endswith(".gt.txt"):
                    labels.add(name[:-7])
                elif low.endswith(".xml"):
                    recs, probs, image = _scan_xml(folder / name)
                    records += recs
                    problems += probs
                    if image is not None:
                        page_images.add(os.path.normpath(image))
                    elif probs:
                        broken.add(os.path.normpath(folder / name[:-4]))
                elif os.path.splitext(low)[1] in LINE_SUFFIXES:
                    stem = os.path.splitext(name)[0]
                    if stem in images:
                        problems.append(Problem(folder / name,
                                                f"second image for {stem}.gt.txt (ignored)"))
                    else:
                        images[stem] = folder / name
            for stem, image in images.items():
                if stem in labels:
                    text, problem = _read_label(folder / f"{stem}.gt.txt")
                    if problem:
                        problems.append(problem)
                    else:
                        records.append(LineRecord(stem, image, text))
                else:
                    unlabelled.append(image)
            for stem in sorted(labels - images.keys()):
                problems.append(Problem(folder / f"{stem}.gt.txt",
                                        f"transcription without an image (no {stem}.png, .jpg, .tif, ...)"))
    for image in unlabelled:  # page images named by an XML are not missing a label
        if (os.path.normpath(image) not in page_images
                and os.path.normpath(image.with_suffix("")) not in broken):
            stem = os.path.splitext(image.name)[0]
            problems.append(Problem(image, f"no transcription ({stem}.gt.txt missing)"))
    records.sort(key=lambda r: (r.id, str(r.image or r.source)))
    problems.sort(key=lambda p: (str(p.path), p.message))
    return records, problems


def _read_label(path: Path) -> tuple[str, Problem | None]:
    try:
        text = normalize_text(path.read_bytes().decode("utf-8-sig"))
    except UnicodeDecodeError as e:
        return "", Problem(path, f"not valid UTF-8 (byte {e.start})")
    except OSError as e:
        return "", Problem(path, f"unreadable: {e.strerror}")
    if not text:
        return "", Problem(path, "empty transcription")
    return text, None


def _scan_xml(path: Path) -> tuple[list[LineRecord], list[Problem], Path | None]:
    """Lines of one ALTO/PAGE file; other XML is ignored, broken XML is a problem."""
    try:
        root = _parse(path)
        kind = _kind(root)
        if kind is None:
            return [], [], None
        page = _read_alto(root, path) if kind == "alto" else _read_page(root, path)
    except DataError as e:
        return [], [Problem(path, str(e).removeprefix(f"{path}: "))], None
    if page.image is None:
        return [], [Problem(path, "names no page image")], None
    if not page.image.is_file():
        return [], [Problem(path, f"page image {page.image} not found")], page.image
    records, problems = [], []
    for line in page.lines:
        if not line.text:
            continue
        try:
            _check_polygon(line.polygon)
        except DataError as e:
            problems.append(Problem(path, f"line {line.id}: {e}"))
            continue
        records.append(LineRecord(f"{path.stem}_{line.id}", None, line.text, path, line.polygon))
    return records, problems, page.image


# ---------------------------------------------------------------- reading XML

def read_layout(path: str | Path) -> Page:
    """Read an ALTO or PAGE XML file, whichever it is."""
    path = Path(path)
    root = _parse(path)
    kind = _kind(root)
    if kind is None:
        raise DataError(f"{path}: neither ALTO nor PAGE XML (root element {root.tag})")
    return _read_alto(root, path) if kind == "alto" else _read_page(root, path)


def read_alto(path: str | Path) -> Page:
    """Read ALTO v2/v3/v4 (or without namespace): line polygons, baselines, text."""
    path = Path(path)
    root = _parse(path)
    if _kind(root) != "alto":
        raise DataError(f"{path}: not ALTO XML (root element {root.tag})")
    return _read_alto(root, path)


def read_page_xml(path: str | Path) -> Page:
    """Read PAGE XML (2009-2019): TextLine Coords, Baseline and the line's own TextEquiv."""
    path = Path(path)
    root = _parse(path)
    if _kind(root) != "page":
        raise DataError(f"{path}: not PAGE XML (root element {root.tag})")
    return _read_page(root, path)


def _parse(path: Path) -> etree._Element:
    if path.is_dir():
        raise DataError(f"{path}: is a directory; give an ALTO or PAGE XML file")
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)
    try:
        return etree.parse(str(path), parser).getroot()
    except etree.XMLSyntaxError as e:
        raise DataError(f"{path}: not well-formed XML: {e}") from None
    except OSError as e:
        raise DataError(f"{path}: cannot read it ({e})") from None


def _kind(root: etree._Element) -> str | None:
    q = etree.QName(root)
    ns = q.namespace or ""
    if q.localname == "alto" and (not ns or ns.startswith(_ALTO_PREFIX)):
        return "alto"
    if q.localname == "PcGts" and ns.startswith(_PAGE_PREFIX):
        return "page"
    return None


def _tag(root: etree._Element):
    ns = etree.QName(root).namespace
    return lambda name: f"{{{ns}}}{name}" if ns else name


_MAX_COORD = 1e7  # pixels; beyond it (or nan, inf) a coordinate is garbage, not a page


def _points(value: str | None, what: str) -> np.ndarray:
    """'x,y x,y ...' or 'x y x y ...' -> (N, 2) int32."""
    shown = repr(value if value is None or len(value) <= 60 else value[:60] + "...")
    try:
        nums = [float(v) for v in (value or "").replace(",", " ").split()]
    except ValueError:
        raise DataError(f"{what}: bad coordinates {shown}") from None
    if not nums or len(nums) % 2 or not all(abs(v) <= _MAX_COORD for v in nums):  # nan too
        raise DataError(f"{what}: bad coordinates {shown}")
    return np.rint(np.array(nums).reshape(-1, 2)).astype(np.int32)


def _num(value: str | None, default: float = 0.0) -> float:
    try:
        v = float(value) if value is not None else default
    except ValueError:
        return default
    return v if abs(v) <= _MAX_COORD else default


def _read_alto(root: etree._Element, path: Path) -> Page:
    t = _tag(root)
    unit = (root.findtext(f"{t('Description')}/{t('MeasurementUnit')}") or "pixel").strip()
    if unit != "pixel":
        raise DataError(f"{path}: MeasurementUnit {unit!r} is not supported (pixel only)")
    name = (root.findtext(f"{t('Description')}/{t('sourceImageInformation')}/{t('fileName')}")
            or "").strip()
    page_el = root.find(f"{t('Layout')}/{t('Page')}")
    if page_el is None:
        raise DataError(f"{path}: ALTO without Layout/Page")
    lines = []
    for i, el in enumerate(root.iter(t("TextLine")), 1):
        lid = el.get("ID") or f"l{i}"
        where = f"{path}: TextLine {lid}"
        shape = el.find(f"{t('Shape')}/{t('Polygon')}")
        if shape is not None:
            polygon = _points(shape.get("POINTS"), where)
        elif el.get("WIDTH") is not None and el.get("HEIGHT") is not None:
            box = [el.get("HPOS", "0"), el.get("VPOS", "0"), el.get("WIDTH"), el.get("HEIGHT")]
            (x, y), (w, h) = _points(" ".join(box), f"{where} HPOS/VPOS/WIDTH/HEIGHT").tolist()
            x1, y1 = x + w, y + h
            polygon = np.array([[x, y], [x1, y], [x1, y1], [x, y1]], np.int32)
        else:
            raise DataError(f"{where}: neither Shape/Polygon nor HPOS/VPOS/WIDTH/HEIGHT")
        try:  # v2/v3 BASELINE is a single number: no polyline then
            baseline = _points(el.get("BASELINE"), where)
            baseline = baseline if len(baseline) >= 2 else None
        except DataError:
            baseline = None
        words, confs = [], []
        for child in el:
            kind = etree.QName(child).localname if isinstance(child.tag, str) else ""
            if kind == "String":
                words.append(child.get("CONTENT", ""))
                if child.get("WC") is not None:
                    confs.append(_num(child.get("WC")))
            elif kind == "HYP" and words:
                words[-1] += child.get("CONTENT", "")
        lines.append(TextLine(lid, polygon, baseline, normalize_text(" ".join(words)) or None,
                              float(np.mean(confs)) if confs else None))
    return Page(path.parent / name if name else None, int(_num(page_el.get("WIDTH"))),
                int(_num(page_el.get("HEIGHT"))), lines)


def _page_points(el: etree._Element | None, t, where: str) -> np.ndarray | None:
    if el is None:
        return None
    if el.get("points") is not None:
        return _points(el.get("points"), where)
    pts = [(el_.get("x"), el_.get("y")) for el_ in el.iter(t("Point"))]  # PAGE 2009/2010
    return _points(" ".join(f"{x},{y}" for x, y in pts), where) if pts else None


def _read_page(root: etree._Element, path: Path) -> Page:
    t = _tag(root)
    page_el = root.find(t("Page"))
    if page_el is None:
        raise DataError(f"{path}: PAGE XML without a Page element")
    name = (page_el.get("imageFilename") or "").strip()
    lines = []
    for i, el in enumerate(page_el.iter(t("TextLine")), 1):
        lid = el.get("id") or f"l{i}"
        where = f"{path}: TextLine {lid}"
        polygon = _page_points(el.find(t("Coords")), t, where)
        if polygon is None:
            raise DataError(f"{where}: no Coords")
        baseline = _page_points(el.find(t("Baseline")), t, where)
        equivs = el.findall(t("TextEquiv"))  # the line's own, not its Words'
        equiv = next((e for e in equivs if e.get("index") == "0"), equivs[0] if equivs else None)
        text = conf = None
        if equiv is not None:
            text = normalize_text(equiv.findtext(t("Unicode")) or "") or None
            conf = _num(equiv.get("conf")) if equiv.get("conf") is not None else None
        lines.append(TextLine(lid, polygon, baseline, text, conf))
    return Page(path.parent / name if name else None, int(_num(page_el.get("imageWidth"))),
                int(_num(page_el.get("imageHeight"))), lines)


# ---------------------------------------------------------------- line crops

def _check_polygon(polygon: np.ndarray) -> np.ndarray:
    poly = np.asarray(polygon)
    if poly.ndim != 2 or poly.shape[1] != 2 or len(poly) < 3:
        raise DataError(f"degenerate line polygon: {len(poly)} points, need at least 3")
    w, h = poly.max(0) - poly.min(0)
    if w < 2 or h < 2:
        raise DataError(f"degenerate line polygon: {w} x {h} px")
    return poly.astype(np.int32)


def first_problem(problems) -> str:
    """The first problem, and how many more there are (for a one-line error)."""
    return f"{problems[0]}" + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else "")


def no_lines_error(dirs, problems=()) -> DataError:
    """The error for ground-truth folders holding no labelled line at all: with the first of
    the ``problems`` that left it empty, if any."""
    where = ", ".join(map(str, dirs))
    if problems:
        return DataError(f"no labelled lines read from {where}: {first_problem(problems)}")
    return DataError(f"no labelled lines found in {where} (expected <id>.png|jpg|tif + "
                     "<id>.gt.txt pairs, or ALTO/PAGE XML)")


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
    poly = _check_polygon(polygon)
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
    k = 2 * _DILATE + 1
    mask = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    # the paper as lit along the line: brightest nearby pixel (smoothed), scaled so that on
    # the paper under the polygon it matches the pixels; a page lit from one side gets no
    # edge where the fill meets the paper, and a flat scan gets its paper colour
    s = max(3, (min(crop.shape) // 2) | 1)
    local = cv2.dilate(cv2.GaussianBlur(crop, (0, 0), 1.5),
                       cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (s, s)))
    local = cv2.blur(local.astype(np.float32), (s, s))
    light = (mask > 0) & (crop > thr)  # paper pixels under the (dilated) polygon
    ratio = (float(np.median(crop[light])) / max(float(np.median(local[light])), 1.0)
             if light.any() else 1.0)
    fill = np.clip(local * ratio, 0, 255).round().astype(np.uint8)
    crop[mask == 0] = fill[mask == 0]
    return crop


def load_line_image(record: LineRecord) -> np.ndarray:
    """The record's line as uint8 gray: its image file, or its polygon cut from the page."""
    if record.image is not None:
        return load_image(record.image)
    if record.source is None or record.polygon is None:
        raise DataError(f"line {record.id}: no image and no page source + polygon")
    source = Path(record.source)
    stamp = source.stat().st_mtime_ns if source.exists() else 0
    with _PAGE_LOCK:  # threads reading lines of one page load it once
        page = _page_image(str(source), stamp)
    return crop_line(page, record.polygon)


def prepare_line(record: LineRecord, config) -> tuple[np.ndarray | None, str]:
    """The record's line preprocessed by ``config`` (a ``PreprocessConfig``) as uint8, and "";
    or None and what is wrong with it."""
    try:
        return to_uint8(preprocess(load_line_image(record), config)), ""
    except HandwritingError as exc:
        return None, str(exc)


_PAGE_LOCK = threading.Lock()


@functools.lru_cache(maxsize=4)
def _page_image(source: str, stamp: int) -> np.ndarray:
    """The last page images loaded (lines of one page come in a row; a few pages, for the
    threads of ``data.prepare_lines`` that are still on the previous one)."""
    page = read_layout(source)
    if page.image is None:
        raise DataError(f"{source}: names no page image")
    image = load_image(page.image)
    image.setflags(write=False)
    return image


# ---------------------------------------------------------------- writing XML

def _xml_id(raw: str, seen: set[str]) -> str:
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


def _fmt(points: np.ndarray) -> str:
    return " ".join(f"{int(x)},{int(y)}" for x, y in np.asarray(points))


def _box(points: np.ndarray) -> tuple[int, int, int, int]:
    (x0, y0), (x1, y1) = np.asarray(points).min(0), np.asarray(points).max(0)
    return int(x0), int(y0), int(x1 - x0), int(y1 - y0)


def _image_name(page: Page, image_name: str | None) -> str | None:
    return image_name if image_name is not None else (page.image.name if page.image else None)


def _boxed_words(line: TextLine) -> list[Word] | None:
    """The line's words with boxes, if they spell its text (else the writers split the text)."""
    if line.words and [w.text for w in line.words] == (line.text or "").split():
        return line.words
    return None


def write_alto(page: Page, path: str | Path, image_name: str | None = None) -> None:
    """Write ``page`` as ALTO v4 (pixel units), one String per word; atomic."""
    E = lambda name: f"{{{ALTO_NS}}}{name}"  # noqa: E731
    root = etree.Element(E("alto"), nsmap={None: ALTO_NS, "xsi": _XSI},
                         SCHEMAVERSION="4.2")
    root.set(f"{{{_XSI}}}schemaLocation",
             f"{ALTO_NS} http://www.loc.gov/standards/alto/v4/alto-4-2.xsd")
    from . import __version__
    desc = etree.SubElement(root, E("Description"))
    etree.SubElement(desc, E("MeasurementUnit")).text = "pixel"
    name = _image_name(page, image_name)
    if name:
        info = etree.SubElement(desc, E("sourceImageInformation"))
        etree.SubElement(info, E("fileName")).text = name
    software = etree.SubElement(etree.SubElement(desc, E("Processing"), ID="proc_1"),
                                E("processingSoftware"))
    etree.SubElement(software, E("softwareName")).text = "handwriting"
    etree.SubElement(software, E("softwareVersion")).text = __version__
    pg = etree.SubElement(etree.SubElement(root, E("Layout")), E("Page"), ID="page_1",
                          PHYSICAL_IMG_NR="1", WIDTH=str(page.width), HEIGHT=str(page.height))
    space = etree.SubElement(pg, E("PrintSpace"), HPOS="0", VPOS="0", WIDTH=str(page.width),
                             HEIGHT=str(page.height))
    if page.lines:
        seen = {"page_1", "block_1", "proc_1"}
        x, y, w, h = _box(np.concatenate([ln.polygon for ln in page.lines]))
        block = etree.SubElement(space, E("TextBlock"), ID="block_1", HPOS=str(x), VPOS=str(y),
                                 WIDTH=str(w), HEIGHT=str(h))
        for line in page.lines:
            x, y, w, h = _box(line.polygon)
            el = etree.SubElement(block, E("TextLine"), ID=_xml_id(line.id, seen), HPOS=str(x),
                                  VPOS=str(y), WIDTH=str(w), HEIGHT=str(h))
            if line.baseline is not None:
                el.set("BASELINE", _fmt(line.baseline))
            etree.SubElement(etree.SubElement(el, E("Shape")), E("Polygon"),
                             POINTS=_fmt(line.polygon))
            if boxed := _boxed_words(line):
                for i, word in enumerate(boxed):
                    if i:
                        etree.SubElement(el, E("SP"))
                    x0, y0, x1, y1 = word.box
                    string = etree.SubElement(el, E("String"), CONTENT=word.text, HPOS=str(x0),
                                              VPOS=str(y0), WIDTH=str(x1 - x0),
                                              HEIGHT=str(y1 - y0))
                    if word.confidence is not None:
                        string.set("WC", f"{word.confidence:.4f}")
                continue
            words = (line.text or "").split() or [""]  # ALTO needs at least one String
            for i, word in enumerate(words):
                if i:
                    etree.SubElement(el, E("SP"))
                string = etree.SubElement(el, E("String"), CONTENT=word)
                if line.confidence is not None:
                    string.set("WC", f"{line.confidence:.4f}")
    _write_atomic(root, Path(path))


# how write_alto, write_page_xml and write_hocr sign their output, near its top (each group
# whole); the last: ALTO of versions before its softwareName, told by the page write_alto made
_SIGNATURES = ((b"<softwareName>handwriting</softwareName>",), (b"<Creator>handwriting</Creator>",),
               (b'name="ocr-system" content="handwriting ',),
               (b'<Page ID="page_1" PHYSICAL_IMG_NR="1" WIDTH="', b'<PrintSpace HPOS="0" VPOS="0" '))


def written_here(path: str | Path) -> bool:
    """Whether the ALTO / PAGE / hOCR file ``path`` was written by this package (and so
    may be replaced by a new reading of its page, unlike ground truth or another tool's)."""
    try:
        with open(path, "rb") as f:
            head = f.read(4096)
    except OSError:
        return False
    return any(all(mark in head for mark in group) for group in _SIGNATURES)


def write_page_xml(page: Page, path: str | Path, image_name: str | None = None) -> None:
    """Write ``page`` as PAGE XML 2019-07-15 with one TextRegion; atomic."""
    E = lambda name: f"{{{PAGE_NS}}}{name}"  # noqa: E731
    root = etree.Element(E("PcGts"), nsmap={None: PAGE_NS, "xsi": _XSI})
    root.set(f"{{{_XSI}}}schemaLocation", f"{PAGE_NS} {PAGE_NS}/pagecontent.xsd")
    meta = etree.SubElement(root, E("Metadata"))
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    etree.SubElement(meta, E("Creator")).text = "handwriting"
    etree.SubElement(meta, E("Created")).text = now
    etree.SubElement(meta, E("LastChange")).text = now
    pg = etree.SubElement(root, E("Page"), imageFilename=_image_name(page, image_name) or "",
                          imageWidth=str(page.width), imageHeight=str(page.height))
    if page.lines:
        seen = {"ro_1", "region_1"}
        group = etree.SubElement(etree.SubElement(pg, E("ReadingOrder")), E("OrderedGroup"),
                                 id="ro_1")
        etree.SubElement(group, E("RegionRefIndexed"), index="0", regionRef="region_1")
        region = etree.SubElement(pg, E("TextRegion"), id="region_1")
        x, y, w, h = _box(np.concatenate([ln.polygon for ln in page.lines]))
        etree.SubElement(region, E("Coords"),
                         points=f"{x},{y} {x + w},{y} {x + w},{y + h} {x},{y + h}")
        for line in page.lines:
            el = etree.SubElement(region, E("TextLine"), id=_xml_id(line.id, seen))
            etree.SubElement(el, E("Coords"), points=_fmt(line.polygon))
            if line.baseline is not None:
                etree.SubElement(el, E("Baseline"), points=_fmt(line.baseline))
            for i, word in enumerate(_boxed_words(line) or [], 1):
                w = etree.SubElement(el, E("Word"), id=_xml_id(f"{el.get('id')}_w{i}", seen))
                x0, y0, x1, y1 = word.box
                etree.SubElement(w, E("Coords"), points=f"{x0},{y0} {x1},{y0} {x1},{y1} {x0},{y1}")
                equiv = etree.SubElement(w, E("TextEquiv"))
                if word.confidence is not None:
                    equiv.set("conf", f"{word.confidence:.4f}")
                etree.SubElement(equiv, E("Unicode")).text = normalize_text(word.text)
            if line.text is not None:
                equiv = etree.SubElement(el, E("TextEquiv"))
                if line.confidence is not None:
                    equiv.set("conf", f"{line.confidence:.4f}")
                etree.SubElement(equiv, E("Unicode")).text = normalize_text(line.text)
    _write_atomic(root, Path(path))


def write_hocr(page: Page, path: str | Path, image_name: str | None = None) -> None:
    """Write ``page`` as hOCR 1.2 (XHTML, as Tesseract and kraken do): one ``ocr_page``, one
    ``ocr_carea`` / ``ocr_par`` around the lines, an ``ocr_line`` per line and an
    ``ocrx_word`` per word, with ``bbox`` (x0 y0 x1 y1) and ``x_wconf`` (0-100) where the
    word has a box and a confidence; atomic."""
    from . import __version__
    X = "http://www.w3.org/1999/xhtml"
    E = lambda name: f"{{{X}}}{name}"  # noqa: E731
    root = etree.Element(E("html"), nsmap={None: X})
    root.set("{http://www.w3.org/XML/1998/namespace}lang", "en")
    head = etree.SubElement(root, E("head"))
    etree.SubElement(head, E("title")).text = _image_name(page, image_name) or ""
    etree.SubElement(head, E("meta"), {"http-equiv": "Content-Type",
                                        "content": "text/html;charset=utf-8"})
    etree.SubElement(head, E("meta"), name="ocr-system", content=f"handwriting {__version__}")
    etree.SubElement(head, E("meta"), name="ocr-capabilities",
                     content="ocr_page ocr_carea ocr_par ocr_line ocrx_word")
    body = etree.SubElement(root, E("body"))

    def bbox(x0, y0, x1, y1) -> str:
        return f"bbox {int(x0)} {int(y0)} {int(x1)} {int(y1)}"

    name = _image_name(page, image_name)
    quoted = (name or "").replace("\\", "\\\\").replace('"', '\\"')  # so the quoted name ends at its quote
    title = (f'image "{quoted}"; ' if name else "") + bbox(0, 0, page.width, page.height) + "; ppageno 0"
    parent = etree.SubElement(body, E("div"), {"class": "ocr_page", "id": "page_1", "title": title})
    if page.lines:
        x, y, w, h = _box(np.concatenate([ln.polygon for ln in page.lines]))
        area = etree.SubElement(parent, E("div"), {"class": "ocr_carea", "id": "block_1",
                                                   "title": bbox(x, y, x + w, y + h)})
        parent = etree.SubElement(area, E("p"), {"class": "ocr_par", "id": "par_1",
                                                 "title": bbox(x, y, x + w, y + h)})
    for i, line in enumerate(page.lines, 1):
        x, y, w, h = _box(line.polygon)
        title = bbox(x, y, x + w, y + h)
        if line.baseline is not None and len(line.baseline) >= 2:
            (bx0, by0), (bx1, by1) = np.asarray(line.baseline, np.float64)[[0, -1]]
            slope = (by1 - by0) / (bx1 - bx0) if bx1 != bx0 else 0.0
            title += f"; baseline {slope:.4f} {round(by0 + slope * (x - bx0) - (y + h))}"
        if line.confidence is not None:
            title += f"; x_wconf {round(100 * line.confidence)}"
        el = etree.SubElement(parent, E("span"), {"class": "ocr_line", "id": f"line_{i}",
                                                  "title": title})
        words = _boxed_words(line)
        texts = [w.text for w in words] if words else (line.text or "").split()
        for j, text in enumerate(texts, 1):
            word = etree.SubElement(el, E("span"), {"class": "ocrx_word", "id": f"word_{i}_{j}"})
            if words:
                props = bbox(*words[j - 1].box)
                if words[j - 1].confidence is not None:
                    props += f"; x_wconf {round(100 * words[j - 1].confidence)}"
                word.set("title", props)
            word.text = text
            word.tail = " " if j < len(texts) else None
        if not texts:  # <span ...></span>: HTML nests what follows a self-closing span inside it
            el.text = ""
    for el in root.iter():  # one element a line; inside a line only the words' spaces
        if el.tag != E("span") or el.get("class") == "ocr_line":
            el.tail = "\n"
        if el.tag in (E("html"), E("head"), E("body"), E("div"), E("p")):
            el.text = "\n"
    doc = etree.tostring(root, xml_declaration=True, encoding="UTF-8",
                         doctype='<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN" '
                                 '"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">')
    write_atomic(Path(path), doc)


def _write_atomic(root: etree._Element, path: Path) -> None:
    write_atomic(path, etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))
