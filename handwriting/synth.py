"""Synthetic handwritten-looking lines rendered from openly licensed handwriting fonts.

Seeded and configurable: the text source (a UTF-8 file, one sentence or paragraph per line, or
the built-in sentences of :mod:`handwriting.synth_text`), the fonts (Debian packages fonts-dancingscript, fonts-sjfonts,
fonts-kristi, fonts-breip by default; any .ttf/.otf path works), sizes and paper. A text is
only drawn in a font that has glyphs for all its characters (fontTools cmap), so no label is
wrong. Output follows the line ground-truth convention: ``<id>.png`` + ``<id>.gt.txt``.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import cv2
import numpy as np

from .document import Page, TextLine
from .errors import HandwritingError, missing_extra
from .fileio import write_atomic
from .synth_text import sample_text, text_pool

log = logging.getLogger(__name__)

FONT_DIRS = ("/usr/share/fonts", "/usr/local/share/fonts", str(Path.home() / ".fonts"))
# (file name, Debian package, licence)
DEFAULT_FONTS = (
    ("DancingScript-Regular.otf", "fonts-dancingscript", "SIL OFL 1.1"),
    ("DancingScript-Bold.otf", "fonts-dancingscript", "SIL OFL 1.1"),
    ("SteveHand.ttf", "fonts-sjfonts", "GPL-2+ with font exception"),
    ("Delphine.ttf", "fonts-sjfonts", "GPL-2+ with font exception"),
    ("Kristi.ttf", "fonts-kristi", "SIL OFL 1.1"),
    ("Breip.ttf", "fonts-breip", "SIL OFL 1.1"),
)

MAX_TRIES = 200


def find_fonts(names=None) -> list[Path]:
    """Paths of the given font files (default: :data:`DEFAULT_FONTS`) found on this machine."""
    wanted = set(names or [f for f, _, _ in DEFAULT_FONTS])
    found = {}
    for d in FONT_DIRS:
        for root, _, files in os.walk(d):
            for f in files:
                if f in wanted and f not in found:
                    found[f] = Path(root) / f
    return [found[f] for f in sorted(found)]


def expand_fonts(paths) -> list[Path]:
    """Font files from files and folders (a folder gives its ``.ttf``/``.otf`` files, such as
    the cache ``scripts/fetch_fonts.py`` fills); a clear error for a path that is neither."""
    fonts: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.suffix.lower() in (".ttf", ".otf"))
            if not found:
                raise HandwritingError(
                    f"{p}: no .ttf or .otf fonts in this folder; fill it with "
                    "`python scripts/fetch_fonts.py` or give font files"
                )
            fonts += found
        elif p.exists():
            fonts.append(p)
        else:
            raise HandwritingError(f"{p}: cannot load font (no such file or folder)")
    return fonts


def font_chars(font: str | Path) -> frozenset[str]:
    """The characters the font has glyphs for (its best Unicode cmap)."""
    try:
        from fontTools.ttLib import TTFont
    except ModuleNotFoundError as exc:  # the [synth] extra
        raise missing_extra(exc) or exc from None
    try:
        with TTFont(str(font), lazy=True) as f:
            return frozenset(chr(c) for c in f.getBestCmap())
    except Exception as exc:  # missing file, not a font, no Unicode cmap
        raise HandwritingError(f"{font}: cannot load font ({exc})") from None


def _glyph_image(pil_font, ch: str):
    left, top, right, bottom = pil_font.getbbox(ch)
    if right <= left or bottom <= top:
        return None
    from PIL import Image, ImageDraw

    img = Image.new("L", (right - left + 4, bottom - top + 4), 0)
    ImageDraw.Draw(img).text((2 - left, 2 - top), ch, font=pil_font, fill=255)
    a = cv2.resize(np.asarray(img, np.float32), (24, 24), interpolation=cv2.INTER_AREA)
    return a - a.mean()


def caps_only(font: str | Path) -> bool:
    """Whether the font draws lower case as (small) capitals, as Permanent Marker does: such
    a font would show ``A`` under a label ``a``. Told by the correlation of the shapes of
    letters whose two cases differ in ordinary hands (median over 16 letters above 0.9)."""
    from PIL import ImageFont

    try:
        pil_font = ImageFont.truetype(str(font), 64)
    except OSError as exc:
        raise HandwritingError(f"{font}: cannot load font ({exc})") from None
    scores = []
    for lower in "abdefghijlmnqrty":
        a, b = _glyph_image(pil_font, lower), _glyph_image(pil_font, lower.upper())
        if a is not None and b is not None:
            scores.append(float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum() + 1e-6)))
    return bool(scores) and float(np.median(scores)) > 0.9


def _glyph_ink(
    text: str, pil_font, size: int, rng: np.random.Generator, jitter: float
) -> np.ndarray:
    """Ink coverage (float 0..1) of ``text`` drawn glyph by glyph, each with its own scale,
    baseline shift and rotation (``jitter`` scales them; 0: the font's own layout, kerning and
    joins kept) and a varying gap after it."""
    from PIL import Image, ImageDraw

    if jitter <= 0:
        left, top, right, bottom = pil_font.getbbox(text, anchor="ls")
        img = Image.new("L", (right - left + 2, bottom - top + 2), 0)
        ImageDraw.Draw(img).text((-left + 1, -top + 1), text, font=pil_font, fill=255, anchor="ls")
        return np.asarray(img, np.float32) / 255.0
    ascent, descent = pil_font.getmetrics()
    h = int((ascent + descent) * 1.6) + 4
    base = int(ascent * 1.3) + 2
    width = int(pil_font.getlength(text) * 1.3 + size * (2 + 0.15 * len(text)))
    cov = np.zeros((h, width), np.float32)
    x = float(size // 4)
    word_gap = rng.uniform(-0.15, 0.5) * size * 0.3  # this writer's spacing of words
    for ch in text:
        adv = pil_font.getlength(ch)
        if ch == " ":
            x += adv + word_gap + rng.normal(0, 0.05 * size)
            continue
        left, top, right, bottom = pil_font.getbbox(ch, anchor="ls")
        pad = size // 4
        gw, gh = right - left + 2 * pad, bottom - top + 2 * pad
        if gw <= 2 * pad or gh <= 2 * pad:
            x += adv
            continue
        g = Image.new("L", (gw, gh), 0)
        ImageDraw.Draw(g).text((pad - left, pad - top), ch, font=pil_font, fill=255, anchor="ls")
        a = np.asarray(g, np.float32) / 255.0
        scale = float(np.clip(rng.normal(1.0, 0.06 * jitter), 0.8, 1.2))
        angle = rng.normal(0, 4.0 * jitter)
        ox, oy = pad - left, pad - top  # the glyph's origin (baseline, left) in ``a``
        m = cv2.getRotationMatrix2D((ox, oy), angle, scale)
        a = cv2.warpAffine(a, m, (gw, gh), flags=cv2.INTER_LINEAR, borderValue=0)
        dy = rng.normal(0, 0.035 * size * jitter)
        y0, x0 = int(round(base + dy - oy)), int(round(x - ox))
        y1, x1 = max(y0, 0), max(x0, 0)
        y2, x2 = min(y0 + gh, h), min(x0 + gw, width)
        if y2 > y1 and x2 > x1:
            region = cov[y1:y2, x1:x2]
            np.maximum(region, a[y1 - y0 : y2 - y0, x1 - x0 : x2 - x0], out=region)
        x += adv * scale + rng.normal(0, 0.025 * size * jitter)
    return cov


def _crop_ink(cov: np.ndarray, margin: int) -> np.ndarray:
    ys, xs = np.nonzero(cov > 0.05)
    if not len(ys):
        return np.zeros((2 * margin + 8, 2 * margin + 8), np.float32)
    c = cov[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    return np.pad(c, margin)


def _smooth_noise(shape, rng: np.random.Generator, scale: float) -> np.ndarray:
    """Zero-mean, unit-range noise that varies over about ``scale`` pixels."""
    small = rng.normal(0, 1, (max(2, int(shape[0] / scale) + 2), max(2, int(shape[1] / scale) + 2)))
    big = cv2.resize(small.astype(np.float32), (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC)
    return big / (np.abs(big).max() + 1e-6)


def render_text(
    text: str,
    font: str | Path,
    rng: np.random.Generator,
    size: int = 48,
    height: int | None = None,
    jitter: float | None = None,
) -> np.ndarray:
    """Render one line as uint8 grayscale that looks written rather than typeset.

    The glyphs are placed one by one with their own size, baseline and rotation (``jitter``,
    drawn at random when None; 0 keeps the font's layout), then the line is slanted, its
    strokes thickened or thinned, its ink varied along the line (pressure), laid on paper with
    texture, stains and uneven light, blurred, given noise and JPEG artefacts. All of it is
    drawn from ``rng``. ``height``: resize the result to this height (aspect ratio kept).
    """
    from PIL import ImageFont

    try:
        pil_font = ImageFont.truetype(str(font), size)
    except OSError as exc:
        raise HandwritingError(f"{font}: cannot load font ({exc})") from None
    if jitter is None:
        jitter = 0.0 if rng.random() < 0.3 else rng.uniform(0.3, 1.2)
    cov = _crop_ink(_glyph_ink(text, pil_font, size, rng, jitter), size // 3)
    # slant (shear about the middle row) and a slight rotation of the whole line
    h, w = cov.shape
    shear = rng.uniform(-0.35, 0.35) if rng.random() < 0.7 else 0.0
    extra = int(abs(shear) * h) + 2
    m = np.float32([[1, -shear, extra + shear * h / 2], [0, 1, 0]])
    cov = cv2.warpAffine(cov, m, (w + 2 * extra, h), flags=cv2.INTER_LINEAR, borderValue=0)
    angle = rng.uniform(-2.0, 2.0)
    h, w = cov.shape
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    cov = cv2.warpAffine(cov, m, (w, h), flags=cv2.INTER_LINEAR, borderValue=0)
    # stroke width: a pen broader or finer than the font's
    r = rng.random()
    k = max(2, size // 24)
    if r < 0.3:
        cov = cv2.dilate(cov, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    elif r < 0.45:
        cov = cv2.erode(cov, np.ones((2, 2), np.uint8))
    # ink: colour, intensity and pressure varying along the line
    pressure = 1.0 - rng.uniform(0, 0.45) * (0.5 + 0.5 * _smooth_noise(cov.shape, rng, size * 2))
    strength = np.clip(cov * rng.uniform(0.75, 1.0) * pressure, 0, 1)
    # paper: tone, texture, stains and light falling off to one side
    paper = rng.uniform(175, 250) + rng.uniform(0, 12) * _smooth_noise(cov.shape, rng, size / 3)
    if rng.random() < 0.25:
        stain = np.clip(_smooth_noise(cov.shape, rng, size * 1.5), 0, 1)
        paper = paper - rng.uniform(15, 60) * stain
    if rng.random() < 0.5:
        grad = np.linspace(0, 1, cov.shape[1])[None, :]
        paper = paper * (1 - rng.uniform(0, 0.25) * (grad if rng.random() < 0.5 else 1 - grad))
    ink = rng.uniform(5, 110)
    a = paper * (1 - strength) + ink * strength
    if rng.random() < 0.5:
        a = cv2.GaussianBlur(a, (0, 0), rng.uniform(0.3, 1.2))
    a = a + rng.normal(0, rng.uniform(1, 8), a.shape)
    out = np.clip(a, 0, 255).astype(np.uint8)
    if height:
        out = cv2.resize(
            out,
            (max(1, round(out.shape[1] * height / out.shape[0])), height),
            interpolation=cv2.INTER_AREA,
        )
    if rng.random() < 0.4:
        ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(30, 90))])
        out = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE)
    return out


def _write_pair(out: Path, stem: str, image: np.ndarray, text: str) -> Path:
    write_atomic(out / f"{stem}.png", cv2.imencode(".png", image)[1].tobytes())
    write_atomic(out / f"{stem}.gt.txt", text.encode("utf-8"))
    return out / f"{stem}.png"


def _check_text_kept(text, out, prefix: str) -> None:
    """Refuse a ``text`` source that writing ``out`` would overwrite: one of the label files
    generate names ``{prefix}_NNNNNN.gt.txt`` in ``out``, or a folder (read recursively) that
    holds ``out`` when ``out`` already has such files."""
    if text is None:
        return
    source, out_dir = Path(text).resolve(), Path(out).resolve()
    label = re.compile(rf"{re.escape(prefix)}_\d{{6}}\.gt\.txt")
    if source.is_dir():
        hit = (
            (source == out_dir or source in out_dir.parents)
            and out_dir.is_dir()
            and any(label.fullmatch(p.name) for p in out_dir.iterdir())
        )
    else:
        hit = source.parent == out_dir and label.fullmatch(source.name)
    if hit:
        raise HandwritingError(
            f"--text {text}: synth would write over it in --out {out}; keep the text elsewhere"
        )


def generate(
    out: str | Path,
    count: int,
    seed: int = 0,
    text=None,
    fonts=None,
    digits: float = 0.0,
    height: int | None = None,
    prefix: str = "synth",
    progress: bool = True,
    letters: float = 0.0,
    words: tuple[int, int] = (3, 9),
) -> list[Path]:
    """Write ``count`` synthetic line pairs to ``out``; returns the image paths.

    Args:
        text: a UTF-8 text file or ground-truth folder, or a list of them (default: the
            built-in sentences).
        fonts: font files and/or folders of them (default: :data:`DEFAULT_FONTS` found here).
        digits: fraction of lines that are digit strings.
        letters: fraction of lines that are letter forms (:func:`letter_form`).
        height: height of every image; None draws it per line from 40-110 px, as scanned
            lines vary.
        words: the range of the number of words of a line taken from a sentence.
    """
    from tqdm.auto import tqdm

    if Path(out).exists() and not Path(out).is_dir():
        raise HandwritingError(f"--out {out} is a file; give a folder for the line pairs")
    for source in [] if text is None else [text] if isinstance(text, (str, Path)) else text:
        _check_text_kept(source, out, prefix)
    fonts = expand_fonts(fonts) if fonts else find_fonts()
    if not fonts:
        raise HandwritingError(
            "no handwriting fonts found; install e.g. `apt-get install "
            "fonts-dancingscript fonts-sjfonts fonts-kristi fonts-breip`, "
            "fetch some with `python scripts/fetch_fonts.py DIR` and pass "
            "--fonts DIR, or pass --fonts FILE.ttf"
        )
    caps = [f for f in fonts if caps_only(f)]
    if caps:
        log.warning(
            "left out %d font(s) that draw lower case as capitals: %s",
            len(caps),
            ", ".join(Path(f).name for f in caps),
        )
        fonts = [f for f in fonts if f not in caps]
        if not fonts:
            raise HandwritingError(
                "every font given draws lower case as capitals; give "
                "handwriting fonts with real lower case"
            )
    covers = [font_chars(f) for f in fonts]
    pool = text_pool(text)
    rng = np.random.default_rng(seed)
    out = Path(out)
    paths = []
    for i in tqdm(range(count), desc="rendering", disable=not progress, unit="line"):
        for _ in range(MAX_TRIES):  # a font without a glyph would draw a box: label wrong
            line = sample_text(pool, rng, digits, words, letters)
            usable = [f for f, c in zip(fonts, covers) if set(line) - {" "} <= c]
            if usable:
                break
        else:
            raise HandwritingError(
                f"none of the fonts has glyphs for the text drawn {MAX_TRIES} "
                f"times in a row (last: {line!r}); use other fonts or text"
            )
        font = usable[int(rng.integers(len(usable)))]
        h = height or int(rng.integers(40, 111))
        img = render_text(line, font, rng, size=int(rng.integers(40, 64)), height=h)
        # (--out is made by the first write: text no font can draw leaves no empty folder)
        paths.append(_write_pair(out, f"{prefix}_{i:06d}", img, line))
    return paths


def render_page(
    lines: list[str], font: str | Path, seed: int = 0, size: int = 44, width: int = 1200
) -> np.ndarray:
    """A simple page: the given lines rendered one under the other on one sheet."""
    rng = np.random.default_rng(seed)
    rendered = [render_text(l, font, rng, size=size, jitter=0.0) for l in lines]
    paper = 235
    gap = size // 2
    h = sum(r.shape[0] for r in rendered) + gap * (len(rendered) + 3)
    w = max(width, max(r.shape[1] for r in rendered) + 2 * gap)
    page = np.full((h, w), paper, np.uint8)
    y = 2 * gap
    for r in rendered:
        x = int(rng.integers(gap, gap * 2))
        region = page[y : y + r.shape[0], x : x + r.shape[1]]
        np.minimum(region, r, out=region)
        y += r.shape[0] + gap
    return page


def photograph(
    page: np.ndarray,
    polygons=(),
    degrees: float = 3.0,
    ground: int = 55,
    margin: float = 0.25,
    light: float = 0.4,
) -> tuple[np.ndarray, list[np.ndarray]]:
    """The page as photographed on a dark table: a border of ``ground`` grey ``margin`` times
    the page's longer side wide, turned by ``degrees``, lit from the right (the left edge
    ``light`` darker). ``polygons`` (``(N, 2)`` arrays in ``page`` coordinates) come back
    moved along, as int32 arrays in the photo's coordinates."""
    h, w = page.shape
    b = int(margin * max(h, w))
    big = np.full((h + 2 * b, w + 2 * b), ground, np.uint8)
    big[b : b + h, b : b + w] = page
    turn = cv2.getRotationMatrix2D((big.shape[1] / 2, big.shape[0] / 2), degrees, 1.0)
    out = cv2.warpAffine(big, turn, big.shape[::-1], borderValue=ground)
    lit = 1.0 - light + light * np.linspace(0, 1, out.shape[1])[None, :]
    out = np.clip(out * lit, 0, 255).astype(np.uint8)
    moved = [
        cv2.transform((np.asarray(p, np.float64) + b).reshape(-1, 1, 2), turn)
        .reshape(-1, 2)
        .round()
        .astype(np.int32)
        for p in polygons
    ]
    return out, moved


PAGE_KINDS = ("plain", "edge", "signature", "margin", "columns", "photo")


def synth_page(kind: str, fonts, seed: int = 0, texts=None) -> tuple[np.ndarray, Page]:
    """A handwritten page of one of the hard kinds segmentation meets, with its ground truth.

    Kinds (:data:`PAGE_KINDS`): ``plain`` (eight lines), ``edge`` (lines whose last word
    ends a few pixels from the right edge of the scan), ``signature`` (a larger name with a
    flourish right under the last line), ``margin`` (two short notes in a wide left margin
    beside the text), ``columns`` (two columns), ``photo`` (a plain page photographed on a
    dark table, :func:`photograph`).

    Args:
        fonts: font files to write with (one is drawn per page; the signature uses another).
        texts: sentences to draw the lines from (default: the built-in English and French).

    Returns:
        The grayscale page and a :class:`~handwriting.document.Page` whose lines hold the
        box of each written line's ink (as a polygon) and its text, in reading order.
    """
    if kind not in PAGE_KINDS:
        raise HandwritingError(f"unknown page kind {kind!r} (one of {', '.join(PAGE_KINDS)})")
    fonts = list(fonts)
    if not fonts:
        raise HandwritingError("synth_page needs at least one font")
    rng = np.random.default_rng(seed)
    pool = text_pool(texts)
    font = fonts[int(rng.integers(len(fonts)))]
    size, step = 40, 78  # glyph size and line spacing in pixels (a 200-dpi letter)
    h, w = 900, 1100
    paper = rng.uniform(215, 245) + 8 * _smooth_noise((h, w), rng, 60)
    dark = np.zeros((h, w), np.float64)
    gt: list[TextLine] = []

    def write(text, x, y, fnt=font, sz=size, right=None, width=None):
        """Darken ``text`` in with its ink's top left at (x, y) (``right``: its ink ending
        there instead); returns the ink box, or None if it is wider than ``width``."""
        line = render_text(text, fnt, rng, size=sz, jitter=0.3)
        paper_of_line = cv2.medianBlur(line, 31).astype(np.float64)
        ink = paper_of_line - line  # the ink alone, whatever paper it was rendered on
        ink[ink < 20] = 0
        if not ink.any():
            return None
        strong = np.percentile(ink[ink > 0], 99)
        ys, xs = np.nonzero(ink > 0.35 * strong)  # the strokes
        # a pen's contrast: the darkest strokes 90 to 200 grey levels under the paper
        ink = np.clip(ink * rng.uniform(90, 200) / strong, 0, 255)
        ink = ink[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
        if width is not None and ink.shape[1] > width:
            return None
        if right is not None:
            x = right - ink.shape[1]
        x0, y0 = max(0, x), max(0, y)
        x1, y1 = min(w, x + ink.shape[1]), min(h, y + ink.shape[0])
        if x1 - x0 < 10 or y1 - y0 < 10:
            return None
        part = ink[y0 - y : y1 - y, x0 - x : x1 - x]
        np.maximum(dark[y0:y1, x0:x1], part, out=dark[y0:y1, x0:x1])
        gt.append(TextLine(f"t{len(gt) + 1}", _rect((x0, y0, x1, y1)), None, text))
        return x0, y0, x1, y1

    def fill(x, y, width, n):
        for k in range(n):
            for _ in range(MAX_TRIES):
                if write(sample_text(pool, rng, words=(4, 9)), x, y + k * step, width=width):
                    break

    if kind in ("plain", "photo"):
        fill(90, 120, w - 180, 8)
    elif kind == "edge":
        for k in range(8):
            text = sample_text(pool, rng, words=(5, 9))
            if k % 2:  # every other line runs to the edge
                right = w - int(rng.integers(2, 6))
                for _ in range(MAX_TRIES):
                    if write(text, 0, 120 + k * step, right=right, width=w - 90):
                        break
                    text = sample_text(pool, rng, words=(5, 9))
            else:
                fill(90, 120 + k * step, w - 180, 1)
    elif kind == "signature":
        fill(90, 120, w - 180, 6)
        other = fonts[(fonts.index(font) + 1) % len(fonts)]
        y = int(gt[-1].polygon[:, 1].max()) + step // 4  # a quarter spacing under the text
        box = write(sample_text(pool, rng, words=(2, 2)), 0, y, fnt=other, sz=60, right=w - 120)
        if box is not None:  # a flourish under the name, touching it
            x0, y0, x1, y1 = box
            cx, cy = (x0 + x1) // 2, y1 + 4
            cv2.ellipse(dark, (cx, cy), ((x1 - x0) // 2 + 20, 10), -3, 10, 190, 200, 3)
            gt[-1].polygon = _rect((x0 - 20, y0, x1 + 20, cy + 12))
    elif kind == "margin":
        fill(330, 120, w - 420, 8)
        for k in (1, 4):
            write(sample_text(pool, rng, words=(1, 2)), 40, 120 + k * step + 10, sz=30, width=250)
    elif kind == "columns":
        fill(60, 120, 440, 8)
        fill(580, 120, 440, 8)
    gray = np.clip(paper - dark, 0, 255).astype(np.uint8)
    gt.sort(key=lambda ln: _reading_key(ln, kind, w))
    if kind == "photo":
        gray, moved = photograph(gray, [ln.polygon for ln in gt], degrees=3.0, margin=0.12)
        for ln, p in zip(gt, moved):
            ln.polygon = p
    return gray, Page(None, gray.shape[1], gray.shape[0], gt)


def _rect(box) -> np.ndarray:
    x0, y0, x1, y1 = (int(v) for v in box)
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.int32)


def _reading_key(line: TextLine, kind: str, width: int):
    """Columns left then right; elsewhere top to bottom."""
    x0, y0 = line.polygon.min(0)
    column = int(x0 > width / 2) if kind == "columns" else 0
    return column, int(y0)
