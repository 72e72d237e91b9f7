"""ALTO: read v2-v4 (line polygons or boxes, baselines, text), write 4.2."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from lxml import etree

from ..charset import normalize_text
from ..document import Page, TextLine
from ..errors import DataError
from .xml import (
    ALTO_NS,
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


def read_alto(path: str | Path) -> Page:
    """Read ALTO v2/v3/v4 (or without namespace): line polygons, baselines, text."""
    return parse_alto(parse_as(Path(path), "alto"), Path(path))


def parse_alto(root: etree._Element, path: Path) -> Page:
    """The page an ALTO document describes: line polygons, baselines, text, confidences."""
    t = tag(root)
    unit = (root.findtext(f"{t('Description')}/{t('MeasurementUnit')}") or "pixel").strip()
    if unit != "pixel":
        raise DataError(f"{path}: MeasurementUnit {unit!r} is not supported (pixel only)")
    name = (
        root.findtext(f"{t('Description')}/{t('sourceImageInformation')}/{t('fileName')}") or ""
    ).strip()
    page_el = root.find(f"{t('Layout')}/{t('Page')}")
    if page_el is None:
        raise DataError(f"{path}: ALTO without Layout/Page")
    lines = []
    for i, el in enumerate(root.iter(t("TextLine")), 1):
        lid = el.get("ID") or f"l{i}"
        where = f"{path}: TextLine {lid}"
        shape = el.find(f"{t('Shape')}/{t('Polygon')}")
        if shape is not None:
            polygon = points(shape.get("POINTS"), where)
        elif el.get("WIDTH") is not None and el.get("HEIGHT") is not None:
            hvwh = [el.get("HPOS", "0"), el.get("VPOS", "0"), el.get("WIDTH"), el.get("HEIGHT")]
            (x, y), (w, h) = points(" ".join(hvwh), f"{where} HPOS/VPOS/WIDTH/HEIGHT").tolist()
            x1, y1 = x + w, y + h
            polygon = np.array([[x, y], [x1, y], [x1, y1], [x, y1]], np.int32)
        else:
            raise DataError(f"{where}: neither Shape/Polygon nor HPOS/VPOS/WIDTH/HEIGHT")
        try:  # v2/v3 BASELINE is a single number: no polyline then
            baseline = points(el.get("BASELINE"), where)
            baseline = baseline if len(baseline) >= 2 else None
        except DataError:
            baseline = None
        words, confs = [], []
        for child in el:
            kind = etree.QName(child).localname if isinstance(child.tag, str) else ""
            if kind == "String":
                words.append(child.get("CONTENT", ""))
                if child.get("WC") is not None:
                    confs.append(number(child.get("WC")))
            elif kind == "HYP" and words:
                words[-1] += child.get("CONTENT", "")
        lines.append(
            TextLine(
                lid,
                polygon,
                baseline,
                normalize_text(" ".join(words)) or None,
                float(np.mean(confs)) if confs else None,
            )
        )
    return Page(
        path.parent / name if name else None,
        int(number(page_el.get("WIDTH"))),
        int(number(page_el.get("HEIGHT"))),
        lines,
    )


def to_alto(page: Page, name: str | None = None) -> bytes:
    """``page`` as ALTO 4.2 (pixel units), one String per word; ``name``: the image file
    name to record (default: the page image's)."""
    E = lambda name: f"{{{ALTO_NS}}}{name}"  # noqa: E731
    root = etree.Element(E("alto"), nsmap={None: ALTO_NS, "xsi": XSI}, SCHEMAVERSION="4.2")
    root.set(
        f"{{{XSI}}}schemaLocation", f"{ALTO_NS} http://www.loc.gov/standards/alto/v4/alto-4-2.xsd"
    )
    from .. import __version__

    desc = etree.SubElement(root, E("Description"))
    etree.SubElement(desc, E("MeasurementUnit")).text = "pixel"
    name = image_name(page, name)
    if name:
        info = etree.SubElement(desc, E("sourceImageInformation"))
        etree.SubElement(info, E("fileName")).text = xml_safe(name)
    software = etree.SubElement(
        etree.SubElement(desc, E("Processing"), ID="proc_1"), E("processingSoftware")
    )
    etree.SubElement(software, E("softwareName")).text = "handwriting"
    etree.SubElement(software, E("softwareVersion")).text = __version__
    pg = etree.SubElement(
        etree.SubElement(root, E("Layout")),
        E("Page"),
        ID="page_1",
        PHYSICAL_IMG_NR="1",
        WIDTH=str(page.width),
        HEIGHT=str(page.height),
    )
    space = etree.SubElement(
        pg, E("PrintSpace"), HPOS="0", VPOS="0", WIDTH=str(page.width), HEIGHT=str(page.height)
    )
    if page.lines:
        seen = {"page_1", "block_1", "proc_1"}
        x, y, w, h = box(np.concatenate([ln.polygon for ln in page.lines]))
        block = etree.SubElement(
            space,
            E("TextBlock"),
            ID="block_1",
            HPOS=str(x),
            VPOS=str(y),
            WIDTH=str(w),
            HEIGHT=str(h),
        )
        for line in page.lines:
            x, y, w, h = box(line.polygon)
            el = etree.SubElement(
                block,
                E("TextLine"),
                ID=xml_id(line.id, seen),
                HPOS=str(x),
                VPOS=str(y),
                WIDTH=str(w),
                HEIGHT=str(h),
            )
            if line.baseline is not None:
                el.set("BASELINE", fmt_points(line.baseline))
            etree.SubElement(
                etree.SubElement(el, E("Shape")), E("Polygon"), POINTS=fmt_points(line.polygon)
            )
            if boxed := boxed_words(line):
                for i, word in enumerate(boxed):
                    if i:
                        etree.SubElement(el, E("SP"))
                    x0, y0, x1, y1 = word.box
                    string = etree.SubElement(
                        el,
                        E("String"),
                        CONTENT=xml_safe(word.text),
                        HPOS=str(x0),
                        VPOS=str(y0),
                        WIDTH=str(x1 - x0),
                        HEIGHT=str(y1 - y0),
                    )
                    if word.confidence is not None:
                        string.set("WC", f"{word.confidence:.4f}")
                continue
            words = (line.text or "").split() or [""]  # ALTO needs at least one String
            for i, word in enumerate(words):
                if i:
                    etree.SubElement(el, E("SP"))
                string = etree.SubElement(el, E("String"), CONTENT=xml_safe(word))
                if line.confidence is not None:
                    string.set("WC", f"{line.confidence:.4f}")
    return tostring(root)
