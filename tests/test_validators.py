"""Page output checked by the validators other tools use: OCR-D's PAGE validator (strict
text consistency, coordinates, baselines), the official ALTO 4.2 and PAGE 2019 XSDs,
``hocr-spec`` and ``hocr-check``, and a searchable PDF made by OCRmyPDF's hOCR renderer read
back with poppler's ``pdftotext``. The pages are the sample page and pages the tests draw
(ruled, two columns, turned by 4 degrees), read with the default model."""

import shutil
import subprocess
from pathlib import Path

import cv2
import pytest
from lxml import etree
from test_segment import draw_page, rotate

from handwriting.pages import recognize_page, save_page

ROOT = Path(__file__).resolve().parent.parent
SCHEMAS = Path(__file__).resolve().parent / "schemas"


def drawn_pages():
    ruled, _, _ = draw_page(lines=9, rules=True, number="- 7 -", stamp=True, seed=3)
    columns, _, _ = draw_page(columns=2, lines=7, rules=False, seed=4)
    turned, _ = rotate(draw_page(lines=8, rules=False, seed=5)[0], [], 4.0)
    return {"ruled": ruled, "columns": columns, "turned": turned}


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    """Each page read with the default model and written as PAGE, ALTO and hOCR."""
    # imported here, not at collection: ocrd_utils raises Pillow's pixel limit when imported
    pytest.importorskip("ocrd_validators", reason="needs the [interop] extra (ocrd)")
    from handwriting.recognize import Recognizer

    rec = Recognizer()
    folder = tmp_path_factory.mktemp("pages")
    images = {"page1": ROOT / "data" / "samples" / "page1.png"}
    for name, page in drawn_pages().items():
        images[name] = folder / f"{name}.png"
        cv2.imwrite(str(images[name]), page)
    out = {}
    for name, image in images.items():
        page = recognize_page(rec, image)
        assert len(page.lines) >= 3, name
        out[name] = {
            "doc": page,
            "image": image,
            **{
                fmt: save_page(page, folder / f"{name}-{fmt}.{ext}", fmt)
                for fmt, ext in (("page", "xml"), ("alto", "xml"), ("hocr", "hocr"))
            },
        }
    return out


def schema(name: str) -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(SCHEMAS / name)))


def test_page_passes_ocrd_validator_strictly(outputs):
    from ocrd_validators import PageValidator

    for name, files in outputs.items():
        report = PageValidator.validate(
            filename=str(files["page"]),
            page_textequiv_consistency="strict",
            check_baseline=True,
            check_coords=True,
        )
        assert report.is_valid, (name, report.errors[:3])
        assert not report.errors and not report.warnings, name


def test_alto_and_page_are_valid_against_the_official_schemas(outputs):
    alto, page = schema("alto-4-2.xsd"), schema("pagecontent-2019-07-15.xsd")
    for name, files in outputs.items():
        for xsd, path in ((alto, files["alto"]), (page, files["page"])):
            doc = etree.parse(str(path))
            assert xsd.validate(doc), (name, path.name, str(xsd.error_log)[:300])


def test_the_schemas_do_reject_what_is_wrong(outputs):
    """The checks above can fail: a word without its required Coords, an ALTO string
    without CONTENT."""
    doc = etree.parse(str(outputs["page1"]["page"]))
    ns = {"pc": doc.getroot().nsmap[None]}
    coords = doc.find(".//pc:Word/pc:Coords", ns)
    coords.getparent().remove(coords)
    assert not schema("pagecontent-2019-07-15.xsd").validate(doc)
    doc = etree.parse(str(outputs["page1"]["alto"]))
    string = doc.find(".//{*}String")
    del string.attrib["CONTENT"]
    assert not schema("alto-4-2.xsd").validate(doc)


def test_hocr_passes_hocr_spec_and_hocr_check(outputs):
    for name, files in outputs.items():
        spec = subprocess.run(
            ["hocr-spec", str(files["hocr"])], capture_output=True, text=True, check=False
        )
        assert spec.returncode == 0 and "[OK]" in spec.stdout, (name, spec.stdout)
        assert "[WARN]" not in spec.stdout and "[ERROR]" not in spec.stdout, spec.stdout
        check = subprocess.run(  # it reports on stderr, and exits 0 either way
            ["hocr-check", str(files["hocr"])], capture_output=True, text=True, check=False
        ).stderr
        assert "mostly_nonoverlapping/line" in check and "not ok" not in check, (name, check)


def test_geometry_holds_by_construction(outputs):
    """What the validators look at, checked with Shapely too: simple polygons holding their
    baselines and words; neighbouring words at least two pixels apart."""
    from shapely.geometry import LineString, Polygon, box

    for name, files in outputs.items():
        for line in files["doc"].lines:
            poly = Polygon(line.polygon)
            assert poly.is_valid, (name, line.id)
            assert poly.buffer(1.0).contains(LineString(line.baseline)), (name, line.id)
            words = line.words or []
            for w in words:
                assert poly.buffer(1.0).contains(box(*w.box)), (name, line.id, w)
            for a, b in zip(words, words[1:]):
                assert b.box[0] - a.box[2] >= 2, (name, line.id, a, b)


@pytest.mark.skipif(not shutil.which("pdftotext"), reason="needs poppler-utils (pdftotext)")
def test_searchable_pdf_keeps_every_word_break(outputs, tmp_path):
    """The searchable PDF (``recognize --format pdf``: OCRmyPDF's hOCR renderer draws the
    text layer from our hOCR); pdftotext reads back the same words (none run together) in
    reading order (``-raw``: the order the text layer has). The turned page is left out:
    pdftotext runs rotated text together and splits it at other places whatever the boxes
    (its ``-bbox`` output shows "ma" "ny" for a word drawn whole)."""
    from handwriting.formats.pdf import to_pdf

    for name, files in outputs.items():
        if name == "turned":
            continue
        pdf = tmp_path / f"{name}.pdf"
        gray = cv2.imread(str(files["image"]), cv2.IMREAD_GRAYSCALE)
        pdf.write_bytes(to_pdf([(files["doc"], gray)]))
        text = subprocess.run(
            ["pdftotext", "-raw", str(pdf), "-"], capture_output=True, text=True, check=True
        ).stdout
        want = [w for line in files["doc"].lines for w in (line.text or "").split()]
        assert text.split() == want, name
