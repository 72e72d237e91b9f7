"""Searchable PDF out: each page image with an invisible text layer, one word per word box,
in reading order, drawn by OCRmyPDF's hOCR renderer (fpdf2) from :func:`~.hocr.to_hocr`,
and the pages joined into one document with pikepdf (both from the ``[pdf]`` extra)."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

import cv2
import numpy as np

from ..document import Page
from .hocr import to_hocr


def to_pdf(pages: list[tuple[Page, np.ndarray]], dpi: float = 300) -> bytes:
    """A searchable PDF of ``pages``: (page read, its grayscale image) pairs, one PDF page
    each, sized by ``dpi`` (an image of W pixels is W / dpi inches wide). Selecting,
    copying and searching the text work in ordinary viewers; the words lie over their
    boxes."""
    import ocrmypdf
    import pikepdf
    from ocrmypdf.font import MultiFontManager
    from ocrmypdf.fpdf_renderer import Fpdf2PdfRenderer
    from ocrmypdf.hocrtransform import HocrParser

    fonts = MultiFontManager(Path(ocrmypdf.__file__).parent / "data")
    out = pikepdf.new()
    with tempfile.TemporaryDirectory(prefix="handwriting-pdf-") as tmp:
        folder = Path(tmp)
        for k, (page, gray) in enumerate(pages):
            image, hocr, single = (folder / f"{k}{ext}" for ext in (".png", ".hocr", ".pdf"))
            cv2.imwrite(str(image), gray)
            hocr.write_bytes(to_hocr(page, image.name))
            Fpdf2PdfRenderer(
                page=HocrParser(hocr).parse(),
                dpi=dpi,
                multi_font_manager=fonts,
                invisible_text=True,
                image=image,
            ).render(single)
            with pikepdf.open(single) as one:
                out.pages.extend(one.pages)
        buf = io.BytesIO()
        out.save(buf)
    return buf.getvalue()
