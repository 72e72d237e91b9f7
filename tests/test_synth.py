from pathlib import Path

import matplotlib
import pytest

from handwriting.cli import main
from handwriting.errors import HandwritingError
from handwriting.groundtruth import scan_line_dirs
from handwriting.synth import generate, render_page

# a font every installation has (matplotlib ships it); the handwriting fonts are Debian packages
FONT = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"


def test_generate_is_seeded_and_follows_the_gt_convention(tmp_path):
    text = tmp_path / "t.txt"
    text.write_text("un deux trois quatre cinq six sept\nalpha beta gamma delta epsilon\n")
    a = generate(tmp_path / "a", 5, seed=1, text=text, fonts=[FONT], digits=0.4, height=40, progress=False)
    b = generate(tmp_path / "b", 5, seed=1, text=text, fonts=[FONT], digits=0.4, height=40, progress=False)
    assert [p.read_bytes() for p in a] == [p.read_bytes() for p in b]
    records, problems = scan_line_dirs([tmp_path / "a"])
    assert len(records) == 5 and not problems
    words = set(text.read_text().split())
    for r in records:
        assert set(r.text.split()) <= words or set(r.text) <= set("0123456789 .,/-:")


def test_render_page_stacks_lines():
    page = render_page(["first line", "second line"], FONT, size=30)
    assert page.shape[0] > 2 * 30 and page.min() < 120


def test_synth_cli_and_missing_font(tmp_path, capsys):
    assert main(["synth", "--out", str(tmp_path / "s"), "--count", "2", "--fonts", str(FONT)]) == 0
    assert "2 lines written" in capsys.readouterr().out
    with pytest.raises(HandwritingError, match="cannot load font"):
        generate(tmp_path / "x", 1, fonts=[tmp_path / "nofont.ttf"], progress=False)


def test_texts_the_font_cannot_draw_are_not_rendered(tmp_path):
    # DejaVu Sans has no CJK glyphs: such text would be drawn as boxes under a wrong label
    text = tmp_path / "t.txt"
    text.write_text("漢字 漢字 漢字 漢字 漢字\nalpha beta gamma delta epsilon zeta\n", encoding="utf-8")
    generate(tmp_path / "a", 12, seed=3, text=text, fonts=[FONT], progress=False)
    records, _ = scan_line_dirs([tmp_path / "a"])
    assert len(records) == 12 and all(set(r.text) <= set("alphbetgmdsionz ") for r in records)
    text.write_text("漢字 漢字 漢字\n", encoding="utf-8")
    with pytest.raises(HandwritingError, match="none of the fonts has glyphs"):
        generate(tmp_path / "b", 1, text=text, fonts=[FONT], progress=False)
    assert not (tmp_path / "b").exists()  # no empty --out folder left behind


def test_generate_refuses_a_text_source_it_would_write_over(tmp_path):
    out = tmp_path / "syn"
    out.mkdir()
    label = out / "lines_000003.gt.txt"
    label.write_text("one two three four\n")
    for text in (label, out):  # one of the label files it writes (with its prefix), its folder
        with pytest.raises(HandwritingError, match="synth would write over it"):
            generate(out, 4, text=text, prefix="lines", progress=False)
    with pytest.raises(HandwritingError, match="synth would write over it"):
        generate(out, 4, text=tmp_path, prefix="lines", progress=False)  # a folder holding out
    assert label.read_text() == "one two three four\n"
    assert sorted(p.name for p in out.iterdir()) == ["lines_000003.gt.txt"]
    # a label file of the same name in a subfolder of out is not written over: allowed
    (out / "old").mkdir()
    label.rename(out / "old" / label.name)
    generate(out, 4, text=out / "old" / label.name, fonts=[FONT], prefix="lines", progress=False)
    assert (out / "old" / label.name).read_text() == "one two three four\n"
    assert len(list(out.glob("lines_*.gt.txt"))) == 4
