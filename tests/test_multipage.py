"""PDF and multi-page TIFF documents read page by page: the pages selected, each page one
result named ``doc.pdf#page=N`` and written as ``doc-pNNNN``, the resolution a PDF page is
rendered at, and the documents that cannot be read (encrypted, truncated, a web page named
.pdf, no page picked, too many pages), each one line while the other inputs are read. The
documents are made here from generated lines and pages."""

import json
import re
import shutil
import subprocess

import cv2
import numpy as np
import pytest
from PIL import Image

from handwriting.cli import main
from handwriting.errors import DataError
from handwriting.multipage import (
    DocumentPage,
    document_pages,
    expand_documents,
    is_document,
    page_stem,
    parse_pages,
)
from handwriting.reading import read
from handwriting.recognize import Recognizer

from conftest import assert_words_over_boxes, pdf_words, render_line, write_page, write_page_xml


@pytest.fixture(scope="module")
def docs(tmp_path_factory):
    """A 3-page PDF (a page, a line, a page; scans of 150 dpi, embedded losslessly by
    img2pdf), the same as a 2-page TIFF (page, line), a page image, and broken documents."""
    img2pdf = pytest.importorskip("img2pdf", reason="needs the [pdf] extra (img2pdf)")
    d = tmp_path_factory.mktemp("docs")
    page = Image.open(write_page(d / "page.png", ["12", "34", "56"])).convert("L")
    line = Image.fromarray(render_line("7890"))
    page.save(d / "page150.png", dpi=(150, 150))
    line.save(d / "line150.png", dpi=(150, 150))
    scans = [d / "page150.png", d / "line150.png", d / "page150.png"]
    (d / "doc.pdf").write_bytes(img2pdf.convert([str(p) for p in scans]))
    page.copy().save(d / "doc.tif", save_all=True, append_images=[line.copy()])
    (d / "web.pdf").write_text("<!DOCTYPE html><html><body>Sign in</body></html>")
    (d / "cut.pdf").write_bytes((d / "doc.pdf").read_bytes()[:500])
    return d


def test_documents_are_told_by_their_bytes(docs):
    assert is_document(docs / "doc.pdf") and is_document(docs / "doc.tif")
    assert not is_document(docs / "page.png") and not is_document(docs / "web.pdf")
    assert page_stem(f"{docs}/doc.pdf#page=3") == "doc-p0003"
    assert page_stem("scan.png") == "scan"


def test_page_ranges():
    assert parse_pages("1-3,5, 8-") == [(1, 3), (5, 5), (8, None)]
    assert parse_pages(None) is None
    for bad in ("0", "3-1", "a", "1--2", ""):
        with pytest.raises(DataError, match="--pages"):
            parse_pages(bad)


def test_pages_selected_and_rendered_at_the_scans_resolution(docs):
    pages = document_pages(docs / "doc.pdf", parse_pages("2-,1,2"))
    assert [p.number for p in pages] == [2, 3, 1]  # in the order asked, each once
    first = DocumentPage(docs / "doc.pdf", 1).load()  # at 150 dpi: the scan's own pixels
    scan = cv2.imread(str(docs / "page.png"), cv2.IMREAD_GRAYSCALE)
    assert first.shape == scan.shape and np.abs(first.astype(int) - scan).max() <= 2
    finer = DocumentPage(docs / "doc.pdf", 1, dpi=300).load()
    assert finer.shape == (2 * scan.shape[0], 2 * scan.shape[1])
    tif = DocumentPage(docs / "doc.tif", 2).load()
    assert tif.dtype == np.uint8 and tif.shape == render_line("7890").shape[:2]
    with pytest.raises(DataError, match="more than 2 at once; choose some with --pages"):
        document_pages(docs / "doc.pdf", max_pages=2)
    assert len(document_pages(docs / "doc.pdf", parse_pages("1-2"), max_pages=2)) == 2


def test_broken_documents_are_one_line_each(docs, tmp_path):
    pikepdf = pytest.importorskip("pikepdf", reason="needs the [interop] extra (pikepdf)")
    with pikepdf.open(docs / "doc.pdf") as pdf:
        pdf.save(tmp_path / "locked.pdf", encryption=pikepdf.Encryption(owner="o", user="u"))
    names = [str(docs / n) for n in ("web.pdf", "cut.pdf", "page.png")] + [
        str(tmp_path / "locked.pdf")
    ]
    kept, failed = expand_documents(names)
    assert kept == names  # failed documents stay, to be reported in their place
    assert "named .pdf but not a PDF (an HTML page" in failed[names[0]]
    assert "not a readable PDF (damaged, truncated" in failed[names[1]]
    assert "encrypted (password protected)" in failed[names[3]]
    assert names[2] not in failed
    assert all("\n" not in m for m in failed.values())


def test_read_gives_one_result_per_page_in_place(model_dir, docs):
    rec = Recognizer(model_dir)
    got = read(rec, [docs / "doc.pdf", docs / "page.png", docs / "doc.tif"], pages="1-2")
    assert [r.source for r in got] == [
        f"{docs / 'doc.pdf'}#page=1",
        f"{docs / 'doc.pdf'}#page=2",
        str(docs / "page.png"),
        f"{docs / 'doc.tif'}#page=1",
        f"{docs / 'doc.tif'}#page=2",
    ]
    assert [r.kind for r in got] == ["page", "line", "page", "page", "line"]
    assert got[0].page.image == docs / "doc.pdf" and len(got[0].page.lines) == 3
    # the same line from the PDF and from the TIFF (not compared by the untrained model's
    # text: pdfium resamples a scan this small by a fraction of a pixel, which moves it)
    pdf_line = DocumentPage(docs / "doc.pdf", 2).load().astype(int)
    tif_line = DocumentPage(docs / "doc.tif", 2).load().astype(int)
    assert pdf_line.shape == tif_line.shape and np.abs(pdf_line - tif_line).mean() < 4
    assert got[1].page.width == got[4].page.width == tif_line.shape[1]


def test_recognize_writes_a_file_per_page_and_goes_on_past_broken_ones(
    model_dir, docs, tmp_path, capsys
):
    out = tmp_path / "out"
    args = [str(docs / "doc.pdf"), str(docs / "web.pdf"), str(docs / "page.png")]
    code = main(
        ["recognize", *args, "--model", str(model_dir), "--format", "json", "--out", str(out)]
    )
    assert code == 1  # the web page named .pdf failed, the rest was read
    err = capsys.readouterr().err
    assert "web.pdf: named .pdf but not a PDF" in err and "1 of 5 inputs failed" in err
    assert sorted(p.name for p in out.iterdir()) == [
        "doc-p0001.json",
        "doc-p0002.json",
        "doc-p0003.json",
        "page.json",
    ]
    item = json.loads((out / "doc-p0002.json").read_text())
    assert item["source"].endswith("doc.pdf#page=2") and item["kind"] == "line"
    assert (
        main(["recognize", str(docs / "doc.pdf"), "--pages", "7-", "--model", str(model_dir)]) == 1
    )
    assert "has 3 page(s); --pages picks none of them" in capsys.readouterr().err
    assert main(["recognize", str(docs / "doc.pdf"), "--pages", "2-1"]) == 2
    assert main(["recognize", str(docs / "doc.pdf"), "--dpi", "5"]) == 2
    assert "--dpi 5: give a resolution from 10 to 1200" in capsys.readouterr().err


@pytest.mark.skipif(
    not (shutil.which("pdftotext") and shutil.which("qpdf")),
    reason="needs poppler-utils (pdftotext) and qpdf",
)
def test_searchable_pdf_read_back_by_pdftotext_and_checked_by_qpdf(model_dir, docs, tmp_path):
    """--format pdf: one PDF per input (a document's pages in one, at its scan's size);
    pdftotext reads back the recognized words page by page, each over its word box, and
    qpdf finds no error."""
    pytest.importorskip("ocrmypdf", reason="needs the [pdf] extra")
    inputs = [str(docs / "doc.pdf"), str(docs / "page.png")]
    base = ["--model", str(model_dir), "--out"]
    assert main(["recognize", *inputs, "--format", "json", *base, str(tmp_path / "j")]) == 0
    assert main(["recognize", *inputs, "--format", "pdf", *base, str(tmp_path / "p")]) == 0
    assert sorted(p.name for p in (tmp_path / "p").iterdir()) == ["doc.pdf", "page.pdf"]
    assert main(["recognize", inputs[1], "--format", "pdf", "--model", str(model_dir)]) == 2
    pdf = tmp_path / "p" / "doc.pdf"
    assert subprocess.run(["qpdf", "--check", str(pdf)], capture_output=True).returncode == 0
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True).stdout
    assert re.search(r"Pages:\s+3\b", info)
    for n in (1, 2, 3):
        item = json.loads((tmp_path / "j" / f"doc-p{n:04d}.json").read_text())
        words = [w for ln in item["lines"] for w in ln["words"]]
        # the document was scanned at 150 dpi
        assert_words_over_boxes(pdf_words(pdf, n), words, dpi=150, page=n)


def test_evaluate_pages_scores_a_pdf_page_as_its_scan(model_dir, docs, tmp_path):
    """Ground truth naming ``doc.pdf#page=1`` (as ``recognize`` names the page in the files
    it writes) is scored on that page, rendered: the same figures as for the scan itself."""
    from handwriting.pages import evaluate_pages, recognize_page

    rec = Recognizer(model_dir)
    truth = recognize_page(rec, docs / "page.png")  # its lines' geometry, with the true text
    assert len(truth.lines) == 3
    for line, text in zip(truth.lines, ["12", "34", "56"]):
        line.text = text
    shutil.copy(docs / "doc.pdf", tmp_path / "doc.pdf")
    shutil.copy(docs / "page.png", tmp_path / "page.png")
    write_page_xml(truth, tmp_path / "doc-p0001.xml", "doc.pdf#page=1")
    write_page_xml(truth, tmp_path / "page.xml", "page.png")
    write_page_xml(truth, tmp_path / "doc-p0009.xml", "doc.pdf#page=9")
    got = evaluate_pages(rec, [tmp_path])
    rows = {r["path"].rsplit("/", 1)[-1]: r for r in got["pages"]}
    assert sorted(rows) == ["doc-p0001.xml", "page.xml"]
    assert rows["doc-p0001.xml"]["recall"] == 100.0
    same = ("gt_lines", "pred_lines", "matched", "chars", "errors")
    assert [rows["doc-p0001.xml"][k] for k in same] == [rows["page.xml"][k] for k in same]
    [problem] = got["problems"]
    assert problem.startswith(f"{tmp_path / 'doc-p0009.xml'}: ") and "has no page 9" in problem


@pytest.mark.skipif(not shutil.which("pdfimages"), reason="needs poppler-utils (pdfimages)")
def test_searchable_pdf_keeps_a_colour_jpeg_as_it_is(model_dir, docs, tmp_path):
    """An RGB JPEG scan goes into the PDF unchanged (its JPEG bytes, its colours), at the
    resolution it records, with the words over their boxes; a JPEG that EXIF turns upright
    is embedded as read, turned."""
    pytest.importorskip("ocrmypdf", reason="needs the [pdf] extra")
    gray = Image.open(docs / "page.png").convert("L")
    colour = Image.merge(
        "RGB", (gray, gray.point(lambda v: v * 0.9), gray.point(lambda v: v * 0.7))
    )
    colour.save(tmp_path / "scan.jpg", quality=90, dpi=(200, 200))
    out = tmp_path / "out"
    base = ["--model", str(model_dir), "--out"]
    assert main(["recognize", str(tmp_path / "scan.jpg"), "--format", "json", *base, str(out)]) == 0
    assert main(["recognize", str(tmp_path / "scan.jpg"), "--format", "pdf", *base, str(out)]) == 0
    listing = subprocess.run(
        ["pdfimages", "-list", str(out / "scan.pdf")], capture_output=True, text=True, check=True
    ).stdout.splitlines()[2:]
    (row,) = listing
    cols = row.split()
    assert cols[3:6] == [str(colour.width), str(colour.height), "rgb"] and cols[8] == "jpeg"
    assert cols[12:14] == ["200", "200"]  # the resolution the scan records
    raw = subprocess.run(
        ["pdfimages", "-j", str(out / "scan.pdf"), str(tmp_path / "img")], check=True
    )
    assert raw.returncode == 0
    assert (tmp_path / "img-000.jpg").read_bytes() == (tmp_path / "scan.jpg").read_bytes()
    item = json.loads((out / "scan.json").read_text())
    words = [w for ln in item["lines"] for w in ln["words"]]
    assert_words_over_boxes(pdf_words(out / "scan.pdf", 1), words, dpi=200)
    turned = colour.rotate(90, expand=True)
    exif = Image.Exif()
    exif[0x0112] = 6  # stored turned: viewers rotate it 90 degrees clockwise
    turned.save(tmp_path / "turned.jpg", exif=exif, quality=90)
    assert (
        main(["recognize", str(tmp_path / "turned.jpg"), "--format", "pdf", *base, str(out)]) == 0
    )
    (row,) = subprocess.run(
        ["pdfimages", "-list", str(out / "turned.pdf")], capture_output=True, text=True, check=True
    ).stdout.splitlines()[2:]
    assert row.split()[3:6] == [str(colour.width), str(colour.height), "gray"]  # turned, as read
