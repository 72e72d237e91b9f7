"""Ground truth -> preprocessed lines -> width-bucketed, padded, augmented training batches.

Batches come from a ``keras.utils.PyDataset`` (backend-independent: the same pipeline feeds
TensorFlow on a CPU and JAX on a GPU); augmentation is OpenCV/numpy, seeded per
(seed, epoch, batch), so a resumed run sees the batches it would have seen.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from ._keras import keras
from .augment import augment
from .charset import Charset
from .config import PreprocessConfig
from .document import Problem
from .fileio import write_atomic
from .groundtruth import LineRecord, prepare_line
from .preprocessing import bucket

log = logging.getLogger(__name__)


@dataclass
class Sample:
    """A preprocessed ground-truth line (uint8, ink 255, height = PreprocessConfig.height)."""

    id: str
    line: np.ndarray
    text: str
    path: str = ""


def _cache_key(records: list[LineRecord], config: PreprocessConfig) -> str:
    h = hashlib.sha1(repr(sorted(config.to_dict().items())).encode())
    for r in records:
        p = r.image or r.source
        st = os.stat(p) if p and os.path.exists(p) else None
        h.update(
            f"{r.id}|{p}|{st.st_size if st else 0}|{st.st_mtime_ns if st else 0}|"
            f"{None if r.polygon is None else r.polygon.tobytes().hex()}|{r.text!r}\n".encode()
        )
    return h.hexdigest()[:16]


def prepare_lines(
    records: list[LineRecord],
    config: PreprocessConfig,
    cache_dir: Path | None = None,
    desc: str = "preprocessing",
    progress: bool = True,
    workers: int | None = None,
) -> tuple[list[Sample], list[Problem]]:
    """Preprocess every record once (in parallel), with an optional on-disk cache."""
    cache = None
    if cache_dir is not None:
        cache = Path(cache_dir) / f"lines-{_cache_key(records, config)}.npz"
        found = _read_cache(cache, config.height)
        if found is not None:
            log.info("%s: %d lines from cache %s", desc, len(found[0]), cache)
            return found
    workers = workers or min(4, os.cpu_count() or 1)
    # threads, not processes: OpenCV and numpy release the GIL (1.8x on 2 cores), and a fork
    # of a process that runs JAX threads can deadlock
    with ThreadPoolExecutor(workers if len(records) > 64 else 1) as pool:
        results = list(
            tqdm(
                pool.map(prepare_line, records, [config] * len(records)),
                total=len(records),
                desc=desc,
                disable=not progress,
                unit="line",
            )
        )
    samples, problems = [], []
    for r, (line, err) in zip(records, results):
        path = str(r.image or r.source)
        if line is None:
            problems.append(Problem(Path(path), err.removeprefix(f"{path}: ")))
        else:
            samples.append(Sample(r.id, line, r.text, path))
    if cache is not None:
        _write_cache(cache, samples, problems, config.height)
    return samples, problems


def _write_cache(path: Path, samples: list[Sample], problems: list[Problem], height: int) -> None:
    """Preprocessed lines as plain arrays (an ``.npz`` without pickles: loading it runs no
    code): the lines side by side, their widths, and their ids, texts and paths as JSON."""
    meta = {
        "ids": [s.id for s in samples],
        "texts": [s.text for s in samples],
        "paths": [s.path for s in samples],
        "problems": [[str(p.path), p.message] for p in problems],
    }
    pixels = (
        np.concatenate([s.line for s in samples], axis=1)
        if samples
        else np.zeros((height, 0), np.uint8)
    )
    buf = io.BytesIO()
    np.savez(
        buf,
        pixels=pixels,
        widths=np.array([s.line.shape[1] for s in samples], np.int64),
        meta=np.frombuffer(json.dumps(meta, ensure_ascii=False).encode("utf-8"), np.uint8),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, buf.getvalue())


def _read_cache(path: Path, height: int) -> tuple[list[Sample], list[Problem]] | None:
    """The lines :func:`_write_cache` stored, or None when there is no cache or it does not
    hold what it should (damaged, or not ours): then the lines are prepared again."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            pixels, widths = z["pixels"], z["widths"]
            meta = json.loads(z["meta"].tobytes().decode("utf-8"))
        ids, texts, paths = meta["ids"], meta["texts"], meta["paths"]
        if (
            pixels.dtype != np.uint8
            or pixels.ndim != 2
            or pixels.shape[0] != height
            or widths.ndim != 1
            or (widths < 1).any()
            or int(widths.sum()) != pixels.shape[1]
            or not len(widths) == len(ids) == len(texts) == len(paths)
        ):
            raise ValueError("arrays do not fit together")
        edges = np.concatenate([[0], np.cumsum(widths)])
        samples = [
            Sample(str(i), pixels[:, a:b].copy(), str(t), str(p))
            for i, t, p, a, b in zip(ids, texts, paths, edges[:-1], edges[1:])
        ]
        problems = [Problem(Path(str(p)), str(m)) for p, m in meta["problems"]]
    except Exception as exc:  # noqa: BLE001 - any damage: prepare the lines again
        log.warning("%s: unreadable cache (%s); preparing the lines again", path, exc)
        return None
    return samples, problems


def frames_needed(labels: list[int]) -> int:
    """CTC needs one frame per label plus a blank between repeated labels."""
    return len(labels) + sum(1 for a, b in zip(labels, labels[1:]) if a == b)


def check_fit(
    samples: list[Sample], charset: Charset, downsample: int
) -> tuple[list[Sample], list[Problem]]:
    """Split off lines that are blank but labelled, whose label has unknown characters, or
    whose label cannot fit the logit length."""
    good, bad = [], []
    for s in samples:
        if s.text.strip() and not s.line.any():
            bad.append(
                Problem(
                    Path(s.path),
                    "no ink found (a blank image), but the label has text; check the crop",
                )
            )
            continue
        missing = charset.unknown(s.text)
        if missing:
            bad.append(
                Problem(Path(s.path), f"characters not in the charset: {''.join(missing)!r}")
            )
            continue
        need = frames_needed(charset.encode(s.text))
        have = s.line.shape[1] // downsample
        if need > have:
            bad.append(
                Problem(
                    Path(s.path),
                    f"label of {len(s.text)} characters needs {need} frames "
                    f"but the image gives {have} (width {s.line.shape[1]} px "
                    f"after preprocessing / {downsample}); check the crop",
                )
            )
            continue
        good.append(s)
    return good, bad


def pad_batch(lines: list[np.ndarray], multiple: int = 1) -> np.ndarray:
    """Stack float lines (H x w_i) into ``(B, H, W, 1)``, W the widest line's
    :func:`~handwriting.preprocessing.bucket` (the rule reading pads by too)."""
    h = lines[0].shape[0]
    width = bucket(max(l.shape[1] for l in lines), multiple)
    out = np.zeros((len(lines), h, width, 1), np.float32)
    for i, l in enumerate(lines):
        out[i, :, : l.shape[1], 0] = l
    return out


class LineBatches(keras.utils.PyDataset):
    """Batches of similar-width lines for ``fit``: ``x`` images, ``y`` = [frames, labels...].

    Args:
        samples: preprocessed lines.
        charset: encodes the texts.
        batch_size: lines per batch.
        downsample: input columns per output frame of the model.
        bucket_width: batch widths are padded up to a multiple of this.
        augment: apply seeded distortions.
        augment_p: chance of each distortion per line.
        seed: base seed; epoch ``e`` uses a shuffle and distortions derived from (seed, e).
        shuffle: reshuffle batch composition and order every epoch.
    """

    def __init__(
        self,
        samples: list[Sample],
        charset: Charset,
        batch_size: int,
        downsample: int,
        bucket_width: int = 64,
        augment: bool = False,
        seed: int = 0,
        shuffle: bool = True,
        augment_p: float = 0.5,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.samples = samples
        self.labels = [charset.encode(s.text) for s in samples]
        self.need = [frames_needed(l) for l in self.labels]
        self.batch_size = batch_size
        self.downsample = downsample
        self.bucket_width = bucket_width
        self.do_augment = augment
        self.augment_p = augment_p
        self.seed = seed
        self.shuffle = shuffle
        self.epoch = 0
        self._plan()

    def _plan(self) -> None:
        rng = np.random.default_rng([self.seed, self.epoch, 1])
        widths = np.array([s.line.shape[1] for s in self.samples], np.float64)
        if self.shuffle:  # jitter the sort so batch composition changes between epochs
            widths = widths * rng.uniform(0.9, 1.1, len(widths))
        order = np.argsort(widths, kind="stable")
        self.batches = [
            order[i : i + self.batch_size] for i in range(0, len(order), self.batch_size)
        ]
        if self.shuffle:
            rng.shuffle(self.batches)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self._plan()

    def on_epoch_end(self) -> None:
        self.set_epoch(self.epoch + 1)

    def tf_dataset(self, parallel: int | None = None):
        """The same batches as a ``tf.data`` pipeline (TensorFlow backend): the batch plan of
        the current epoch, prepared in parallel, order kept, prefetched."""
        from ._keras import tensorflow

        tf = tensorflow()
        h = self.samples[0].line.shape[0]

        def load(i):
            x, y = tf.numpy_function(
                lambda k: self[int(k)], [i], (tf.float32, tf.int32), stateful=False
            )
            x.set_shape((None, h, None, 1))
            y.set_shape((None, None))
            return x, y

        ds = tf.data.Dataset.range(len(self))
        ds = ds.map(load, num_parallel_calls=parallel or tf.data.AUTOTUNE, deterministic=True)
        return ds.prefetch(2)

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, index: int):
        idx = self.batches[index]
        rng = np.random.default_rng([self.seed, self.epoch, index, 2])
        lines, frames = [], []
        for i in idx:
            line = self.samples[i].line.astype(np.float32) / 255.0
            if self.do_augment:
                aug = augment(line, rng, self.augment_p)
                if aug.shape[1] // self.downsample >= self.need[i]:
                    line = aug
            lines.append(line)
            frames.append(line.shape[1] // self.downsample)
        x = pad_batch(lines, self.bucket_width)
        max_len = max(1, max(len(self.labels[i]) for i in idx))
        step = max(16, self.bucket_width // self.downsample)  # few distinct shapes to compile
        max_len = -(-max_len // step) * step
        y = np.zeros((len(idx), 1 + max_len), np.int32)
        for row, i in enumerate(idx):
            y[row, 0] = frames[row]
            y[row, 1 : 1 + len(self.labels[i])] = self.labels[i]
        return x, y
