"""The OCRmyPDF plugin, run as users run it: ``ocrmypdf --plugin handwriting.ocrmypdf`` on a
two-page PDF of generated handwriting (``synth_page``) exits 0 without Tesseract, and
its output is checked by poppler (the words ``handwriting recognize`` reads, page by page,
in order, over their boxes) and by qpdf. Plain ``ocrmypdf`` is left to Tesseract."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from conftest import assert_words_over_boxes, pdf_words

pytest.importorskip("ocrmypdf", reason="needs the [pdf] extra (ocrmypdf)")
pytestmark = pytest.mark.skipif(
    not (shutil.which("pdftotext") and shutil.which("qpdf")),
    reason="needs poppler-utils (pdftotext) and qpdf",
)
DPI = 200  # the generated scans' resolution


def _ocrmypdf(*args, cwd, path=None):
    env = dict(os.environ)
    if path is not None:
        env["PATH"] = path
    return subprocess.run(
        [sys.executable, "-m", "ocrmypdf", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
    )


def _without_tesseract() -> str:
    """PATH with the folders holding a ``tesseract`` program left out (poppler and qpdf,
    which OCRmyPDF does not need, go with them if they share one)."""
    return os.pathsep.join(
        d for d in os.environ["PATH"].split(os.pathsep) if not (Path(d) / "tesseract").exists()
    )


@pytest.fixture(scope="module")
def scanned(tmp_path_factory):
    """A two-page PDF of handwritten pages at 200 dpi (embedded losslessly by img2pdf)."""
    import matplotlib

    img2pdf = pytest.importorskip("img2pdf", reason="needs the [pdf] extra (img2pdf)")
    from handwriting.synth import synth_page

    d = tmp_path_factory.mktemp("ocrmypdf")
    font = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    scans = []
    for seed in (0, 1):
        gray, _ = synth_page("plain", [font], seed=seed)
        Image.fromarray(gray).save(d / f"scan{seed}.png", dpi=(DPI, DPI))
        scans.append(str(d / f"scan{seed}.png"))
    (d / "letter.pdf").write_bytes(img2pdf.convert(scans))
    return d


def test_ocrmypdf_reads_with_the_plugin_and_poppler_reads_it_back(scanned, tmp_path):
    from handwriting.cli import main

    run = _ocrmypdf(
        "--plugin", "handwriting.ocrmypdf", "letter.pdf", tmp_path / "out.pdf",
        cwd=scanned, path=_without_tesseract(),
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    out = tmp_path / "out.pdf"
    assert subprocess.run(["qpdf", "--check", str(out)], capture_output=True).returncode == 0
    assert main(["recognize", str(scanned / "letter.pdf"), "--format", "json",
                 "--out", str(tmp_path / "json")]) == 0  # fmt: skip
    for n in (1, 2):
        page = json.loads((tmp_path / "json" / f"letter-p{n:04d}.json").read_text())
        words = [w for line in page["lines"] for w in line["words"]]
        assert len(words) > 20, n  # eight lines of writing were read
        assert_words_over_boxes(pdf_words(out, n), words, dpi=DPI, page=n)


def test_bad_plugin_options_are_one_line_before_any_page(scanned, tmp_path, model_dir):
    out = tmp_path / "out.pdf"
    plug = ("--plugin", "handwriting.ocrmypdf")
    cases = [
        ((*plug, "--handwriting-model", tmp_path / "nowhere"), "--handwriting-model: "),
        ((*plug, "--pdf-renderer", "sandwich"), "--pdf-renderer sandwich needs a PDF"),
        (("--handwriting-model", model_dir), "--handwriting-model needs --plugin handwriting"),
    ]
    for args, message in cases:
        run = _ocrmypdf(*args, "letter.pdf", out, cwd=scanned)
        assert run.returncode != 0 and message in run.stderr, (args, run.stderr)
        assert "Traceback" not in run.stderr and not out.exists()


def test_plain_ocrmypdf_still_uses_tesseract(scanned, tmp_path):
    """The entry point OCRmyPDF loads on every run adds an option and no engine: without
    ``--plugin`` OCRmyPDF asks for Tesseract as it always does."""
    run = _ocrmypdf("letter.pdf", tmp_path / "out.pdf", cwd=scanned, path=_without_tesseract())
    assert run.returncode != 0 and "tesseract" in run.stderr.lower()
    assert "--handwriting-model" in _ocrmypdf("--help", cwd=scanned).stdout
