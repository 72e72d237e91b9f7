"""Ground-truth readers/writers: .gt.txt folders, ALTO, PAGE XML, line crops."""

from pathlib import Path

import cv2
import numpy as np
import pytest

from handwriting.document import Page, TextLine
from handwriting.errors import DataError, HandwritingError
from handwriting.formats import read_alto, read_layout, read_page_xml, to_json
from handwriting.groundtruth import load_line_image, scan_line_dirs
from handwriting.preprocessing import crop_line

from conftest import write_alto, write_hocr, write_page_xml

SHARED = Path(__file__).resolve().parents[2] / "shared"


def _png(path: Path, shape=(20, 60), value=200) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full(shape, value, np.uint8))
    return path


def _text(path: Path, text) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


ALTO_V4 = """<?xml version="1.0" encoding="UTF-8"?>
<alto xmlns="http://www.loc.gov/standards/alto/ns-v4#">
  <Description><MeasurementUnit>pixel</MeasurementUnit>
    <sourceImageInformation><fileName>page.png</fileName></sourceImageInformation>
  </Description>
  <Layout><Page ID="p" PHYSICAL_IMG_NR="1" WIDTH="300" HEIGHT="200"><PrintSpace>
    <TextBlock ID="b1">
      <TextLine ID="line_a" BASELINE="10,40 110,42" HPOS="10" VPOS="20" WIDTH="100" HEIGHT="30">
        <Shape><Polygon POINTS="10,20 110,20 110,50 10,50"/></Shape>
        <String CONTENT="Cafe&#769;" WC="0.5"/><SP/><String CONTENT="noir" WC="0.7"/>
      </TextLine>
      <TextLine ID="line_b" BASELINE="10 90 110 92" HPOS="10" VPOS="60" WIDTH="100" HEIGHT="40">
        <Shape><Polygon POINTS="10 60 110 60 110 100 10 100"/></Shape>
        <String CONTENT="  deux   mots "/>
      </TextLine>
    </TextBlock>
  </PrintSpace></Page></Layout>
</alto>
"""

ALTO_V2 = """<?xml version="1.0" encoding="UTF-8"?>
<alto xmlns="http://www.loc.gov/standards/alto/ns-v2#">
  <Description><MeasurementUnit>pixel</MeasurementUnit></Description>
  <Layout><Page ID="p" WIDTH="100" HEIGHT="80"><PrintSpace><TextBlock ID="b">
    <TextLine ID="t1" HPOS="5" VPOS="6" WIDTH="50" HEIGHT="20" BASELINE="22">
      <String CONTENT="old"/><SP/><String CONTENT="style"/><HYP CONTENT="-"/>
    </TextLine>
  </TextBlock></PrintSpace></Page></Layout>
</alto>
"""

PAGE_2013 = """<?xml version="1.0" encoding="UTF-8"?>
<PcGts xmlns="http://schema.primaresearch.org/PAGE/gts/pagecontent/2013-07-15">
  <Metadata><Creator>test</Creator><Created>2020-01-01T00:00:00</Created>
    <LastChange>2020-01-01T00:00:00</LastChange></Metadata>
  <Page imageFilename="scan.jpg" imageWidth="400" imageHeight="300">
    <TextRegion id="r1">
      <Coords points="0,0 400,0 400,300 0,300"/>
      <TextLine id="r1l1">
        <Coords points="10,10 200,10 200,40 10,40"/>
        <Baseline points="10,35 200,35"/>
        <Word id="w1"><Coords points="10,10 50,10 50,40 10,40"/>
          <TextEquiv><Unicode>WORDTEXT</Unicode></TextEquiv></Word>
        <TextEquiv index="1"><Unicode>second choice</Unicode></TextEquiv>
        <TextEquiv index="0" conf="0.9"><Unicode>first  line</Unicode></TextEquiv>
      </TextLine>
      <TextRegion id="r1a">
        <Coords points="0,100 400,100 400,200 0,200"/>
        <TextLine id="r1al1">
          <Coords points="10,110 200,110 200,150 10,150"/>
          <TextEquiv><Unicode>nested line</Unicode></TextEquiv>
        </TextLine>
      </TextRegion>
      <TextLine id="r1l2">
        <Coords points="10,210 200,210 200,250 10,250"/>
        <TextEquiv><Unicode/></TextEquiv>
      </TextLine>
      <TextEquiv><Unicode>first line&#13;
nested line</Unicode></TextEquiv>
    </TextRegion>
  </Page>
</PcGts>
"""


# ---------------------------------------------------------------- scan_line_dirs


def test_scan_line_dirs_pairs_and_problems(tmp_path):
    root = tmp_path / "gt"
    _png(root / "a.png")
    _text(root / "a.gt.txt", "  Hello\n world ")
    _png(root / "sub" / "deep" / "b.jpg")
    _text(root / "sub" / "deep" / "b.gt.txt", "Cafe\u0301")
    _png(root / "sub" / "nolabel.png")
    _text(root / "sub" / "orphan.gt.txt", "no image")
    _png(root / "empty.png")
    _text(root / "empty.gt.txt", "  \n")
    _png(root / "bad.png")
    _text(root / "bad.gt.txt", b"bad \xff\xfe")
    _text(root / "notes.xml", "<config><x/></config>")  # other XML: ignored
    _text(root / "readme.txt", "not a label")

    records, problems = scan_line_dirs([root, tmp_path / "missing"])

    assert [r.id for r in records] == ["a", "b"]
    assert records[0].text == "Hello world" and records[0].image == root / "a.png"
    assert records[1].text == "Caf\u00e9" and records[1].image.suffix == ".jpg"
    messages = {p.path.name: p.message for p in problems}
    assert messages == {
        "nolabel.png": "no transcription (nolabel.gt.txt missing)",
        "orphan.gt.txt": messages["orphan.gt.txt"],
        "empty.gt.txt": "empty transcription",
        "bad.gt.txt": messages["bad.gt.txt"],
        "missing": "directory not found",
    }
    assert "without an image" in messages["orphan.gt.txt"]
    assert "UTF-8" in messages["bad.gt.txt"]


def test_scan_line_dirs_picks_up_page_lines(tmp_path):
    _png(tmp_path / "page.png", (200, 300))
    _text(tmp_path / "page.xml", ALTO_V4)
    _text(tmp_path / "broken.xml", ALTO_V4[:300])
    _png(tmp_path / "broken.png", (200, 300))
    records, problems = scan_line_dirs([tmp_path])
    assert [r.id for r in records] == ["page_line_a", "page_line_b"]
    assert records[0].image is None and records[0].source == tmp_path / "page.xml"
    assert records[0].polygon.shape == (4, 2)
    # the page image is named by the XML, so it is not "missing a transcription"; nor is the
    # image of a broken XML: the XML is the problem
    assert [p.path.name for p in problems] == ["broken.xml"]


# ---------------------------------------------------------------- readers


def test_read_alto_v4_polygons(tmp_path):
    page = read_alto(_text(tmp_path / "p.xml", ALTO_V4))
    assert (page.width, page.height) == (300, 200)
    assert page.image == tmp_path / "page.png"
    a, b = page.lines
    assert a.id == "line_a" and a.text == "Caf\u00e9 noir"
    assert a.confidence == pytest.approx(0.6)
    assert a.polygon.dtype == np.int32
    assert a.polygon.tolist() == [[10, 20], [110, 20], [110, 50], [10, 50]]
    assert a.baseline.tolist() == [[10, 40], [110, 42]]
    assert b.polygon.tolist() == [[10, 60], [110, 60], [110, 100], [10, 100]]
    assert b.baseline.tolist() == [[10, 90], [110, 92]]
    assert b.text == "deux mots" and b.confidence is None


@pytest.mark.parametrize("ns", ["ns-v2#", "ns-v3#", None])
def test_read_alto_v2_boxes(tmp_path, ns):
    xml = (
        ALTO_V2
        if ns == "ns-v2#"
        else ALTO_V2.replace(
            ' xmlns="http://www.loc.gov/standards/alto/ns-v2#"',
            f' xmlns="http://www.loc.gov/standards/alto/{ns}"' if ns else "",
        )
    )
    page = read_layout(_text(tmp_path / "v2.xml", xml))
    (line,) = page.lines
    assert line.polygon.tolist() == [[5, 6], [55, 6], [55, 26], [5, 26]]
    assert line.baseline is None  # a single number in v2
    assert line.text == "old style-"
    assert page.image is None


def test_read_page_xml_nested_and_line_level_text(tmp_path):
    page = read_page_xml(_text(tmp_path / "p.xml", PAGE_2013))
    assert page.image == tmp_path / "scan.jpg" and (page.width, page.height) == (400, 300)
    assert [ln.id for ln in page.lines] == ["r1l1", "r1al1", "r1l2"]
    first, nested, empty = page.lines
    assert first.text == "first line" and first.confidence == pytest.approx(0.9)
    assert first.baseline.tolist() == [[10, 35], [200, 35]]
    assert nested.text == "nested line" and nested.baseline is None
    assert empty.text is None
    assert read_layout(tmp_path / "p.xml").lines[0].text == "first line"


def test_read_page_2010_point_children(tmp_path):
    xml = """<PcGts xmlns="http://schema.primaresearch.org/PAGE/gts/pagecontent/2010-03-19">
      <Page imageFilename="a.tif" imageWidth="50" imageHeight="40"><TextRegion id="r">
        <TextLine id="t"><Coords><Point x="1" y="2"/><Point x="30" y="2"/><Point x="30" y="20"/>
        </Coords><TextEquiv><Unicode>old</Unicode></TextEquiv></TextLine>
      </TextRegion></Page></PcGts>"""
    (line,) = read_layout(_text(tmp_path / "old.xml", xml)).lines
    assert line.polygon.tolist() == [[1, 2], [30, 2], [30, 20]] and line.text == "old"


@pytest.mark.parametrize("content", ["not xml at all <", "<root><a></root>", ""])
def test_read_layout_garbage(tmp_path, content):
    path = _text(tmp_path / "g.xml", content)
    with pytest.raises(DataError, match="g.xml"):
        read_layout(path)


def test_bad_coordinates_are_one_short_line(tmp_path):
    bad = "10,10 " * 200 + "7"  # an odd count, 1.2 KB long
    path = _text(tmp_path / "c.xml", PAGE_2013.replace("10,10 200,10 200,40 10,40", bad))
    with pytest.raises(DataError, match="bad coordinates") as exc:
        read_layout(path)
    assert len(str(exc.value)) < 200 and "\n" not in str(exc.value)


@pytest.mark.parametrize("value", ["nan", "inf", "1e20"])
def test_non_finite_or_huge_coordinates_are_bad_not_a_crash(tmp_path, value):
    path = _text(tmp_path / "n.xml", PAGE_2013.replace("10,10 200,10", f"10,10 {value},10"))
    with pytest.raises(DataError, match="bad coordinates"):
        read_layout(path)
    page = read_layout(
        _text(tmp_path / "w.xml", PAGE_2013.replace('imageWidth="400"', f'imageWidth="{value}"'))
    )
    assert page.width == 0 and page.height == 300  # unknown width, as when it is missing
    path = _text(tmp_path / "a.xml", ALTO_V2.replace('HPOS="5"', f'HPOS="{value}"'))
    with pytest.raises(DataError, match="t1 HPOS/VPOS/WIDTH/HEIGHT: bad coordinates"):
        read_layout(path)


def test_written_here_tells_this_tools_xml_from_ground_truth(tmp_path):
    from lxml import etree

    from handwriting.formats import written_here

    page = Page(
        tmp_path / "p.png",
        300,
        100,
        [TextLine("l1", np.array([[5, 5], [290, 5], [290, 60], [5, 60]], np.int32), None, "text")],
    )
    write_alto(page, tmp_path / "new.xml")
    write_page_xml(page, tmp_path / "page.xml")
    write_hocr(page, tmp_path / "page.hocr")
    for name in ("new.xml", "page.xml", "page.hocr"):
        assert written_here(tmp_path / name), name
    tree = etree.parse(str(tmp_path / "new.xml"))  # without its signature: somebody else's
    for el in tree.iter("{*}Processing"):
        el.getparent().remove(el)
    tree.write(str(tmp_path / "unsigned.xml"), xml_declaration=True, encoding="UTF-8")
    assert not written_here(tmp_path / "unsigned.xml")
    for name, text in (("v4.xml", ALTO_V4), ("v2.xml", ALTO_V2), ("p13.xml", PAGE_2013)):
        assert not written_here(_text(tmp_path / name, text)), name
    assert not written_here(tmp_path / "missing.xml")


def test_read_layout_other_xml(tmp_path):
    with pytest.raises(DataError, match="neither ALTO nor PAGE"):
        read_layout(_text(tmp_path / "o.xml", "<html><body/></html>"))
    with pytest.raises(DataError, match="not found"):
        read_layout(tmp_path / "nope.xml")


# ---------------------------------------------------------------- crops


def _synthetic_page():
    page = np.full((200, 400), 210, np.uint8)
    cv2.putText(page, "minimum", (40, 110), cv2.FONT_HERSHEY_SIMPLEX, 1.5, 30, 3)
    cv2.line(page, (0, 62), (399, 62), 0, 2)  # neighbouring line's ink just above the polygon
    polygon = np.array([[30, 68], [250, 68], [250, 125], [30, 125]], np.int32)
    return page, polygon


def test_crop_line_masks_outside_polygon():
    page, polygon = _synthetic_page()
    crop = crop_line(page, polygon, pad=8)
    assert crop.dtype == np.uint8
    assert crop.shape == (125 - 68 + 1 + 16, 250 - 30 + 1 + 16)
    # the dark rule at y 61..63 lies inside the crop (y0 = 60) but outside the polygon
    assert crop[:5].min() > 150
    assert abs(int(np.median(crop[:5])) - 210) <= 3
    assert crop.min() < 60  # the text itself survives


def test_crop_line_clips_and_rejects_degenerate():
    page, _ = _synthetic_page()
    crop = crop_line(page, np.array([[-5, -5], [50, -5], [50, 30], [-5, 30]]), pad=4)
    assert crop.shape == (35, 55)
    with pytest.raises(DataError, match="degenerate"):
        crop_line(page, np.array([[0, 0], [10, 10]]))
    with pytest.raises(DataError, match="degenerate"):
        crop_line(page, np.array([[0, 5], [100, 5], [50, 6]]))


def test_load_line_image_from_page(tmp_path):
    page, polygon = _synthetic_page()
    cv2.imwrite(str(tmp_path / "page.png"), page)
    lines = [TextLine("l1", polygon, None, "minimum")]
    write_page_xml(Page(tmp_path / "page.png", 400, 200, lines), tmp_path / "page.xml")
    records, problems = scan_line_dirs([tmp_path])
    assert not problems and len(records) == 1
    crop = load_line_image(records[0])
    assert np.array_equal(crop, crop_line(page, polygon))


# ---------------------------------------------------------------- writers


def _page() -> Page:
    return Page(
        Path("/somewhere/scan.png"),
        640,
        480,
        [
            TextLine(
                "1",
                np.array([[10, 10], [300, 12], [298, 60], [12, 58]], np.int32),
                np.array([[12, 50], [298, 52]], np.int32),
                "Grüße aus  Köln",
                0.875,
            ),
            TextLine(
                "line two",
                np.array([[10, 70], [300, 70], [300, 120], [10, 120]], np.int32),
                None,
                "zweite Zeile",
                None,
            ),
            TextLine("x3", np.array([[10, 130], [50, 130], [50, 170]], np.int32), None, None),
        ],
    )


@pytest.mark.parametrize("write, read", [(write_alto, read_alto), (write_page_xml, read_page_xml)])
def test_write_read_round_trip(tmp_path, write, read):
    page = _page()
    out = tmp_path / "out.xml"
    write(page, out)
    back = read(out)
    assert back.image == tmp_path / "scan.png"
    assert (back.width, back.height) == (640, 480)
    assert len(back.lines) == 3
    for a, b in zip(page.lines, back.lines):
        assert np.array_equal(a.polygon, b.polygon)
        assert (a.baseline is None) == (b.baseline is None)
        if a.baseline is not None:
            assert np.array_equal(a.baseline, b.baseline)
        assert b.text == (" ".join(a.text.split()) if a.text else None)
        assert b.confidence == (pytest.approx(a.confidence) if a.confidence else None)
    ids = [ln.id for ln in back.lines]
    assert ids[0] == "l1" and " " not in ids[1] and len(set(ids)) == 3
    assert read_layout(out).lines[0].text == "Grüße aus Köln"


@pytest.mark.parametrize("write", [write_alto, write_page_xml])
def test_write_is_atomic(tmp_path, write):
    out = tmp_path / "p.xml"
    out.write_text("old")
    write(_page(), out, image_name="other.jpg")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.xml"]
    assert read_layout(out).image == tmp_path / "other.jpg"
    with pytest.raises(HandwritingError, match="cannot write it"):  # a file is in the way
        write(_page(), tmp_path / "p.xml" / "q.xml")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.xml"]
    write(_page(), tmp_path / "new" / "p.xml")  # missing folders are made
    assert read_layout(tmp_path / "new" / "p.xml").lines


# ---------------------------------------------------------------- real files


@pytest.mark.skipif(
    not (SHARED / "data" / "pages").is_dir(),
    reason="shared/data/pages not present (only in the project workspace)",
)
def test_real_pages_read():
    files = sorted((SHARED / "data" / "pages").glob("*/*.xml"))
    assert files
    for path in files:
        page = read_layout(path)
        assert page.lines and page.image.is_file()
        assert sum(1 for ln in page.lines if ln.text) > 0


def test_writers_keep_word_boxes(tmp_path):
    """Words read here go out as ALTO Strings with HPOS/VPOS/WIDTH/HEIGHT/WC and as PAGE
    Words with Coords and a TextEquiv; the line text read back is unchanged."""
    from lxml import etree

    from handwriting.document import Word

    page = _page()
    page.lines[1].words = [
        Word("zweite", (12, 75, 140, 115), 0.91234),
        Word("Zeile", (160, 72, 290, 118), 0.5),
    ]
    write_alto(page, tmp_path / "a.xml")
    write_page_xml(page, tmp_path / "p.xml")
    strings = etree.parse(str(tmp_path / "a.xml")).findall(".//{*}TextLine")[1].findall("{*}String")
    assert [
        (
            s.get("CONTENT"),
            s.get("HPOS"),
            s.get("VPOS"),
            s.get("WIDTH"),
            s.get("HEIGHT"),
            s.get("WC"),
        )
        for s in strings
    ] == [
        ("zweite", "12", "75", "128", "40", "0.9123"),
        ("Zeile", "160", "72", "130", "46", "0.5000"),
    ]
    line = etree.parse(str(tmp_path / "p.xml")).findall(".//{*}TextLine")[1]
    words = line.findall("{*}Word")
    assert [w.find("{*}Coords").get("points") for w in words] == [
        "12,75 140,75 140,115 12,115",
        "160,72 290,72 290,118 160,118",
    ]
    assert [w.findtext("{*}TextEquiv/{*}Unicode") for w in words] == ["zweite", "Zeile"]
    assert len({w.get("id") for w in words} | {line.get("id")}) == 3
    assert [child.tag.split("}")[1] for child in line] == ["Coords", "Word", "Word", "TextEquiv"]
    for read in (read_alto, read_page_xml):
        back = read(tmp_path / ("a.xml" if read is read_alto else "p.xml"))
        assert [ln.text for ln in back.lines] == ["Grüße aus Köln", "zweite Zeile", None]
    assert to_json(page)["lines"][1]["words"][0] == {
        "text": "zweite",
        "box": [12, 75, 140, 115],
        "confidence": 0.9123,
    }
    assert "words" not in to_json(page)["lines"][0]  # not read here: no word boxes


def test_writers_drop_words_that_do_not_spell_the_line(tmp_path):
    """Word boxes left over from an earlier text (the line was corrected since) are not
    written: ALTO and hOCR split the new text, PAGE keeps the line's TextEquiv only."""
    from lxml import etree

    from handwriting.document import Word

    page = _page()
    page.lines[1].words = [Word("zwiete", (12, 75, 140, 115), 0.9)]  # stale: text is "zweite Zeile"
    write_alto(page, tmp_path / "a.xml")
    write_page_xml(page, tmp_path / "p.xml")
    write_hocr(page, tmp_path / "p.hocr")
    strings = etree.parse(str(tmp_path / "a.xml")).findall(".//{*}TextLine")[1].findall("{*}String")
    assert [(s.get("CONTENT"), s.get("HPOS")) for s in strings] == [
        ("zweite", None),
        ("Zeile", None),
    ]
    line = etree.parse(str(tmp_path / "p.xml")).findall(".//{*}TextLine")[1]
    assert (
        line.findall("{*}Word") == [] and line.findtext("{*}TextEquiv/{*}Unicode") == "zweite Zeile"
    )
    hocr = etree.parse(str(tmp_path / "p.hocr")).getroot().findall(".//*[@class='ocrx_word']")
    assert [(w.text, w.get("title")) for w in hocr[3:5]] == [("zweite", None), ("Zeile", None)]


def test_write_hocr(tmp_path):
    """hOCR as Tesseract writes it: page, area, paragraph, lines and words, each with its
    bbox; word boxes and confidences where the words were read here, text either way."""
    from lxml import etree

    from handwriting.document import Word

    page = _page()
    page.lines[1].words = [
        Word("zweite", (12, 75, 140, 115), 0.91234),
        Word("Zeile", (160, 72, 290, 118), 0.5),
    ]
    out = tmp_path / "p.hocr"
    out.write_text("old")
    write_hocr(page, out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.hocr"]  # replaced atomically
    root = etree.parse(str(out)).getroot()
    by_class = lambda c: root.findall(f".//*[@class='{c}']")  # noqa: E731
    assert by_class("ocr_page")[0].get("title") == 'image "scan.png"; bbox 0 0 640 480; ppageno 0'
    lines = by_class("ocr_line")
    assert len(lines) == 3 and len(by_class("ocr_carea")) == len(by_class("ocr_par")) == 1
    assert lines[0].get("title").startswith("bbox 10 10 300 60; baseline 0.0070 -10")
    assert lines[0].get("title").endswith("x_wconf 88")
    assert lines[1].get("title") == "bbox 10 70 300 120"
    words = [[(w.text, w.get("title")) for w in ln] for ln in lines]
    assert words[0] == [("Grüße", None), ("aus", None), ("Köln", None)]  # no boxes known
    assert words[1] == [
        ("zweite", "bbox 12 75 140 115; x_wconf 91"),
        ("Zeile", "bbox 160 72 290 118; x_wconf 50"),
    ]
    assert words[2] == []
    assert "".join(lines[1].itertext()) == "zweite Zeile"
    assert '<span class="ocr_line" id="line_3" title="bbox 10 130 50 170"></span>' in out.read_text(
        encoding="utf-8"
    )  # an empty line is not self-closing (HTML would nest what follows)
    write_hocr(page, out, image_name='a "b"\\c.png')  # its " and \\ are escaped
    title = etree.parse(str(out)).getroot().find(".//*[@class='ocr_page']").get("title")
    assert title.startswith('image "a \\"b\\"\\\\c.png"; bbox')
