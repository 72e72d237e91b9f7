"""The library's one reading path: lines and pages in, one Reading per input, in order."""

import json

import cv2
import pytest

from handwriting.errors import HandwritingError
from handwriting.reading import JSON_VERSION, read
from handwriting.recognize import Recognizer

from conftest import render_line, write_page


@pytest.fixture(scope="module")
def rec(model_dir):
    return Recognizer(model_dir)


def test_lines_pages_and_errors_in_input_order(rec, tmp_path):
    line = tmp_path / "line.png"
    cv2.imwrite(str(line), render_line("123"))
    page = write_page(tmp_path / "page.png", ["12", "34", "56"])
    array = render_line("45")
    got = read(rec, [line, tmp_path / "missing.png", page, array])
    assert [r.kind for r in got] == ["line", None, "page", "line"]
    assert [r.ok for r in got] == [True, False, True, True]
    assert "missing.png" in got[1].error and got[1].page is None
    assert len(got[2].page.lines) == 3 and got[2].page.image == page
    assert got[3].source == "<array 3>" and got[3].page.image is None
    # a line image is a one-line page as wide and high as the image, its words inside it
    (one,) = got[0].page.lines
    h, w = cv2.imread(str(line), cv2.IMREAD_GRAYSCALE).shape
    assert (got[0].page.width, got[0].page.height) == (w, h)
    assert one.text == got[0].prediction.text == got[0].text
    assert all(
        0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h
        for x0, y0, x1, y1 in (word.box for word in one.words)
    )


def test_mode_forces_line_orwrite_page(rec, tmp_path):
    page = write_page(tmp_path / "page.png", ["12", "34"])
    (as_line,) = read(rec, [page], mode="line")
    (as_page,) = read(rec, [page], mode="page")
    assert as_line.kind == "line" and len(as_line.page.lines) == 1
    assert as_page.kind == "page" and len(as_page.page.lines) == 2
    with pytest.raises(HandwritingError, match="mode must be one of"):
        read(rec, [page], mode="word")
    with pytest.raises(HandwritingError, match="exactly one input"):
        read(rec, [page, page], layout=as_page.page)


def test_layout_lines_are_read_instead_of_segmenting(rec, tmp_path):
    page = write_page(tmp_path / "page.png", ["12", "34"])
    (found,) = read(rec, [page])
    found.page.lines = found.page.lines[:1]  # a layout with the first line only
    (laid,) = read(rec, [page], layout=found.page)
    assert laid.kind == "page" and len(laid.page.lines) == 1


def test_json_schema_is_one_for_lines_and_pages(rec, tmp_path):
    line = tmp_path / "line.png"
    cv2.imwrite(str(line), render_line("123"))
    page = write_page(tmp_path / "page.png", ["12", "34"])
    items = [r.to_dict() for r in read(rec, [line, page, tmp_path / "nope.png"])]
    json.dumps(items)  # JSON-ready
    keys = {"version", "source", "kind", "text", "image", "width", "height", "lines"}
    assert set(items[0]) == set(items[1]) == keys
    assert [i["version"] for i in items] == [JSON_VERSION] * 3
    assert "chars" in items[0]["lines"][0] and "chars" not in items[1]["lines"][0]
    assert items[1]["text"] == "\n".join(ln["text"] for ln in items[1]["lines"])
    assert set(items[2]) == {"version", "source", "error"}


def test_an_unexpected_failure_costs_only_its_input(rec, tmp_path, monkeypatch):
    import handwriting.pages

    monkeypatch.setattr(
        handwriting.pages,
        "recognize_page",
        lambda *a, **k: (_ for _ in ()).throw(RuntimeError("boom")),
    )
    page = write_page(tmp_path / "page.png", ["12", "34"])
    line = tmp_path / "line.png"
    cv2.imwrite(str(line), render_line("7"))
    broken, fine = read(rec, [page, line])
    assert "internal error (RuntimeError('boom'))" in broken.error and fine.ok
    with pytest.raises(RuntimeError):
        read(rec, [page], raise_internal=True)
