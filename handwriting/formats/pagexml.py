"""PAGE XML: read 2009-2019 (TextLine Coords, Baseline, TextEquiv), write 2019-07-15."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from lxml import etree

from ..charset import normalize_text
from ..document import Page, TextLine
from ..errors import DataError
from .xml import (
    PAGE_NS,
    XSI,
    box,
    boxed_words,
    fmt_points,
    image_name,
    number,
    parse_as,
    points,
    tag,
    tostring,
    xml_id,
    xml_safe,
)


def read_page_xml(path: str | Path) -> Page:
    """Read PAGE XML (2009-2019): TextLine Coords, Baseline and the line's own TextEquiv."""
    return parse_page(parse_as(Path(path), "page"), Path(path))


def _coords(el: etree._Element | None, t, where: str) -> np.ndarray | None:
    """The points of a Coords or Baseline element (``points`` or 2009/2010 Point children)."""
    if el is None:
        return None
    if el.get("points") is not None:
        return points(el.get("points"), where)
    pts = [(el_.get("x"), el_.get("y")) for el_ in el.iter(t("Point"))]  # PAGE 2009/2010
    return points(" ".join(f"{x},{y}" for x, y in pts), where) if pts else None


def parse_page(root: etree._Element, path: Path) -> Page:
    """The page a PAGE document describes: TextLine Coords, Baseline, the line's own TextEquiv."""
    t = tag(root)
    page_el = root.find(t("Page"))
    if page_el is None:
        raise DataError(f"{path}: PAGE XML without a Page element")
    name = (page_el.get("imageFilename") or "").strip()
    lines = []
    for i, el in enumerate(page_el.iter(t("TextLine")), 1):
        lid = el.get("id") or f"l{i}"
        where = f"{path}: TextLine {lid}"
        polygon = _coords(el.find(t("Coords")), t, where)
        if polygon is None:
            raise DataError(f"{where}: no Coords")
        baseline = _coords(el.find(t("Baseline")), t, where)
        equivs = el.findall(t("TextEquiv"))  # the line's own, not its Words'
        equiv = next((e for e in equivs if e.get("index") == "0"), equivs[0] if equivs else None)
        text = conf = None
        if equiv is not None:
            text = normalize_text(equiv.findtext(t("Unicode")) or "") or None
            conf = number(equiv.get("conf")) if equiv.get("conf") is not None else None
        lines.append(TextLine(lid, polygon, baseline, text, conf))
    return Page(
        path.parent / name if name else None,
        int(number(page_el.get("imageWidth"))),
        int(number(page_el.get("imageHeight"))),
        lines,
    )


def _now() -> datetime:
    """The time written as Created/LastChange: now, or ``$SOURCE_DATE_EPOCH`` when set (the
    reproducible-builds convention: the same input then gives the same bytes)."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "")
    if epoch.isdigit():
        return datetime.fromtimestamp(int(epoch), UTC)
    return datetime.now(UTC)


def to_page_xml(page: Page, name: str | None = None) -> bytes:
    """``page`` as PAGE XML 2019-07-15 with one TextRegion; ``name``: the image file name to
    record (default: the page image's)."""
    E = lambda name: f"{{{PAGE_NS}}}{name}"  # noqa: E731
    root = etree.Element(E("PcGts"), nsmap={None: PAGE_NS, "xsi": XSI})
    root.set(f"{{{XSI}}}schemaLocation", f"{PAGE_NS} {PAGE_NS}/pagecontent.xsd")
    meta = etree.SubElement(root, E("Metadata"))
    now = _now().isoformat(timespec="seconds")
    etree.SubElement(meta, E("Creator")).text = "handwriting"
    etree.SubElement(meta, E("Created")).text = now
    etree.SubElement(meta, E("LastChange")).text = now
    pg = etree.SubElement(
        root,
        E("Page"),
        imageFilename=xml_safe(image_name(page, name)),
        imageWidth=str(page.width),
        imageHeight=str(page.height),
    )
    if page.lines:
        seen = {"ro_1", "region_1"}
        group = etree.SubElement(
            etree.SubElement(pg, E("ReadingOrder")), E("OrderedGroup"), id="ro_1"
        )
        etree.SubElement(group, E("RegionRefIndexed"), index="0", regionRef="region_1")
        region = etree.SubElement(pg, E("TextRegion"), id="region_1")
        x, y, w, h = box(np.concatenate([ln.polygon for ln in page.lines]))
        etree.SubElement(
            region, E("Coords"), points=f"{x},{y} {x + w},{y} {x + w},{y + h} {x},{y + h}"
        )
        for line in page.lines:
            el = etree.SubElement(region, E("TextLine"), id=xml_id(line.id, seen))
            etree.SubElement(el, E("Coords"), points=fmt_points(line.polygon))
            if line.baseline is not None:
                etree.SubElement(el, E("Baseline"), points=fmt_points(line.baseline))
            for i, word in enumerate(boxed_words(line) or [], 1):
                w = etree.SubElement(el, E("Word"), id=xml_id(f"{el.get('id')}_w{i}", seen))
                x0, y0, x1, y1 = word.box
                etree.SubElement(w, E("Coords"), points=f"{x0},{y0} {x1},{y0} {x1},{y1} {x0},{y1}")
                equiv = etree.SubElement(w, E("TextEquiv"))
                if word.confidence is not None:
                    equiv.set("conf", f"{word.confidence:.4f}")
                etree.SubElement(equiv, E("Unicode")).text = xml_safe(normalize_text(word.text))
            if line.text is not None:
                equiv = etree.SubElement(el, E("TextEquiv"))
                if line.confidence is not None:
                    equiv.set("conf", f"{line.confidence:.4f}")
                etree.SubElement(equiv, E("Unicode")).text = xml_safe(normalize_text(line.text))
    return tostring(root)
