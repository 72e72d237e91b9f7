"""CTC decoding (greedy and prefix beam search) with confidences, and CER / WER.

Input is a probability matrix ``(T, C)`` per line (softmax output, class 0 = blank) and the
number of valid frames; output is the label sequence with one confidence per character
(the highest probability of the character over the frames it was read from), the frame where
each character peaks, and a line confidence (mean of the character confidences).
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from .charset import BLANK, Charset
from .preprocessing import bucket


@dataclass
class Decoded:
    labels: list[int]
    char_confidences: list[float]
    positions: list[int]  # frame index of each character's peak
    confidence: float


@dataclass
class Prediction:
    text: str
    confidence: float
    char_confidences: list[float] = field(default_factory=list)
    positions: list[int] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "text": self.text,
            "confidence": round(self.confidence, 4),
            "chars": [
                {"char": c, "confidence": round(p, 4)}
                for c, p in zip(self.text, self.char_confidences)
            ],
        }


@dataclass
class WordSpan:
    text: str
    first: float  # frame (fractional: its middle) where the word's first character peaks
    last: float  # and its last
    confidence: float  # mean of its characters'


def word_spans(pred: Prediction) -> list[WordSpan]:
    """The words of ``pred`` (split on whitespace) with the frames where their first and last
    characters peak. Empty when the prediction carries no peak positions."""
    if not pred.text or len(pred.positions) != len(pred.text):
        return []
    centres = np.asarray(pred.positions, np.float64) + 0.5
    return [
        WordSpan(
            m.group(),
            float(centres[m.start()]),
            float(centres[m.end() - 1]),
            float(np.mean(pred.char_confidences[m.start() : m.end()])),
        )
        for m in re.finditer(r"\S+", pred.text)
    ]


def _line_confidence(probs: np.ndarray, confs: list[float]) -> float:
    if confs:
        return float(np.mean(confs))
    # nothing read: how sure the model is that the line is empty
    return float(probs[:, BLANK].mean()) if len(probs) else 0.0


def greedy_decode(probs: np.ndarray, length: int | None = None) -> Decoded:
    """Best path: argmax per frame, repeats merged, blanks removed."""
    probs = np.asarray(probs)[: length if length is not None else None]
    best = probs.argmax(axis=1)
    peak = probs.max(axis=1)
    labels, confs, pos = [], [], []
    prev = BLANK
    for t, k in enumerate(best):
        k = int(k)
        if k != BLANK and k != prev:
            labels.append(k)
            confs.append(float(peak[t]))
            pos.append(t)
        elif k != BLANK and k == prev and peak[t] > confs[-1]:
            confs[-1], pos[-1] = float(peak[t]), t
        prev = k
    return Decoded(labels, confs, pos, _line_confidence(probs, confs))


def _logsumexp(a: float, b: float) -> float:
    if a < b:
        a, b = b, a
    return a if b == -math.inf else a + math.log1p(math.exp(b - a))


def beam_decode(
    probs: np.ndarray,
    beam_width: int = 10,
    length: int | None = None,
    prune: float = 1e-3,
    fusion=None,
) -> Decoded:
    """CTC prefix beam search. Characters whose probability is below ``prune`` in a frame
    are not considered as extensions in that frame. ``fusion`` (a
    :class:`~handwriting.lm.Fusion`, or anything with ``start() -> state``,
    ``extend(state, k) -> (log score, state)`` and ``end(state) -> log score``) adds a
    language model's score to each prefix."""
    probs = np.asarray(probs, dtype=np.float64)[: length if length is not None else None]
    logp = np.log(np.maximum(probs, 1e-30))
    # beam entry: prefix -> (log p ending in blank, log p ending in non-blank)
    beams: dict[tuple[int, ...], list[float]] = {(): [0.0, -math.inf]}
    # per prefix: best probability and frame of each of its characters
    info: dict[tuple[int, ...], tuple[tuple[float, ...], tuple[int, ...]]] = {(): ((), ())}
    # per prefix: its language-model score and state
    lm: dict[tuple[int, ...], tuple[float, object]] = {
        (): (0.0, fusion.start() if fusion else None)
    }
    for t in range(len(probs)):
        candidates = np.flatnonzero(probs[t] >= prune).tolist()
        row, prow = logp[t].tolist(), probs[t].tolist()  # plain floats: faster to index
        nxt: dict[tuple[int, ...], list[float]] = defaultdict(lambda: [-math.inf, -math.inf])
        for prefix, (pb, pnb) in beams.items():
            total = _logsumexp(pb, pnb)
            last = prefix[-1] if prefix else None
            for k in candidates:
                p = row[k]
                if k == BLANK:
                    e = nxt[prefix]
                    e[0] = _logsumexp(e[0], total + p)
                    continue
                ext = prefix + (k,)
                e = nxt[ext]
                if k == last:
                    e[1] = _logsumexp(e[1], pb + p)  # a repeat needs a blank between
                    same = nxt[prefix]
                    same[1] = _logsumexp(same[1], pnb + p)
                    confs, frames = info[prefix]
                    if prow[k] > confs[-1]:
                        info[prefix] = (confs[:-1] + (prow[k],), frames[:-1] + (t,))
                else:
                    e[1] = _logsumexp(e[1], total + p)
                if ext not in info:
                    confs, frames = info[prefix]
                    info[ext] = (confs + (prow[k],), frames + (t,))
                if ext not in lm:
                    score, state = lm[prefix]
                    if fusion:
                        add, state = fusion.extend(state, k)
                        score += add
                    lm[ext] = score, state
        beams = dict(
            sorted(nxt.items(), key=lambda kv: -_logsumexp(*kv[1]) - lm[kv[0]][0])[:beam_width]
        )
    best = max(
        beams,
        key=lambda pr: (
            _logsumexp(*beams[pr]) + lm[pr][0] + (fusion.end(lm[pr][1]) if fusion else 0.0)
        ),
    )
    confs, frames = info[best]
    return Decoded(list(best), list(confs), list(frames), _line_confidence(probs, list(confs)))


def decode(
    probs: np.ndarray, lengths, charset: Charset, beam: int = 0, fusion=None
) -> list[Prediction]:
    """Decode a batch ``(B, T, C)``; ``beam`` <= 1 means greedy (``fusion``, a language model
    for beam search, is then not used)."""
    out = []
    for p, n in zip(probs, lengths):
        d = (
            beam_decode(p, beam, int(n), fusion=fusion)
            if beam and beam > 1
            else greedy_decode(p, int(n))
        )
        out.append(
            Prediction(charset.decode(d.labels), d.confidence, d.char_confidences, d.positions)
        )
    return out


def predict_lines(
    predict,
    lines: list[np.ndarray],
    charset: Charset,
    downsample: int,
    batch_size: int = 16,
    beam: int = 0,
    progress: bool = False,
    fusion=None,
) -> list[Prediction]:
    """Batched recognition of normalized lines (float H x W each) with any model callable
    ``predict((B, H, W, 1) float32) -> (B, T, C) probabilities``: each line is padded to its
    own bucketed width and batched only with lines of that width (so it reads the same alone or
    among others, at any batch size), predicted, and decoded with its true frame count.
    ``progress`` shows a progress bar on stderr; ``fusion``: a language model for beam search."""
    from tqdm.auto import tqdm

    out: list[Prediction | None] = [None] * len(lines)
    widths = [bucket(l.shape[1]) for l in lines]
    batches: list[list[int]] = []
    for j in np.argsort([l.shape[1] for l in lines], kind="stable"):
        if batches and len(batches[-1]) < batch_size and widths[batches[-1][0]] == widths[j]:
            batches[-1].append(int(j))
        else:
            batches.append([int(j)])
    with tqdm(total=len(lines), desc="recognizing", unit="line", disable=not progress) as bar:
        for idx in batches:
            batch = [lines[j] for j in idx]
            width = widths[idx[0]]
            x = np.zeros((len(batch), batch[0].shape[0], width, 1), np.float32)
            for row, l in enumerate(batch):
                x[row, :, : l.shape[1], 0] = l
            probs = np.asarray(predict(x))
            lengths = [min(l.shape[1] // downsample, probs.shape[1]) for l in batch]
            for j, p in zip(idx, decode(probs, lengths, charset, beam, fusion)):
                out[j] = p
            bar.update(len(idx))
    return out  # type: ignore[return-value]
