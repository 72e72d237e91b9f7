"""Fixtures shared by the tests: lines the tests draw themselves (no ../shared needed)."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import cv2
import numpy as np
import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def render_line(
    text: str,
    height: int = 48,
    scale: float = 1.0,
    thickness: int = 2,
    font: int = cv2.FONT_HERSHEY_SIMPLEX,
    margin: int = 12,
) -> np.ndarray:
    """Dark text on light paper, uint8 grayscale."""
    (w, h), base = cv2.getTextSize(text, font, scale, thickness)
    img = np.full((h + base + 2 * margin, w + 2 * margin), 235, np.uint8)
    cv2.putText(img, text, (margin, margin + h), font, scale, 30, thickness, cv2.LINE_AA)
    return img


def write_line_dir(root: Path, texts: list[str], prefix: str = "l", **kw) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for i, t in enumerate(texts):
        cv2.imwrite(str(root / f"{prefix}{i:04d}.png"), render_line(t, **kw))
        (root / f"{prefix}{i:04d}.gt.txt").write_text(t, encoding="utf-8")
    return root


def digit_texts(n: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    return ["".join(rng.choice(list("0123456789"), size=rng.integers(2, 5))) for _ in range(n)]


@pytest.fixture
def shared_data() -> Path:
    if not (SHARED / "lines").is_dir():
        pytest.skip(f"needs the shared ground truth at {SHARED} (absent in this checkout)")
    return SHARED


TINY = {
    "preprocess": {"height": 24, "pad": 4},
    "model": {
        "conv_filters": [8, 16],
        "pools": [[2, 2], [2, 1]],
        "projection": 32,
        "lstm_units": 24,
        "lstm_layers": 2,
        "dropout": 0.0,
    },
    "train": {
        "batch_size": 8,
        "learning_rate": 0.01,
        "augment": False,
        "early_stopping": 0,
        "lr_patience": 0,
    },
}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """An untrained tiny model directory (digits), for CLI and page tests."""
    from handwriting import artifacts
    from handwriting.charset import Charset
    from handwriting.config import ModelConfig, PreprocessConfig
    from handwriting.model import build_model

    path = tmp_path_factory.mktemp("m") / "model"
    cs = Charset(list("0123456789"))
    mc, pc = ModelConfig.from_dict(TINY["model"]), PreprocessConfig.from_dict(TINY["preprocess"])
    artifacts.save(path, build_model(mc, cs.n_classes, pc.height), cs, pc, mc)
    return path


def write_alto(page, path, image_name=None):
    """Save ``page`` as ALTO at ``path`` (test fixtures of page ground truth)."""
    from handwriting.pages import save_page

    return save_page(page, path, "alto", image_name)


def write_page_xml(page, path, image_name=None):
    """Save ``page`` as PAGE XML at ``path``."""
    from handwriting.pages import save_page

    return save_page(page, path, "page", image_name)


def write_hocr(page, path, image_name=None):
    """Save ``page`` as hOCR at ``path``."""
    from handwriting.pages import save_page

    return save_page(page, path, "hocr", image_name)


def free_ports(n: int = 1) -> list[int]:
    """``n`` TCP ports free on 127.0.0.1 right now (for servers and workers the tests start)."""
    import socket

    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def pdf_words(pdf: Path, page: int) -> list[tuple[float, float, float, float, str]]:
    """The words poppler's ``pdftotext -bbox`` finds on ``page`` (from 1) of ``pdf``, in the
    order it reads them: (x0, y0, x1, y1 in points from the top left, text)."""
    import html
    import re
    import subprocess

    got = subprocess.run(
        ["pdftotext", "-bbox", "-f", str(page), "-l", str(page), str(pdf), "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    found = re.findall(
        r'<word xMin="([\d.]+)" yMin="(-?[\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)</word>',
        got,
    )
    return [(float(a), float(b), float(c), float(d), html.unescape(t)) for a, b, c, d, t in found]


def assert_words_over_boxes(found, words, dpi: float, page=None) -> None:
    """Check ``found`` (:func:`pdf_words`) against the recognized ``words`` (JSON word
    dicts with ``text`` and a pixel ``box``) of a page scanned at ``dpi``: the same words in
    the same order, each within 2 pt of its box across and centred on it (8 pt) down."""
    assert [f[4] for f in found] == [w["text"] for w in words], page
    pt = 72 / dpi
    for (x0, y0, x1, y1, _), w in zip(found, words):
        bx0, by0, bx1, by1 = (v * pt for v in w["box"])
        assert abs(x0 - bx0) <= 2 and abs(x1 - bx1) <= 2, (page, w)
        assert by0 - 8 <= (y0 + y1) / 2 <= by1 + 8, (page, w)


def write_page(path, texts):
    """A page image at ``path``: the ``texts`` rendered as lines one under the other."""
    lines = [render_line(t, scale=1.2) for t in texts]
    w = max(l.shape[1] for l in lines) + 80
    page = np.full((60 + sum(l.shape[0] + 30 for l in lines) + 200, w), 235, np.uint8)
    y = 60
    for l in lines:
        page[y : y + l.shape[0], 40 : 40 + l.shape[1]] = l
        y += l.shape[0] + 30
    cv2.imwrite(str(path), page)
    return path
