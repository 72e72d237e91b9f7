import re
from pathlib import Path

import cv2
import matplotlib
import numpy as np
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
    a = generate(
        tmp_path / "a", 5, seed=1, text=text, fonts=[FONT], digits=0.4, height=40, progress=False
    )
    b = generate(
        tmp_path / "b", 5, seed=1, text=text, fonts=[FONT], digits=0.4, height=40, progress=False
    )
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
    text.write_text(
        "漢字 漢字 漢字 漢字 漢字\nalpha beta gamma delta epsilon zeta\n", encoding="utf-8"
    )
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


def test_letter_forms_are_english_and_french_frames_of_a_letter():
    from handwriting.synth_text import letter_form

    rng = np.random.default_rng(0)
    forms = [letter_form(rng) for _ in range(400)]
    assert all(f and f == f.strip() for f in forms)
    assert any(f.startswith(("Dear", "My dear")) for f in forms)  # salutations
    assert any(f.startswith(("Cher", "Chère", "Madame", "Monsieur")) for f in forms)
    assert any(re.search(r"\b1[89]\d\d\b|\b20\d\d\b", f) for f in forms)  # dates with years
    assert any(f.endswith(",") and "yours" in f.lower() for f in forms)  # closings
    assert len(set(forms)) > 200  # names, days and numbers drawn, not a fixed list


def test_lines_are_drawn_glyph_by_glyph_with_jitter():
    from handwriting.synth import render_text

    typeset = render_text("minimum", FONT, np.random.default_rng(5), size=48, jitter=0.0)
    written = [
        render_text("minimum", FONT, np.random.default_rng(5), size=48, jitter=1.0)
        for _ in range(2)
    ]
    assert np.array_equal(written[0], written[1])  # seeded
    other = render_text("minimum", FONT, np.random.default_rng(6), size=48, jitter=1.0)
    assert written[0].shape != other.shape or not np.array_equal(written[0], other)
    for img in (typeset, written[0]):  # dark ink on lighter paper, a line's proportions
        assert img.dtype == np.uint8 and img.shape[1] > 3 * img.shape[0]
        assert np.percentile(img, 2) < np.median(img) - 60
    # the glyphs are placed one by one: the ink's columns differ from the font's own layout
    a = cv2.resize(typeset, (200, 40)).astype(float)
    b = cv2.resize(written[0], (200, 40)).astype(float)
    assert np.abs(a - b).mean() > 5


def _caps_only_copy(tmp_path: Path) -> Path:
    """DejaVu Sans with every lower-case letter mapped to its capital's glyph."""
    from fontTools.ttLib import TTFont

    font = TTFont(str(FONT))
    for table in font["cmap"].tables:
        if table.isUnicode():
            for c in range(ord("a"), ord("z") + 1):
                if ord(chr(c).upper()) in table.cmap:
                    table.cmap[c] = table.cmap[ord(chr(c).upper())]
    path = tmp_path / "Caps.ttf"
    font.save(str(path))
    return path


def test_fonts_that_draw_lower_case_as_capitals_are_left_out(tmp_path, caplog):
    from handwriting.synth import caps_only

    caps = _caps_only_copy(tmp_path)
    assert caps_only(caps) and not caps_only(FONT)
    paths = generate(tmp_path / "out", 3, fonts=[FONT, caps], progress=False)
    assert len(paths) == 3 and "Caps.ttf" in caplog.text
    with pytest.raises(HandwritingError, match="lower case as capitals"):
        generate(tmp_path / "none", 1, fonts=[caps], progress=False)


def test_font_folders_several_texts_and_varied_heights(tmp_path):
    from handwriting.synth import expand_fonts

    fonts = tmp_path / "fonts"
    (fonts / "sub").mkdir(parents=True)
    (fonts / "sub" / "a.ttf").write_bytes(FONT.read_bytes())
    (fonts / "notes.txt").write_text("not a font")
    assert expand_fonts([fonts]) == [fonts / "sub" / "a.ttf"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(HandwritingError, match="no .ttf or .otf fonts"):
        expand_fonts([tmp_path / "empty"])
    en, fr = tmp_path / "en.txt", tmp_path / "fr.txt"
    en.write_text("alpha beta gamma delta\n")
    fr.write_text("un deux trois quatre\n")
    paths = generate(tmp_path / "s", 40, seed=2, text=[en, fr], fonts=[fonts], progress=False)
    records, _ = scan_line_dirs([tmp_path / "s"])
    words = {w for r in records for w in r.text.split()}
    assert words & {"alpha", "beta", "gamma", "delta"} and words & {"un", "deux", "trois", "quatre"}
    heights = {cv2.imread(str(p), cv2.IMREAD_GRAYSCALE).shape[0] for p in paths}
    assert min(heights) >= 40 and max(heights) <= 110 and len(heights) > 10
