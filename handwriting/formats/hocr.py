"""hOCR 1.2 out, as Tesseract and kraken write it (for searchable PDFs and OCR tools)."""

from __future__ import annotations

import numpy as np
from lxml import etree

from ..document import Page
from .xml import box, boxed_words, image_name, xml_safe


def to_hocr(page: Page, name: str | None = None) -> bytes:
    """``page`` as hOCR 1.2 (XHTML, as Tesseract and kraken do): one ``ocr_page``, one
    ``ocr_carea`` / ``ocr_par`` around the lines, an ``ocr_line`` per line and an
    ``ocrx_word`` per word, with ``bbox`` (x0 y0 x1 y1) and ``x_wconf`` (0-100) where the
    word has a box and a confidence. ``name``: the image file name to record (default: the
    page image's)."""
    from .. import __version__

    X = "http://www.w3.org/1999/xhtml"
    E = lambda name: f"{{{X}}}{name}"  # noqa: E731
    root = etree.Element(E("html"), nsmap={None: X})
    root.set("{http://www.w3.org/XML/1998/namespace}lang", "en")
    head = etree.SubElement(root, E("head"))
    etree.SubElement(head, E("title")).text = xml_safe(image_name(page, name))
    etree.SubElement(
        head, E("meta"), {"http-equiv": "Content-Type", "content": "text/html;charset=utf-8"}
    )
    etree.SubElement(head, E("meta"), name="ocr-system", content=f"handwriting {__version__}")
    etree.SubElement(
        head,
        E("meta"),
        name="ocr-capabilities",
        content="ocr_page ocr_carea ocr_par ocr_line ocrx_word",
    )
    body = etree.SubElement(root, E("body"))

    def bbox(x0, y0, x1, y1) -> str:
        return f"bbox {int(x0)} {int(y0)} {int(x1)} {int(y1)}"

    name = image_name(page, name)
    # so the quoted name ends at its quote
    quoted = xml_safe(name).replace("\\", "\\\\").replace('"', '\\"')
    title = (
        (f'image "{quoted}"; ' if name else "")
        + bbox(0, 0, page.width, page.height)
        + "; ppageno 0"
    )
    parent = etree.SubElement(body, E("div"), {"class": "ocr_page", "id": "page_1", "title": title})
    if page.lines:
        x, y, w, h = box(np.concatenate([ln.polygon for ln in page.lines]))
        area = etree.SubElement(
            parent,
            E("div"),
            {"class": "ocr_carea", "id": "block_1", "title": bbox(x, y, x + w, y + h)},
        )
        parent = etree.SubElement(
            area, E("p"), {"class": "ocr_par", "id": "par_1", "title": bbox(x, y, x + w, y + h)}
        )
    for i, line in enumerate(page.lines, 1):
        x, y, w, h = box(line.polygon)
        title = bbox(x, y, x + w, y + h)
        if line.baseline is not None and len(line.baseline) >= 2:
            (bx0, by0), (bx1, by1) = np.asarray(line.baseline, np.float64)[[0, -1]]
            slope = (by1 - by0) / (bx1 - bx0) if bx1 != bx0 else 0.0
            title += f"; baseline {slope:.4f} {round(by0 + slope * (x - bx0) - (y + h))}"
        if line.confidence is not None:
            title += f"; x_wconf {round(100 * line.confidence)}"
        el = etree.SubElement(
            parent, E("span"), {"class": "ocr_line", "id": f"line_{i}", "title": title}
        )
        words = boxed_words(line)
        texts = [w.text for w in words] if words else (line.text or "").split()
        for j, text in enumerate(texts, 1):
            word = etree.SubElement(el, E("span"), {"class": "ocrx_word", "id": f"word_{i}_{j}"})
            if words:
                props = bbox(*words[j - 1].box)
                if words[j - 1].confidence is not None:
                    props += f"; x_wconf {round(100 * words[j - 1].confidence)}"
                word.set("title", props)
            word.text = xml_safe(text)
            word.tail = " " if j < len(texts) else None
        if not texts:  # <span ...></span>: HTML nests what follows a self-closing span inside it
            el.text = ""
    for el in root.iter():  # one element a line; inside a line only the words' spaces
        if el.tag != E("span") or el.get("class") == "ocr_line":
            el.tail = "\n"
        if el.tag in (E("html"), E("head"), E("body"), E("div"), E("p")):
            el.text = "\n"
    doc = etree.tostring(
        root,
        xml_declaration=True,
        encoding="UTF-8",
        doctype='<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN" '
        '"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">',
    )
    return doc
