"""``Recognizer``: the one inference path (image -> shared preprocessing -> model -> shared decode).

Backends: a ``.tflite`` file run by LiteRT (the default model's, and any export), or a Keras
model directory (the ``[train]`` extra). Both read their preprocessing parameters from the
model, never from a constant.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from . import artifacts
from .charset import Charset
from .config import PreprocessConfig
from .decode import Prediction, predict_lines, word_spans
from .document import Word
from .errors import ArtifactError, HandwritingError
from .images import load_image
from .preprocessing import InkExtent, pad_to_bucket, preprocess, preprocess_with_extent

log = logging.getLogger(__name__)

BACKENDS = ("auto", "litert", "keras")


def model_source(model: str | Path | None = None, backend: str = "auto") -> tuple[Path, str]:
    """The file or directory a model argument is read from, and by which backend.

    ``model``: a model directory, a ``.tflite`` file, ``"default"`` or None (see
    :func:`handwriting.artifacts.resolve`). ``backend``: ``"litert"`` reads a ``.tflite``
    file (a directory's own export), ``"keras"`` a model directory's weights, and ``"auto"``
    LiteRT for a ``.tflite`` file and for the default model, Keras for other directories.
    Raises :class:`ArtifactError` when the model is not there.
    """
    if backend not in BACKENDS:
        raise HandwritingError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    path = artifacts.resolve(model)
    if not path.exists():
        hint = ""
        if path == artifacts.DEFAULT_MODEL_DIR:
            hint = " (the default model ships inside the package: reinstall handwriting)"
        elif model is None:
            hint = " (from $HANDWRITING_MODEL)"
        raise ArtifactError(f"{path}: model not found{hint}")
    if path.suffix.lower() == ".tflite":
        if backend == "keras":
            raise HandwritingError(
                f"{path}: a .tflite file is read by LiteRT; --backend keras needs a model directory"
            )
        return path, "litert"
    if backend == "litert" or (backend == "auto" and artifacts.is_default(path)):
        if path.is_dir():
            return artifacts.find_tflite(path), "litert"
    return path, "keras"


@dataclass
class Result:
    """What one input became: a prediction, or the error that stopped it."""

    source: str
    prediction: Prediction | None = None
    error: str | None = None
    words: list[Word] = field(default_factory=list)  # boxes in the input image's pixels

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict:
        if not self.ok:
            return {"source": self.source, "error": self.error}
        return {
            "source": self.source,
            **self.prediction.to_dict(),
            "words": [w.to_dict() for w in self.words],
        }


def _widest_run(flags: np.ndarray) -> tuple[int, int]:
    """Start and length of the longest run of True in ``flags`` ((0, 0) if none)."""
    edges = np.flatnonzero(np.diff(np.r_[0, flags.astype(np.int8), 0]))
    if edges.size == 0:
        return 0, 0
    starts, ends = edges[::2], edges[1::2]
    k = int(np.argmax(ends - starts))
    return int(starts[k]), int(ends[k] - starts[k])


class Backend(Protocol):
    """What a recognizer backend provides (:class:`KerasBackend`, and
    :class:`~handwriting.runtime.LiteBackend` for ``.tflite`` files)."""

    charset: Charset
    preprocess_config: PreprocessConfig
    downsample: int  # input columns per output frame
    meta: dict  # the model's own description (handwriting.json, or the .tflite metadata)

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """``(B, H, W, 1)`` float32 lines (ink 1, paper 0) -> ``(B, W / downsample, C)``
        class probabilities, class 0 the CTC blank."""
        ...


class KerasBackend:
    """A Keras model directory: ``predict((B, H, W, 1)) -> (B, T, C)`` probabilities, one
    compiled forward pass per batch. Needs the ``[train]`` extra."""

    def __init__(self, path: Path):
        art = artifacts.load(path)
        self.model = art.model
        self.charset = art.charset
        self.preprocess_config = art.preprocess
        self.downsample = art.model_config.downsample
        self.meta = art.meta
        self._predict = None

    def predict(self, batch: np.ndarray) -> np.ndarray:
        from ._keras import keras

        if self._predict is None:
            self._predict = _compiled_predict(self.model)
        return keras.ops.convert_to_numpy(self._predict(batch))


def _compiled_predict(model):
    from ._keras import keras

    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return tf.function(lambda x: model(x, training=False), reduce_retracing=True)
    if keras.backend.backend() == "jax":
        import jax

        fn = jax.jit(lambda tv, ntv, x: model.stateless_call(tv, ntv, x, training=False)[0])
        return lambda x: fn(
            [v.value for v in model.trainable_variables],
            [v.value for v in model.non_trainable_variables],
            x,
        )
    return lambda x: model(x, training=False)


class Recognizer:
    """Read line images with a trained model.

    Args:
        model: a ``.tflite`` file, a model directory, or ``"default"`` (default:
            ``$HANDWRITING_MODEL``, else ``"default"``, the model shipped in the package).
        backend: ``"auto"`` (LiteRT for a ``.tflite`` file and the default model, Keras for
            other model directories), ``"litert"`` or ``"keras"``; see :func:`model_source`.
        batch_size: lines per forward pass.
        beam: beam width for CTC decoding (0 or 1: greedy; 10 when an ``lm`` is given).
        threads: CPU threads of LiteRT: the lines of a batch are read by this many
            interpreters in parallel (default: the cores this process may use, at most 8).
        lm: a character language model file (``handwriting lm``) for beam search, or
            ``"model"``: the one shipped in the model directory (the default model has one).
        lm_weight, lm_bonus: each character adds ``lm_weight * log P_lm + lm_bonus``
            (default: the values recorded in the LM, else 0.3 and 1.0).

    Example:
        >>> rec = Recognizer()  # the default model, read by LiteRT
        >>> rec.recognize(["line.png"])[0].prediction.text
    """

    def __init__(
        self,
        model: str | Path | None = None,
        batch_size: int = 16,
        beam: int = 0,
        threads: int | None = None,
        lm: str | Path | None = None,
        lm_weight: float | None = None,
        lm_bonus: float | None = None,
        backend: str = "auto",
    ):
        if batch_size < 1 or beam < 0:
            raise ValueError(f"batch_size must be >= 1 and beam >= 0, got {batch_size} and {beam}")
        path, kind = model_source(model, backend)
        self.backend: Backend
        if kind == "litert":
            from .runtime import LiteBackend

            self.backend = LiteBackend(path, threads=threads)
        else:
            self.backend = KerasBackend(path)
        self.path = path
        self.backend_name = kind
        self.batch_size = batch_size
        self.beam = beam
        self.fusion = None
        if lm is not None:
            from .lm import load_fusion

            self.fusion, self.beam = load_fusion(
                lm, self.charset.chars, beam or 0, lm_weight, lm_bonus, model=path
            )

    @property
    def decoding(self) -> dict:
        """How lines are decoded: the model and its backend, ``beam`` (0: greedy) and the language model
        with its weight and bonus (``lm``: None without one)."""
        fusion, beam = self.fusion, self.beam or 0
        return {
            "model": str(self.path),
            "backend": self.backend_name,
            "beam": beam if beam > 1 else 0,
            "lm": fusion.source if fusion else None,
            **({"lm_weight": fusion.weight, "lm_bonus": fusion.bonus} if fusion else {}),
        }

    @property
    def charset(self):
        return self.backend.charset

    @property
    def preprocess_config(self):
        return self.backend.preprocess_config

    def preprocess(self, image) -> np.ndarray:
        """The model's own preprocessing of one line image (array or path)."""
        if not isinstance(image, np.ndarray):
            image = load_image(image)
        return preprocess(image, self.backend.preprocess_config)

    def prepare(self, image) -> tuple[np.ndarray, InkExtent | None]:
        """:meth:`preprocess`, and where the ink lies in the image (for :meth:`locate`)."""
        if not isinstance(image, np.ndarray):
            image = load_image(image)
        return preprocess_with_extent(image, self.backend.preprocess_config)

    def locate(self, pred: Prediction, line: np.ndarray, extent: InkExtent | None) -> list[Word]:
        """The words of ``pred``, read from the preprocessed ``line``, with boxes in the pixels
        of the image that :meth:`prepare` turned into it. The frames where characters peak
        are taken back to the image's columns (at mid-height of the line, slant and skew
        undone); two words are cut apart in the middle of the widest blank gap between the
        last character of one and the first of the next (halfway between them if there is
        none), and each box is the ink between its cuts."""
        spans = word_spans(pred)
        if extent is None or not spans:
            return []
        d, mid = self.backend.downsample, (line.shape[0] - 1) / 2
        last = len(extent.top) - 1

        def column(frame: float) -> int:
            return min(last, max(0, round(extent.column(frame * d - 0.5, mid))))

        ink = extent.top >= 0
        cuts = [extent.x0]
        for left, right in zip(spans, spans[1:]):
            a, b = sorted((column(left.last), column(right.first)))
            start, length = _widest_run(~ink[a:b])
            cuts.append(a + start + length // 2 if length else (a + b) // 2)
        cuts.append(extent.x1 + 1)
        words = []
        for s, a, b in zip(spans, cuts, cuts[1:]):
            inked = np.flatnonzero(ink[a:b])
            if inked.size:
                a, b = a + int(inked[0]), a + int(inked[-1]) + 1
            b = max(b, a + 1)
            rows = extent.rows(a, b) or extent.rows(extent.x0, extent.x1 + 1) or (0, 0)
            words.append(Word(s.text, (a, rows[0], b, rows[1] + 1), s.confidence))
        return words

    def predict_lines(self, lines: list[np.ndarray], progress: bool = False) -> list[Prediction]:
        """Predict preprocessed lines in width-sorted batches (``progress``: a progress bar on
        stderr)."""
        return predict_lines(
            self.backend.predict,
            lines,
            self.charset,
            self.backend.downsample,
            self.batch_size,
            self.beam,
            progress,
            self.fusion,
        )

    def probabilities(self, line: np.ndarray) -> np.ndarray:
        """Per-frame class probabilities ``(T, C)`` of one preprocessed line, as
        :meth:`predict_lines` decodes them (the line padded to its bucket width)."""
        probs = self.backend.predict(pad_to_bucket(line)[None, :, :, None].astype(np.float32))[0]
        return probs[: line.shape[1] // self.backend.downsample]

    def recognize(self, inputs, progress: bool = False, names=None) -> list[Result]:
        """Recognize line images (paths or arrays); a bad input becomes an error ``Result``
        and the others are still read. ``names``: what each input is called in its result
        and error (default: a path's own name, ``<array K>`` for the K-th array)."""
        if isinstance(inputs, (str, Path)) or (  # one path or image, not its characters or rows
            isinstance(inputs, np.ndarray)
            and (inputs.ndim == 2 or (inputs.ndim == 3 and inputs.shape[2] in (1, 3, 4)))
        ):
            inputs = [inputs]
        results: list[Result] = []
        lines, extents, where = [], [], []
        for k, item in enumerate(inputs):
            if names is not None:
                name = str(names[k])
            else:
                name = str(item) if not isinstance(item, np.ndarray) else f"<array {k}>"
            try:
                line, extent = self.prepare(item)
                lines.append(line)
                extents.append(extent)
                where.append(len(results))
                results.append(Result(name))
            except HandwritingError as exc:  # said with the input's name
                msg = str(exc)
                results.append(
                    Result(name, error=msg if msg.startswith(name) else f"{name}: {msg}")
                )
        preds = self.predict_lines(lines, progress) if lines else []
        for k, pred, line, extent in zip(where, preds, lines, extents):
            results[k].prediction = pred
            results[k].words = self.locate(pred, line, extent)
        return results
