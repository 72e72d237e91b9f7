"""Character n-gram language model for CTC beam search (shallow fusion).

Interpolated Witten-Bell estimates of order ``n`` (default 6) counted from plain text: the
probability of a character after the last ``n - 1`` characters, backing off smoothly to
shorter histories and finally to a uniform distribution. During beam search each new
character of a prefix adds ``weight * log P_lm(char | history) + bonus`` to its score
(:class:`Fusion`); the bonus offsets the LM's pull towards shorter texts.

Example:
    >>> lm = CharLM.train(["the seeds arrived", "many thanks"], order=6)
    >>> lm.save("my.lm.json.gz")
    >>> rec = Recognizer(lm="my.lm.json.gz")   # beam search with the LM
"""

from __future__ import annotations

import gzip
import json
import logging
import math
import zlib
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ArtifactError, HandwritingError
from .fileio import write_atomic

FORMAT_VERSION = 1
MAX_LM_BYTES = 256 * 2**20  # a language model's JSON, decompressed (the default: 8 MiB)
BOS, EOS = "\x02", "\x03"  # start and end of a line
WEIGHT, BONUS = 0.3, 1.0  # for an LM that records none; chosen on the shared val lines (README: lm)
BEAM = 10  # beam width with an LM when none is given
log = logging.getLogger(__name__)
MODEL_LM = "lm.json.gz"  # a model directory's own LM (`--lm model`)
# typographic variants an LM need not tell apart: counted and scored as the plain character
FOLD = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"', "«": '"', "»": '"'})


class CharLM:
    """Counts of characters after each history of up to ``order - 1`` characters, and the
    fusion ``weight`` and ``bonus`` to use it with, if known (else :data:`WEIGHT`,
    :data:`BONUS`)."""

    def __init__(
        self,
        order: int,
        counts: dict[str, dict[str, int]],
        weight: float | None = None,
        bonus: float | None = None,
    ):
        if order < 1:
            raise ValueError(f"LM order must be >= 1, got {order}")
        self.order = order
        self.counts = counts
        self.weight, self.bonus = weight, bonus
        self._stats = {h: (sum(c.values()), len(c)) for h, c in counts.items()}
        self.vocab = frozenset(counts.get("", {})) | {EOS}  # every character it has seen
        self._uniform = 1.0 / len(self.vocab)
        self._memo: dict[tuple[str, str], float] = {}

    @classmethod
    def train(cls, texts, order: int = 6, min_count: int = 1, progress: bool = False) -> CharLM:
        """Count every line of ``texts`` (each padded with start marks and ended by an end
        mark); n-grams of three or more characters seen fewer than ``min_count`` times are
        dropped (a smaller model, as KenLM prunes). ``progress``: a progress bar on stderr."""
        from tqdm.auto import tqdm

        counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        pad = BOS * (order - 1)
        for text in tqdm(texts, desc="counting", unit="line", disable=not progress):
            s = pad + text.translate(FOLD) + EOS
            for i in range(order - 1, len(s)):
                for k in range(order):
                    counts[s[i - k : i]][s[i]] += 1
        kept = {
            h: {k: v for k, v in c.items() if v >= min_count or len(h) < 2}
            for h, c in counts.items()
        }
        return cls(order, {h: c for h, c in kept.items() if c})

    def logp(self, history: str, char: str) -> float:
        """Natural log of P(``char`` | ``history``); the history is padded with start marks,
        so ``""`` is the start of a line. ``char`` may be :data:`EOS`."""
        key = (history, char)
        value = self._memo.get(key)
        if value is None:
            history = (BOS * (self.order - 1) + history)[len(history) :] if self.order > 1 else ""
            p = self._uniform
            for k in range(len(history) + 1):
                h = history[len(history) - k :]
                stats = self._stats.get(h)
                if stats is None:
                    break
                total, types = stats
                p = (self.counts[h].get(char, 0) + types * p) / (total + types)
            value = math.log(p)
            if len(self._memo) >= 500_000:  # bounded memory on long runs
                self._memo.clear()
            self._memo[key] = value
        return value

    def perplexity(self, texts) -> float:
        """Per-character perplexity of ``texts`` (end marks included)."""
        total, n = 0.0, 0
        for text in texts:
            text = text.translate(FOLD)
            for i, c in enumerate(text + EOS):
                total += self.logp(text[max(0, i - self.order + 1) : i], c)
                n += 1
        return math.exp(-total / max(1, n))

    def save(self, path: str | Path) -> Path:
        """Write gzipped JSON (atomic)."""
        path = Path(path)
        data = {
            "format_version": FORMAT_VERSION,
            "kind": "handwriting character LM",
            "order": self.order,
            "weight": self.weight,
            "bonus": self.bonus,
            "counts": self.counts,
        }
        write_atomic(
            path, gzip.compress(json.dumps(data, ensure_ascii=False).encode("utf-8"), mtime=0)
        )
        return path

    @classmethod
    def load(cls, path: str | Path) -> CharLM:
        path = Path(path)
        if path.is_dir():
            raise ArtifactError(
                f"{path}: is a directory; give the language model file "
                "(FILE.lm.json.gz, from `handwriting lm`)"
            )
        if not path.is_file():
            raise ArtifactError(
                f"{path}: language model not found (build one with "
                "`handwriting lm TEXT... --out FILE`)"
            )
        inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)  # gzip, one member
        try:
            text = inflate.decompress(path.read_bytes(), MAX_LM_BYTES + 1)
            if len(text) > MAX_LM_BYTES:
                raise ArtifactError(
                    f"{path}: expands to over {MAX_LM_BYTES // 2**20} MiB; not a language "
                    "model written by `handwriting lm`"
                )
            data = json.loads(text.decode("utf-8"))
        except (OSError, EOFError, ValueError, UnicodeDecodeError, RecursionError, zlib.error):
            raise ArtifactError(
                f"{path}: not a language model written by `handwriting lm`"
            ) from None
        if not isinstance(data, dict) or data.get("kind") != "handwriting character LM":
            raise ArtifactError(f"{path}: not a language model written by `handwriting lm`")
        if data.get("format_version") != FORMAT_VERSION:
            raise ArtifactError(
                f"{path}: language model format {data.get('format_version')}, "
                f"this version reads {FORMAT_VERSION}; rebuild it with `handwriting lm`"
            )
        for key in ("weight", "bonus"):
            value = data.get(key)
            if value is not None and (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not math.isfinite(value)
            ):
                raise ArtifactError(f"{path}: its {key} {value!r} is not a number; rebuild it")
        try:
            if not isinstance(data["counts"], dict):
                raise TypeError
            return cls(int(data["order"]), data["counts"], data.get("weight"), data.get("bonus"))
        except (KeyError, TypeError, ValueError, AttributeError):
            raise ArtifactError(
                f"{path}: a damaged language model (order or counts unreadable); "
                "rebuild it with `handwriting lm`"
            ) from None


@dataclass
class Fusion:
    """What beam search adds for each character: ``weight * log P_lm + bonus``.

    ``chars`` are the model's characters (label ``k`` is ``chars[k - 1]``); ``weight`` and
    ``bonus`` default to those recorded in the LM, else :data:`WEIGHT` and :data:`BONUS`.
    Typographic variants are scored as their plain character (:data:`FOLD`), and a character
    the LM has never seen (markup, ``&`` in an LM without it) as if the LM had no opinion: a
    uniform probability over the LM's characters, not the near-zero one its counts imply."""

    lm: CharLM
    chars: list[str]
    weight: float | None = None
    bonus: float | None = None
    source: str = ""  # the file it was loaded from
    _n: int = field(init=False)

    def __post_init__(self):
        if self.weight is None:
            self.weight = self.lm.weight if self.lm.weight is not None else WEIGHT
        if self.bonus is None:
            self.bonus = self.lm.bonus if self.lm.bonus is not None else BONUS
        self._n = self.lm.order - 1
        self._char = [""] + [c.translate(FOLD) for c in self.chars]  # label k -> the LM's character
        self._unseen = [c not in self.lm.vocab for c in self._char]
        self._unseen_score = self.weight * math.log(self.lm._uniform) + self.bonus

    def start(self) -> str:
        """The state before the first character: the history the LM sees (its last
        ``order - 1`` characters)."""
        return ""

    def extend(self, state: str, k: int) -> tuple[float, str]:
        """Score of appending label ``k`` after ``state``, and the state after it."""
        char = self._char[k]
        if self._unseen[k]:
            score = self._unseen_score
        else:
            score = self.weight * self.lm.logp(state, char) + self.bonus
        return score, (state + char)[-self._n :] if self._n else ""

    def end(self, state: str) -> float:
        """Score of ending the line after ``state``."""
        return self.weight * self.lm.logp(state, EOS)


def load_fusion(
    path: str | Path,
    chars: list[str],
    beam: int = 0,
    weight: float | None = None,
    bonus: float | None = None,
    model: str | Path | None = None,
) -> tuple[Fusion, int]:
    """The language model in ``path`` ready for beam search over the model's ``chars``, and
    the beam width to search with: ``beam`` if it is a beam (> 1), else :data:`BEAM`.
    ``weight`` and ``bonus`` default to the LM's own, else :data:`WEIGHT` and :data:`BONUS`.
    The string ``"model"`` means the LM shipped in the ``model`` directory (:data:`MODEL_LM`),
    or beside the ``model`` ``.tflite`` file (a file named model: ``./model``)."""
    if isinstance(path, str) and path == "model":
        if model is None:
            raise ArtifactError("--lm model needs a model to take the language model from")
        folder = Path(model)
        path = (folder.parent if folder.is_file() else folder) / MODEL_LM
        if not path.is_file():
            raise ArtifactError(
                f"{model}: this model has no language model ({MODEL_LM}); give "
                "--lm FILE (build one with `handwriting lm`)"
            )
    fusion = Fusion(CharLM.load(path), chars, weight, bonus, str(path))
    return fusion, beam if beam > 1 else BEAM


def read_texts(sources) -> list[str]:
    """Lines of text for :meth:`CharLM.train`: each UTF-8 text file gives its non-empty
    lines; each folder the transcriptions of its line ground truth (``.gt.txt``, ALTO,
    PAGE XML), found as ``train`` finds them."""
    from .charset import normalize_text
    from .errors import DataError
    from .groundtruth import scan_line_dirs

    texts: list[str] = []
    for source in map(Path, sources):
        if source.is_dir():
            records, problems = scan_line_dirs([source])
            if problems:
                log.warning(
                    "%s: %d problem(s), those files left out (%s%s)",
                    source,
                    len(problems),
                    problems[0].message,
                    ", ..." if len(problems) > 1 else "",
                )
            texts += [r.text for r in records if r.text]
        elif source.is_file():
            raw = source.read_bytes()
            if raw[:5] == b"%PDF-" or b"\0" in raw:
                kind = "a PDF" if raw[:5] == b"%PDF-" else "a binary file"
                raise DataError(
                    f"{source}: is {kind}, not a text file; give UTF-8 text (one line "
                    "of text per line) or a ground-truth folder"
                )
            try:
                lines = raw.decode("utf-8").splitlines()
            except UnicodeDecodeError:
                raise DataError(f"{source}: not UTF-8 text") from None
            texts += [t for t in (normalize_text(line) for line in lines) if t]
        else:
            raise DataError(f"{source}: file or folder not found")
    if not texts:
        raise DataError(f"no text found in {', '.join(map(str, sources))}")
    return texts


# French elisions that wordfreq splits off ("l'homme" -> "l", "homme"): written back with the
# apostrophe before a vowel or h, as the full word elsewhere
_ELISIONS = {
    "fr": {
        "l": "le",
        "d": "de",
        "j": "je",
        "n": "ne",
        "m": "me",
        "s": "se",
        "t": "te",
        "c": "ce",
        "qu": "que",
        "jusqu": "jusque",
        "lorsqu": "lorsque",
        "puisqu": "puisque",
    }
}
_VOWELS = set("aeiouyhàâäéèêëîïôöùûüœæ")


def wordfreq_texts(
    languages, lines: int = 100_000, words: int = 30_000, seed: int = 0
) -> list[str]:
    """Pseudo-text for :meth:`CharLM.train` from the word frequencies of the ``wordfreq``
    package (``pip install wordfreq``; data CC-BY-SA 4.0): ``lines`` lines of 3-11 words
    drawn by frequency from the ``words`` most frequent words of one of ``languages`` (e.g.
    ``["en", "fr"]``), with capitals and punctuation at fixed rates. It teaches an LM how
    words are spelled and where they end, not which words follow which, and it carries no
    text of anyone's ground truth. Seeded."""
    import numpy as np

    try:
        import wordfreq
    except ImportError:
        raise HandwritingError(
            "--wordfreq needs the wordfreq package: pip install wordfreq"
        ) from None
    from .charset import normalize_text

    known = wordfreq.available_languages("large") | wordfreq.available_languages("best")
    vocab = []
    for lang in languages:
        if lang not in known:
            raise HandwritingError(
                f"wordfreq has no word list for {lang!r}; it has {', '.join(sorted(known))}"
            )
        freqs = wordfreq.get_frequency_dict(lang, wordlist="best")
        top = sorted(freqs, key=freqs.get, reverse=True)[:words]
        cum = np.cumsum([freqs[w] for w in top])
        vocab.append((lang, top, cum / cum[-1]))
    rng = np.random.default_rng(seed)
    texts = []
    for _ in range(lines):
        lang, top, cum = vocab[int(rng.integers(len(vocab)))]
        elide = _ELISIONS.get(lang, {})
        picked = [top[i] for i in np.searchsorted(cum, rng.random(int(rng.integers(3, 12))))]
        out, capital = [], bool(rng.random() < 0.5)
        for j, word in enumerate(picked):
            word = "".join(str(rng.integers(10)) if c == "0" else c for c in word)  # wordfreq's 0s
            if lang == "en" and (word == "i" or word.startswith("i'")):
                word = "I" + word[1:]
            if capital or rng.random() < 0.05:
                word = word[:1].upper() + word[1:]
            capital = False
            if word.lower() in elide:
                if j + 1 < len(picked) and picked[j + 1][:1] in _VOWELS:
                    out.append(word + "'")
                    continue
                word = word[:1] + elide[word.lower()][1:]
            r = rng.random()
            if r < 0.06:
                word += ","
            elif r < 0.10:
                word, capital = word + ".", True
            elif r < 0.11:
                word += ";:!?"[int(rng.integers(4))]
            out.append(word + " ")
        if text := normalize_text("".join(out)):
            texts.append(text)
    return texts
