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


def embeddable(path: Path, size: tuple[int, int]) -> bool:
    """Whether the image file ``path`` can go into a PDF as it is, in place of the page read
    from it: a JPEG (grayscale or RGB) or an 8-bit PNG without transparency, upright (no
    EXIF turn to undo) and ``size`` (width, height) pixels. Such a page keeps its colours,
    and a JPEG its compressed bytes."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            if im.size != tuple(size) or im.getexif().get(0x0112, 1) != 1:
                return False
            if im.format == "JPEG":
                return im.mode in ("L", "RGB")
            return im.format == "PNG" and im.mode in ("L", "RGB") and "transparency" not in im.info
    except (OSError, ValueError, SyntaxError):
        return False


def image_dpi(path: Path) -> float | None:
    """The resolution an image file records (10 to 1200 dpi), else None."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            dpi = im.info.get("dpi")
    except (OSError, ValueError, SyntaxError):
        return None
    value = float(dpi[0]) if dpi else 0.0
    return value if 10 <= value <= 1200 else None


def to_pdf(pages: list[tuple[Page, np.ndarray | Path]], dpi: float = 300) -> bytes:
    """A searchable PDF of ``pages``: (page read, its image) pairs, one PDF page each, sized
    by ``dpi`` (an image of W pixels is W / dpi inches wide). The image is the grayscale
    page, or the file it was read from when :func:`embeddable` (embedded as it is).
    Selecting, copying and searching the text work in ordinary viewers; the words lie over
    their boxes."""
    import ocrmypdf
    import pikepdf
    from ocrmypdf.font import MultiFontManager
    from ocrmypdf.fpdf_renderer import Fpdf2PdfRenderer
    from ocrmypdf.hocrtransform import HocrParser

    fonts = MultiFontManager(Path(ocrmypdf.__file__).parent / "data")
    out = pikepdf.new()
    with tempfile.TemporaryDirectory(prefix="handwriting-pdf-") as tmp:
        folder = Path(tmp)
        for k, (page, picture) in enumerate(pages):
            image, hocr, single = (folder / f"{k}{ext}" for ext in (".png", ".hocr", ".pdf"))
            if isinstance(picture, np.ndarray):
                cv2.imwrite(str(image), picture)
            else:
                image = Path(picture)
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
