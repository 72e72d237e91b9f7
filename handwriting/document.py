"""The document model every part of the package shares: a :class:`Page` of
:class:`TextLine` objects with their :class:`Word` objects, and the :class:`Problem` that
keeps a bad input out of a batch. Segmentation makes pages, recognition fills in their text,
:mod:`handwriting.formats` reads and writes them, evaluation and training read them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass
class Problem:
    """Something in an input a user should fix (the file, and what is wrong); the input is
    skipped and the rest of the batch goes on."""

    path: Path
    message: str


@dataclass
class Word:
    """A read word: its text, its box ``(x0, y0, x1, y1)`` in pixels (``x1``, ``y1``
    exclusive) and its confidence."""

    text: str
    box: tuple[int, int, int, int]
    confidence: float | None = None

    def to_dict(self) -> dict:
        """``{"text", "box": [x0, y0, x1, y1], "confidence"}`` (rounded to 4 decimals)."""
        return {
            "text": self.text,
            "box": [int(v) for v in self.box],
            "confidence": None if self.confidence is None else round(self.confidence, 4),
        }

    def moved(self, dx: int, dy: int) -> Word:
        """The same word with its box shifted by ``(dx, dy)``."""
        x0, y0, x1, y1 = self.box
        return Word(self.text, (x0 + dx, y0 + dy, x1 + dx, y1 + dy), self.confidence)


@dataclass
class TextLine:
    """A line of a page: its polygon and baseline (``(N, 2)`` int pixels), and once read its
    text, confidence and words (boxes in page pixels)."""

    id: str
    polygon: np.ndarray
    baseline: np.ndarray | None
    text: str | None = None
    confidence: float | None = None
    words: list[Word] | None = None


@dataclass
class Page:
    """A page image (its path, if it has one), its size in pixels, its lines in reading
    order, and the boxes ``(x0, y0, x1, y1)`` of writing that segmentation left outside
    every line (``unread``)."""

    image: Path | None
    width: int
    height: int
    lines: list[TextLine]
    unread: list[tuple[int, int, int, int]] = field(default_factory=list)
