"""Documents of several pages, PDF and multi-page TIFF, as page images: which files are
documents, how many pages they hold, which pages a ``--pages`` range selects, and each page
rendered (PDF, with pypdfium2) or decoded (TIFF, with Pillow) as 8-bit grayscale, one at a
time so that memory stays bounded on long documents.

A PDF page is rendered at the resolution of the scan it holds (the largest embedded image's,
from its pixel size and its size on the page), else at :data:`DEFAULT_DPI`; ``dpi``
overrides both, and a page that would exceed the pixel limit is rendered smaller, with a
warning. Pages are named ``doc.pdf#page=3`` (the PDF fragment convention) and written as
``doc-p0003.*``.
"""

from __future__ import annotations

import logging
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import DataError, ImageError
from .images import MAX_PIXELS, TIFF_MAGIC, check_regular_file, tiff_frames, to_gray

log = logging.getLogger(__name__)

DEFAULT_DPI = 300  # a PDF page without an embedded scan
MAX_DPI = 600  # an embedded scan finer than this is rendered at this
MAX_PAGES = 500  # a longer document is refused unless --pages picks from it
_PAGE = re.compile(r"^(?P<path>.+)#page=(?P<number>[1-9][0-9]*)$")


@dataclass(frozen=True)
class DocumentPage:
    """One page of a document: the file, the page number (from 1) and the resolution to
    render a PDF page at (None: the embedded scan's, else :data:`DEFAULT_DPI`)."""

    path: Path
    number: int
    dpi: float | None = None

    @property
    def name(self) -> str:
        """``doc.pdf#page=3``: how the page is named in messages and results."""
        return f"{self.path}#page={self.number}"

    @property
    def stem(self) -> str:
        """``doc-p0003``: the stem of the files written for the page."""
        return f"{self.path.stem}-p{self.number:04d}"

    def render_dpi(self) -> float:
        """The resolution the page is rendered at (a TIFF page: 300, its pixels as they
        are)."""
        if self.dpi is not None or _kind(self.path) != "pdf":
            return self.dpi or DEFAULT_DPI
        with _open_pdf(self.path) as pdf:
            page = pdf[self.number - 1]
            try:
                return _page_dpi(page, None)
            finally:
                page.close()

    def load(self) -> np.ndarray:
        """The page as 8-bit grayscale."""
        if _kind(self.path) == "pdf":
            return _render_pdf_page(self.path, self.number, self.dpi)
        return _tiff_page(self.path, self.number)


def page_stem(name: str) -> str:
    """The output stem for an input name: ``doc-p0003`` for ``doc.pdf#page=3``, else the
    file's own stem."""
    doc = page_of(name)
    return doc.stem if doc else Path(name).stem


def document_of(name: str) -> str:
    """The file an input name reads from: ``doc.pdf`` for ``doc.pdf#page=3``, else the name."""
    doc = page_of(name)
    return str(doc.path) if doc else name


def is_document(path: str | Path) -> bool:
    """Whether ``path`` is a PDF (by its first bytes) or a TIFF holding several pages."""
    kind = _kind(Path(path))
    if kind != "tiff":
        return kind == "pdf"
    try:
        return _tiff_count(Path(path)) > 1
    except DataError:  # a damaged TIFF: the image reader reports it, as for any image
        return False


def parse_pages(spec: str | None) -> list[tuple[int, int | None]] | None:
    """``"1-5,8,10-"`` -> ``[(1, 5), (8, 8), (10, None)]`` (page numbers from 1, ends
    included, an open end runs to the last page); None for None. Raises :class:`DataError`
    for anything else."""
    if spec is None:
        return None
    out = []
    for part in spec.replace(" ", "").split(","):
        m = re.fullmatch(r"([1-9][0-9]*)(?:(-)([1-9][0-9]*)?)?", part)
        if not m:
            raise DataError(
                f"--pages {spec}: not a page range; give numbers from 1 and ranges, e.g. 1-5,8,10-"
            )
        first = int(m[1])
        last = first if not m[2] else (int(m[3]) if m[3] else None)
        if last is not None and last < first:
            raise DataError(f"--pages {spec}: {part} runs backwards")
        out.append((first, last))
    return out


def document_pages(
    path: str | Path,
    pages: list[tuple[int, int | None]] | None = None,
    dpi: float | None = None,
    max_pages: int = MAX_PAGES,
) -> list[DocumentPage]:
    """The pages of a PDF or multi-page TIFF that ``pages`` (from :func:`parse_pages`;
    None: all) selects, in order, without rendering them.

    Raises:
        DataError: the file cannot be opened as a document (encrypted, damaged, not really
            a PDF), has no pages, none of the pages asked for, or more than ``max_pages``
            pages and no ``pages`` range.
    """
    path = Path(path)
    count = page_count(path)
    if count == 0:
        raise DataError(f"{path}: the document has no pages")
    if pages is None and count > max_pages:
        raise DataError(
            f"{path}: {count} pages, more than {max_pages} at once; "
            "choose some with --pages (e.g. --pages 1-100)"
        )
    wanted = []
    for first, last in pages or [(1, None)]:
        wanted += range(first, min(count, last if last is not None else count) + 1)
    if not wanted:
        raise DataError(f"{path}: has {count} page(s); --pages picks none of them")
    seen: set[int] = set()
    return [DocumentPage(path, n, dpi) for n in wanted if not (n in seen or seen.add(n))]


def page_count(path: Path) -> int:
    """How many pages a PDF or TIFF holds, with a one-line :class:`DataError` for a file that
    cannot be opened."""
    kind = _kind(path)
    if kind == "tiff":
        return _tiff_count(path)
    if kind != "pdf":
        raise DataError(f"{path}: not a PDF or TIFF document")
    with _open_pdf(path) as pdf:
        return len(pdf)


def _kind(path: Path) -> str | None:
    """``"pdf"``, ``"tiff"`` or None, from the file's first bytes (not its name)."""
    try:
        check_regular_file(path)
        with open(path, "rb") as f:
            head = f.read(1024)
    except (OSError, ImageError):
        return None
    if head[:4] in TIFF_MAGIC:
        return "tiff"
    return "pdf" if b"%PDF-" in head else None  # a header may follow a few junk bytes


class _open_pdf:
    """A pypdfium2 document, opened with one-line errors and closed on exit."""

    def __init__(self, path: Path):
        import pypdfium2 as pdfium

        self.path = path
        try:
            self.pdf = pdfium.PdfDocument(str(path))
        except pdfium.PdfiumError as exc:
            text = str(exc).lower()
            if "password" in text:
                raise DataError(
                    f"{path}: the PDF is encrypted (password protected); "
                    "remove the protection first (e.g. `qpdf --decrypt`)"
                ) from None
            raise DataError(
                f"{path}: not a readable PDF (damaged, truncated or not a PDF: {exc})"
            ) from None

    def __enter__(self):
        return self.pdf

    def __exit__(self, *exc):
        self.pdf.close()


def _scan_dpi(page) -> float | None:
    """The resolution of the largest image drawn on a PDF page (pixels over its size on
    the page), or None if it holds none."""
    import pypdfium2.raw as pdfium_c

    best, dpi = 0, None
    for obj in page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE], max_depth=2):
        try:
            w, h = obj.get_px_size()
            left, bottom, right, top = obj.get_bounds()
        except Exception:  # noqa: BLE001 - an image pdfium cannot measure is passed over
            continue
        if w * h > best and right > left and top > bottom:
            best, dpi = w * h, max(w / ((right - left) / 72), h / ((top - bottom) / 72))
    return dpi


def _page_dpi(page, dpi: float | None) -> float:
    """``dpi``, else the resolution of the scan a PDF page holds (at most :data:`MAX_DPI`),
    else :data:`DEFAULT_DPI`."""
    return dpi if dpi is not None else min(MAX_DPI, _scan_dpi(page) or DEFAULT_DPI)


def _render_pdf_page(path: Path, number: int, dpi: float | None) -> np.ndarray:
    """Page ``number`` of a PDF as grayscale at ``dpi`` (else its scan's, else 300), made
    smaller if it would be over the pixel limit."""
    with _open_pdf(path) as pdf:
        if not 1 <= number <= len(pdf):
            raise DataError(f"{path}: has no page {number}")
        page = pdf[number - 1]
        try:
            dpi = _page_dpi(page, dpi)
            w_pt, h_pt = page.get_size()
            pixels = (w_pt * dpi / 72) * (h_pt * dpi / 72)
            if pixels > MAX_PIXELS:
                smaller = dpi * (MAX_PIXELS / pixels) ** 0.5
                log.warning(
                    "%s#page=%d: %.0f megapixels at %.0f dpi, over the limit of %d; "
                    "rendered at %.0f dpi",
                    path,
                    number,
                    pixels / 1e6,
                    dpi,
                    MAX_PIXELS // 10**6,
                    smaller,
                )
                dpi = smaller
            # the scale that makes the page round(size * dpi) pixels wide and high: pdfium
            # rounds the bitmap's size up, and a scan's resolution read back through points
            # carries float noise (150.000004 dpi would render a 900 px scan 901 px wide)
            scale = min((max(1, round(v * dpi / 72)) - 1e-6) / v for v in (w_pt, h_pt))
            bitmap = page.render(scale=scale, grayscale=True)
            image = bitmap.to_numpy()
        finally:
            page.close()
    return to_gray(np.array(image))


def _tiff_count(path: Path) -> int:
    """Full-resolution pages in a TIFF (reduced-resolution previews are not pages)."""
    return len(_tiff_frames(path))


def _tiff_frames(path: Path) -> list[int]:
    """:func:`~handwriting.images.tiff_frames` of the file, with a one-line error."""
    from PIL import Image

    try:
        with open(path, "rb") as f:
            return tiff_frames(f)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise DataError(f"{path}: not a readable TIFF ({exc})") from None


def _tiff_page(path: Path, number: int) -> np.ndarray:
    """Page ``number`` of a TIFF as grayscale."""
    from PIL import Image

    frames = _tiff_frames(path)
    if not 1 <= number <= len(frames):
        raise DataError(f"{path}: has no page {number}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as im:
                im.seek(frames[number - 1])
                if im.width * im.height > MAX_PIXELS:
                    raise ImageError(
                        f"{path}#page={number}: too large ({im.width} x {im.height} px; the "
                        f"limit is {MAX_PIXELS // 10**6} megapixels); scale it down first"
                    )
                if im.mode not in ("L", "RGB", "RGBA", "I;16", "I;16B", "I;16L"):
                    im = im.convert("L" if im.mode == "1" else "RGB")
                return to_gray(np.array(im))
    except (OSError, ValueError, SyntaxError) as exc:
        raise DataError(f"{path}#page={number}: cannot decode it ({exc})") from None


def expand_documents(
    names: list[str], pages: str | None = None, dpi: float | None = None
) -> tuple[list[str], dict[str, str]]:
    """The input names with every document (PDF, multi-page TIFF) replaced by the names
    of its selected pages (``doc.pdf#page=1`` ...), and the documents that cannot be read,
    with their one-line error (reported as failed inputs; the others are still read).
    ``pages``: a ``--pages`` range applied to every document."""
    ranges = parse_pages(pages)
    out, failed = [], {}
    for name in names:
        if not is_document(name):
            out.append(name)
            if name.lower().endswith(".pdf") and Path(name).is_file() and _kind(Path(name)) is None:
                failed[name] = f"{name}: named .pdf but not a PDF ({_looks_like(Path(name))})"
            continue
        try:
            out += [p.name for p in document_pages(name, ranges, dpi)]
        except DataError as exc:
            failed[name] = str(exc)
            out.append(name)
    return out, failed


def _looks_like(path: Path) -> str:
    """What a file that is not a PDF seems to be, from its first bytes."""
    try:
        with open(path, "rb") as f:
            head = f.read(512).lstrip().lower()
    except OSError:
        return "unreadable"
    if head.startswith((b"<!doctype html", b"<html")) or b"<html" in head:
        return "an HTML page: a download that returned a web page?"
    if not head:
        return "empty"
    return "its first bytes are not %PDF-"


def page_of(name: str, dpi: float | None = None) -> DocumentPage | None:
    """The document page a name such as ``doc.pdf#page=3`` stands for, or None (a file
    that really has such a name is itself)."""
    m = _PAGE.match(name)
    if not m or Path(name).exists():
        return None
    return DocumentPage(Path(m["path"]), int(m["number"]), dpi)
