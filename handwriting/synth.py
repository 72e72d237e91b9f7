"""Synthetic handwritten-looking lines rendered from openly licensed handwriting fonts.

Seeded and configurable: the text source (a UTF-8 file, one sentence or paragraph per line, or
the built-in sentences below), the fonts (Debian packages fonts-dancingscript, fonts-sjfonts,
fonts-kristi, fonts-breip by default; any .ttf/.otf path works), sizes and paper. A text is
only drawn in a font that has glyphs for all its characters (fontTools cmap), so no label is
wrong. Output follows the line ground-truth convention: ``<id>.png`` + ``<id>.gt.txt``.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import cv2
import numpy as np

from .charset import normalize_text
from .errors import HandwritingError
from .fileio import write_atomic

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

SENTENCES = """\
The garden was quiet after the rain, and the path shone under the lamps.
Please send the two parcels to the station before Tuesday morning.
I have read your letter of the 14th with much pleasure and some surprise.
We arrived at Dover at half past nine; the sea was calm and grey.
Meeting moved to Room 12, 3:30 pm. Bring the budget notes (draft 2).
She wrote down 47 names, then crossed out the last three.
Le train de Lyon arrive à 18 h 45, quai numéro 3.
Nous avons visité la cathédrale, puis le marché couvert près du fleuve.
Merci pour votre réponse ; je vous écris de nouveau la semaine prochaine.
Il faisait très froid ce matin-là, et la neige couvrait déjà les toits.
Rendez-vous le 2 mai à l'école, avec les cahiers et les crayons.
Ce livre raconte l'histoire d'une famille qui quitte la ville en 1923.
Où est passé le chat ? Il dort sans doute sous l'escalier.
Total: 1 250 francs, payé le 7 juin, reçu n° 58.
Dear Sir, I enclose the seeds you asked for, with my best wishes.
The committee agreed to meet again in October, weather permitting.
"""


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


def font_chars(font: str | Path) -> frozenset[str]:
    """The characters the font has glyphs for (its best Unicode cmap)."""
    from fontTools.ttLib import TTFont
    try:
        with TTFont(str(font), lazy=True) as f:
            return frozenset(chr(c) for c in f.getBestCmap())
    except Exception as exc:  # missing file, not a font, no Unicode cmap
        raise HandwritingError(f"{font}: cannot load font ({exc})") from None


def text_pool(path: str | Path | None = None) -> list[str]:
    """Sentences to draw from: the lines of a UTF-8 text file (or the transcriptions of a
    ground-truth folder), else the built-in ones; a clear error if there are none."""
    if path:
        from .lm import read_texts
        return read_texts([path])
    return [normalize_text(l) for l in SENTENCES.splitlines() if l.strip()]


def sample_text(pool: list[str], rng: np.random.Generator, digits: float = 0.0,
                words: tuple[int, int] = (3, 9)) -> str:
    """A span of consecutive words from a random sentence, or a digit string."""
    if rng.random() < digits:
        n = int(rng.integers(4, 12))
        s = "".join(rng.choice(list("0123456789 .,/-:"), size=n)).strip()
        return normalize_text(s) or "0"
    ws = pool[int(rng.integers(len(pool)))].split()
    n = int(rng.integers(words[0], words[1] + 1))
    start = int(rng.integers(0, max(1, len(ws) - n + 1)))
    return " ".join(ws[start:start + n])


def render_text(text: str, font: str | Path, rng: np.random.Generator, size: int = 48,
                height: int | None = None) -> np.ndarray:
    """Render one line as uint8 grayscale: ink on paper, slight rotation, blur and noise."""
    from PIL import Image, ImageDraw, ImageFont
    try:
        pil_font = ImageFont.truetype(str(font), size)
    except OSError as exc:
        raise HandwritingError(f"{font}: cannot load font ({exc})") from None
    left, top, right, bottom = pil_font.getbbox(text)
    margin = size // 3
    w, h = right - left + 2 * margin, bottom - top + 2 * margin
    paper = int(rng.integers(200, 250))
    ink = int(rng.integers(10, 90))
    img = Image.new("L", (max(w, 8), max(h, 8)), paper)
    ImageDraw.Draw(img).text((margin - left, margin - top), text, font=pil_font, fill=ink)
    a = np.asarray(img).astype(np.float32)
    angle = rng.uniform(-1.5, 1.5)
    m = cv2.getRotationMatrix2D((a.shape[1] / 2, a.shape[0] / 2), angle, 1.0)
    a = cv2.warpAffine(a, m, (a.shape[1], a.shape[0]), borderValue=paper)
    if rng.random() < 0.5:
        a = cv2.GaussianBlur(a, (0, 0), rng.uniform(0.3, 1.0))
    a = a + rng.normal(0, rng.uniform(1, 6), a.shape)
    out = np.clip(a, 0, 255).astype(np.uint8)
    if height:
        out = cv2.resize(out, (max(1, round(out.shape[1] * height / out.shape[0])), height),
                         interpolation=cv2.INTER_AREA)
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
        hit = ((source == out_dir or source in out_dir.parents) and out_dir.is_dir()
               and any(label.fullmatch(p.name) for p in out_dir.iterdir()))
    else:
        hit = source.parent == out_dir and label.fullmatch(source.name)
    if hit:
        raise HandwritingError(f"--text {text}: synth would write over it in --out {out}; "
                               "keep the text elsewhere")


def generate(out: str | Path, count: int, seed: int = 0, text: str | Path | None = None,
             fonts=None, digits: float = 0.0, height: int = 64, prefix: str = "synth",
             progress: bool = True) -> list[Path]:
    """Write ``count`` synthetic line pairs to ``out``; returns the image paths."""
    from tqdm.auto import tqdm
    if Path(out).exists() and not Path(out).is_dir():
        raise HandwritingError(f"--out {out} is a file; give a folder for the line pairs")
    _check_text_kept(text, out, prefix)
    fonts = [Path(f) for f in fonts] if fonts else find_fonts()
    if not fonts:
        raise HandwritingError("no handwriting fonts found; install e.g. `apt-get install "
                               "fonts-dancingscript fonts-sjfonts fonts-kristi fonts-breip` "
                               "or pass --fonts FILE.ttf")
    covers = [font_chars(f) for f in fonts]
    pool = text_pool(text)
    rng = np.random.default_rng(seed)
    out = Path(out)
    paths = []
    for i in tqdm(range(count), desc="rendering", disable=not progress, unit="line"):
        for _ in range(MAX_TRIES):  # a font without a glyph would draw a box: label wrong
            line = sample_text(pool, rng, digits)
            usable = [f for f, c in zip(fonts, covers) if set(line) - {" "} <= c]
            if usable:
                break
        else:
            raise HandwritingError(f"none of the fonts has glyphs for the text drawn {MAX_TRIES} "
                                   f"times in a row (last: {line!r}); use other fonts or text")
        font = usable[int(rng.integers(len(usable)))]
        img = render_text(line, font, rng, size=int(rng.integers(40, 60)), height=height)
        # (--out is made by the first write: text no font can draw leaves no empty folder)
        paths.append(_write_pair(out, f"{prefix}_{i:06d}", img, line))
    return paths


def render_page(lines: list[str], font: str | Path, seed: int = 0, size: int = 44,
                width: int = 1200) -> np.ndarray:
    """A simple page: the given lines rendered one under the other on one sheet."""
    rng = np.random.default_rng(seed)
    rendered = [render_text(l, font, rng, size=size) for l in lines]
    paper = 235
    gap = size // 2
    h = sum(r.shape[0] for r in rendered) + gap * (len(rendered) + 3)
    w = max(width, max(r.shape[1] for r in rendered) + 2 * gap)
    page = np.full((h, w), paper, np.uint8)
    y = 2 * gap
    for r in rendered:
        x = int(rng.integers(gap, gap * 2))
        region = page[y:y + r.shape[0], x:x + r.shape[1]]
        np.minimum(region, r, out=region)
        y += r.shape[0] + gap
    return page


def photograph(page: np.ndarray, polygons=(), degrees: float = 3.0, ground: int = 55,
               margin: float = 0.25, light: float = 0.4) -> tuple[np.ndarray, list[np.ndarray]]:
    """The page as photographed on a dark table: a border of ``ground`` grey ``margin`` times
    the page's longer side wide, turned by ``degrees``, lit from the right (the left edge
    ``light`` darker). ``polygons`` (``(N, 2)`` arrays in ``page`` coordinates) come back
    moved along, as int32 arrays in the photo's coordinates."""
    h, w = page.shape
    b = int(margin * max(h, w))
    big = np.full((h + 2 * b, w + 2 * b), ground, np.uint8)
    big[b:b + h, b:b + w] = page
    turn = cv2.getRotationMatrix2D((big.shape[1] / 2, big.shape[0] / 2), degrees, 1.0)
    out = cv2.warpAffine(big, turn, big.shape[::-1], borderValue=ground)
    lit = 1.0 - light + light * np.linspace(0, 1, out.shape[1])[None, :]
    out = np.clip(out * lit, 0, 255).astype(np.uint8)
    moved = [cv2.transform((np.asarray(p, np.float64) + b).reshape(-1, 1, 2), turn)
             .reshape(-1, 2).round().astype(np.int32) for p in polygons]
    return out, moved
