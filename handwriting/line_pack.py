"""Line packs: the train and val lines of ground-truth folders in one compact file, for a
training machine that does not have the folders (``handwriting pack``, ``train --packed``).

A pack is an ``.npz`` of plain arrays (loading it runs no code): per split, the line images
downscaled to at most ``source_height`` px and WebP-encoded, side by side in one byte array
with their offsets, and the lines' ids, texts and paths as JSON. The lines are preprocessed
where they are trained, with the run's own configuration.
"""

from __future__ import annotations

import io
import json
import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
from tqdm import tqdm

from .document import Problem
from .errors import DataError, HandwritingError
from .fileio import write_atomic
from .groundtruth import load_line_image, no_lines_error, scan_line_dirs
from .preprocessing import preprocess, to_uint8

if TYPE_CHECKING:
    from .data import Sample

log = logging.getLogger(__name__)

PACK_VERSION = 1
SPLITS = ("train", "val")


def write_pack(
    splits: dict[str, list],
    out: str | Path,
    source_height: int = 48,
    quality: int = 80,
    progress: bool = True,
) -> tuple[dict[str, int], list[Problem]]:
    """Pack the lines found under each split's folders (``{"train": dirs, "val": dirs}``) into
    ``out``, written atomically; returns the number of lines per split and the problems of
    the files left out. Raises :class:`DataError` when the train split has no lines."""
    arrays: dict[str, np.ndarray] = {}
    meta: dict = {"version": PACK_VERSION, "source_height": source_height, "splits": {}}
    counts, problems = {}, []
    for name, dirs in splits.items():
        records, found = scan_line_dirs(dirs)
        problems += found
        if not records and name == "train":
            raise no_lines_error(dirs, found)
        chunks, rows = [], {"ids": [], "texts": [], "paths": []}
        for r in tqdm(records, desc=f"packing {name}", unit="line", disable=not progress):
            path = str(r.image or r.source)
            try:
                data = _encode(load_line_image(r), source_height, quality)
            except Exception as exc:  # noqa: BLE001 - one bad line must not stop the pack
                msg = str(exc) if isinstance(exc, HandwritingError) else f"unreadable ({exc!r})"
                problems.append(Problem(Path(path), msg.removeprefix(f"{path}: ")))
                continue
            chunks.append(data)
            rows["ids"].append(r.id)
            rows["texts"].append(r.text)
            rows["paths"].append(path)
        arrays[f"{name}_bytes"] = np.frombuffer(b"".join(chunks), np.uint8)
        arrays[f"{name}_offsets"] = np.cumsum([0] + [len(c) for c in chunks], dtype=np.int64)
        meta["splits"][name] = rows
        counts[name] = len(chunks)
    arrays["meta"] = np.frombuffer(json.dumps(meta, ensure_ascii=False).encode("utf-8"), np.uint8)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    write_atomic(out, buf.getvalue())
    return counts, problems


def _encode(img: np.ndarray, source_height: int, quality: int) -> bytes:
    """The line image scaled down to ``source_height`` px (never up), as WebP bytes."""
    h, w = img.shape
    if h > source_height:
        size = (max(1, round(w * source_height / h)), source_height)
        img = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
    ok, data = cv2.imencode(".webp", img, [cv2.IMWRITE_WEBP_QUALITY, quality])
    if not ok:
        raise HandwritingError("OpenCV could not encode this line as WebP")
    return data.tobytes()


def read_pack(
    path: str | Path,
    config,
    max_lines: int = 0,
    progress: bool = True,
    workers: int | None = None,
) -> tuple[list[Sample], list[Sample]]:
    """The pack's train and val lines preprocessed by ``config`` (a ``PreprocessConfig``);
    with ``max_lines``, at most that many of each split, evenly spread. Raises
    :class:`DataError` when the file is not a readable pack."""
    from .data import Sample  # Keras: only a training run reads a pack

    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(z["meta"].tobytes().decode("utf-8"))
            stored = {k: z[k] for k in z.files if k != "meta"}
    except FileNotFoundError:
        raise DataError(f"{path}: line pack not found") from None
    except Exception as exc:  # noqa: BLE001 - zip, numpy, JSON: not a pack
        raise DataError(
            f"{path}: not a line pack written by `handwriting pack` ({exc.__class__.__name__})"
        ) from None
    if not isinstance(meta, dict) or meta.get("version") != PACK_VERSION:
        raise DataError(f"{path}: unknown line pack version; pack the lines again")
    out = []
    for name in SPLITS:
        if name not in meta["splits"]:  # packed without val lines
            out.append([])
            continue
        rows = meta["splits"][name]
        data, offsets = stored.get(f"{name}_bytes"), stored.get(f"{name}_offsets")
        n = len(rows["ids"])
        if data is None or offsets is None or len(offsets) != n + 1 or offsets[-1] != len(data):
            raise DataError(f"{path}: the {name} split is damaged; pack the lines again")
        keep = range(n)
        if max_lines and n > max_lines:
            keep = np.linspace(0, n - 1, max_lines).astype(int)

        def prepare(i, data=data, offsets=offsets, ids=rows["ids"]):
            img = cv2.imdecode(data[offsets[i] : offsets[i + 1]], cv2.IMREAD_GRAYSCALE)
            if img is None:
                raise DataError(f"{path}: line {ids[i]} is damaged; pack the lines again")
            return to_uint8(preprocess(img, config))

        with ThreadPoolExecutor(workers or 4) as pool:  # OpenCV releases the GIL
            lines = list(
                tqdm(
                    pool.map(prepare, keep),
                    total=len(keep),
                    desc=f"preprocessing {name}",
                    unit="line",
                    disable=not progress,
                )
            )
        out.append(
            [
                Sample(str(rows["ids"][i]), line, str(rows["texts"][i]), str(rows["paths"][i]))
                for i, line in zip(keep, lines)
            ]
        )
    if not out[0]:
        raise DataError(f"{path}: the line pack holds no training lines")
    return out[0], out[1]
