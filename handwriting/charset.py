"""The character set: CTC blank at index 0, characters from 1."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence

from .errors import CharsetError

BLANK = 0


def normalize_text(text: str) -> str:
    """NFC, outer whitespace stripped, inner whitespace runs collapsed to one space."""
    return " ".join(unicodedata.normalize("NFC", text).split())


class Charset:
    """Maps characters to class indices; index 0 is the CTC blank.

    Args:
        chars: the characters, each once; their order fixes the indices (1, 2, ...).

    Example:
        >>> cs = Charset.from_texts(["abc", "cab"])
        >>> cs.decode(cs.encode("cab"))
        'cab'
    """

    def __init__(self, chars: Sequence[str]):
        chars = list(chars)
        if any(len(c) != 1 for c in chars):
            raise CharsetError("charset entries must be single characters")
        if len(set(chars)) != len(chars):
            raise CharsetError("charset has duplicate characters")
        self.chars = chars
        self._index = {c: i + 1 for i, c in enumerate(chars)}

    @classmethod
    def from_texts(cls, texts: Iterable[str]) -> Charset:
        return cls(sorted({c for t in texts for c in t}))

    def __len__(self) -> int:
        return len(self.chars)

    def __contains__(self, char: str) -> bool:
        return char in self._index

    def __eq__(self, other) -> bool:
        return isinstance(other, Charset) and self.chars == other.chars

    @property
    def n_classes(self) -> int:
        """Output classes of the network: the characters plus the blank."""
        return len(self.chars) + 1

    def unknown(self, text: str) -> list[str]:
        """Characters of ``text`` that are not in the charset, in order of appearance."""
        return sorted({c for c in text if c not in self._index}, key=text.index)

    def encode(self, text: str) -> list[int]:
        missing = self.unknown(text)
        if missing:
            shown = ", ".join(f"{c!r} (U+{ord(c):04X})" for c in missing)
            raise CharsetError(f"characters not in the charset: {shown}")
        return [self._index[c] for c in text]

    def decode(self, ids: Iterable[int]) -> str:
        return "".join(self.chars[i - 1] for i in ids if 0 < i <= len(self.chars))

    def extend(self, texts: Iterable[str]) -> Charset:
        """A charset with the same indices for known characters and new ones appended."""
        new = sorted({c for t in texts for c in t} - set(self.chars))
        return Charset(self.chars + new)

    def to_list(self) -> list[str]:
        return list(self.chars)

    @classmethod
    def from_list(cls, chars: Sequence[str]) -> Charset:
        return cls(chars)
