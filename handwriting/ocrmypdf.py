"""An OCRmyPDF plugin that reads handwriting: ``ocrmypdf --plugin handwriting.ocrmypdf in.pdf
out.pdf`` makes ``out.pdf`` searchable with this recognizer in place of Tesseract.

OCRmyPDF renders each page, and :class:`HandwritingEngine` reads it as ``handwriting
recognize`` reads a page (segmentation, the default model or ``--handwriting-model``) and
hands back hOCR, from which OCRmyPDF draws the invisible text layer. Orientation and skew
are not measured, so ``--rotate-pages`` and ``--deskew`` do nothing. Tesseract is neither
used nor needed.

The package also declares an ``ocrmypdf`` entry point, :data:`options`, which OCRmyPDF
loads on every run: it only adds the ``--handwriting-model`` option, so that plain ``ocrmypdf``
keeps Tesseract and the engine is chosen with ``--plugin``.
"""

from __future__ import annotations

import logging
from functools import cache
from pathlib import Path

from ocrmypdf import hookimpl
from ocrmypdf.builtin_plugins import tesseract_ocr
from ocrmypdf.exceptions import BadArgsError
from ocrmypdf.pluginspec import OcrEngine, OrientationConfidence

from . import __version__

log = logging.getLogger(__name__)


@cache
def _recognizer(model: str | None):
    """The recognizer of ``model`` (default: the shipped one), loaded once per worker."""
    from .recognize import Recognizer

    return Recognizer(model)


def _model(options) -> str | None:
    return getattr(options, "handwriting_model", None)


class HandwritingEngine(OcrEngine):
    """Reads each page OCRmyPDF renders as a handwritten page and returns it as hOCR."""

    @staticmethod
    def version() -> str:
        return __version__

    @staticmethod
    def creator_tag(options) -> str:
        return f"handwriting {__version__}"

    def __str__(self) -> str:
        return f"handwriting {__version__}"

    @staticmethod
    def languages(options) -> set[str]:
        """No language list: the model reads its own character set whatever ``-l`` says."""
        return set()

    @staticmethod
    def get_orientation(input_file: Path, options) -> OrientationConfidence:
        return OrientationConfidence(angle=0, confidence=0.0)

    @staticmethod
    def get_deskew(input_file: Path, options) -> float:
        return 0.0

    @staticmethod
    def generate_hocr(input_file: Path, output_hocr: Path, output_text: Path, options) -> None:
        """Read the page image ``input_file``; write its hOCR and its text (one line of text
        per line)."""
        from .formats.hocr import to_hocr
        from .pages import recognize_page

        page = recognize_page(_recognizer(_model(options)), input_file)
        Path(output_hocr).write_bytes(to_hocr(page, Path(input_file).name))
        Path(output_text).write_text(
            "\n".join(line.text or "" for line in page.lines) + "\n", encoding="utf-8"
        )

    @staticmethod
    def generate_pdf(input_file: Path, output_pdf: Path, output_text: Path, options) -> None:
        raise NotImplementedError("handwriting makes hOCR: use OCRmyPDF's default --pdf-renderer")


class _TesseractOptions:
    """What stays of OCRmyPDF's Tesseract plugin: its options (OCRmyPDF's own checks read
    them, and scripts may pass them), without its demand for the ``tesseract`` program."""

    register_options = staticmethod(tesseract_ocr.register_options)
    add_options = staticmethod(tesseract_ocr.add_options)


@hookimpl
def initialize(plugin_manager) -> None:
    """Swap OCRmyPDF's Tesseract plugin for :class:`_TesseractOptions`, so that Tesseract
    need not be installed."""
    if plugin_manager.is_registered(tesseract_ocr):
        plugin_manager.unregister(tesseract_ocr)
        plugin_manager.register(_TesseractOptions, name="handwriting-tesseract-options")


@hookimpl
def check_options(options) -> None:
    """Refuse what this engine cannot do, before any page is read: the sandwich renderer,
    and a ``--handwriting-model`` that is not there (it is loaded in the workers, not here:
    OCRmyPDF forks them from this process)."""
    if getattr(options, "pdf_renderer", "auto") == "sandwich":
        raise BadArgsError(
            "--pdf-renderer sandwich needs a PDF from the OCR engine; handwriting makes "
            "hOCR: leave --pdf-renderer at auto (fpdf2)"
        )
    from .errors import HandwritingError
    from .recognize import model_source

    try:
        model_source(_model(options))
    except HandwritingError as exc:
        raise BadArgsError(f"--handwriting-model: {exc}") from None


@hookimpl
def get_ocr_engine(options):
    return HandwritingEngine()


class options:
    """The ``ocrmypdf`` entry point: adds ``--handwriting-model`` to every OCRmyPDF run and
    nothing else (the engine is chosen with ``--plugin handwriting.ocrmypdf``)."""

    @staticmethod
    @hookimpl
    def add_options(parser) -> None:
        group = parser.add_argument_group(
            "handwriting", "With --plugin handwriting.ocrmypdf (the handwriting recognizer)"
        )
        group.add_argument(
            "--handwriting-model",
            metavar="DIR",
            help="model directory or .tflite to read with (default: the shipped model)",
        )

    @staticmethod
    @hookimpl
    def check_options(options) -> None:
        if _model(options) and __name__ not in (options.plugins or []):
            raise BadArgsError(f"--handwriting-model needs --plugin {__name__}")
