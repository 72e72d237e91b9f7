"""hOCR 1.2 out, as Tesseract and kraken write it (for searchable PDFs and OCR tools)."""

from __future__ import annotations

import itertools

import numpy as np
from lxml import etree

from ..document import Page, TextLine
from .xml import box, boxed_words, image_name, xml_safe

# where two stacked lines' boxes meet: below the upper line's baseline by this share of the
# distance between the two baselines (its descenders' usual reach; the lower line's
# lower-case letters start further down)
DESCENDER_SHARE = 0.3


def line_boxes(lines: list[TextLine]) -> list[tuple[int, int, int, int]]:
    """The hOCR box ``(x0, y0, x1, y1)`` of each line: its polygon's bounding box, cut
    where it reaches into a line below or above it. Two lines that share columns meet at
    ``DESCENDER_SHARE`` of the way from the upper baseline to the lower one (both taken in
    the middle of the shared columns), so that stacked lines' boxes do not overlap though
    their ascenders and descenders do."""
    boxes = []
    for line in lines:
        x, y, w, h = box(line.polygon)
        boxes.append([x, y, x + w, y + h])

    def level(k: int, x: float) -> float:  # the line's baseline (else its bottom) at x
        base = lines[k].baseline
        if base is None or len(base) < 2:
            return float(boxes[k][3])
        base = np.asarray(base, np.float64)
        order = np.argsort(base[:, 0])
        return float(np.interp(x, base[order, 0], base[order, 1]))

    for i, j in itertools.permutations(range(len(lines)), 2):
        (ax0, ay0, ax1, ay1), (bx0, by0, bx1, by1) = boxes[i], boxes[j]
        if min(ax1, bx1) <= max(ax0, bx0) or by0 >= ay1 or ay0 >= by1:
            continue  # no shared columns or rows
        mid = (max(ax0, bx0) + min(ax1, bx1)) / 2
        upper, lower = level(i, mid), level(j, mid)
        if lower <= upper:  # i is not above j
            continue
        cut = round(upper + DESCENDER_SHARE * (lower - upper))
        if ay0 < cut < ay1:
            boxes[i][3] = cut
        if by0 < cut < by1:
            boxes[j][1] = cut
    return [tuple(int(v) for v in b) for b in boxes]


def to_hocr(page: Page, name: str | None = None) -> bytes:
    """``page`` as hOCR 1.2 (XHTML, as Tesseract and kraken do): one ``ocr_page``, one
    ``ocr_carea`` / ``ocr_par`` around the lines, an ``ocr_line`` per line (its box from
    :func:`line_boxes`, the words' boxes kept to its rows) and an ``ocrx_word`` per word,
    with ``bbox`` (x0 y0 x1 y1) and ``x_wconf`` (0-100) where the word has a box and a
    confidence. ``name``: the image file name to record (default: the page image's)."""
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
    # the page's language is not known to the writer: ISO 639-2 "undetermined"
    etree.SubElement(head, E("meta"), name="ocr-langs", content="und")
    etree.SubElement(head, E("meta"), name="ocr-number-of-pages", content="1")
    etree.SubElement(head, E("meta"), name="ocr-scripts", content="Latn")  # ISO 15924
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
    for i, (line, (x, y, x1, y1)) in enumerate(zip(page.lines, line_boxes(page.lines)), 1):
        title = bbox(x, y, x1, y1)
        if line.baseline is not None and len(line.baseline) >= 2:
            (bx0, by0), (bx1, by1) = np.asarray(line.baseline, np.float64)[[0, -1]]
            slope = (by1 - by0) / (bx1 - bx0) if bx1 != bx0 else 0.0
            title += f"; baseline {slope:.4f} {round(by0 + slope * (x - bx0) - y1)}"
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
                wx0, wy0, wx1, wy1 = words[j - 1].box  # the word's rows within its line's
                wy0 = min(max(wy0, y), y1 - 1)
                props = bbox(wx0, wy0, wx1, max(wy0 + 1, min(wy1, y1)))
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
