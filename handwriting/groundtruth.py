"""Line ground truth: `<id>.png` + `<id>.gt.txt` folders and the lines of ALTO / PAGE XML
pages, found as :class:`LineRecord` objects with the :class:`Problem` of every file left out,
and read as line images (a page line is cut from its page image)."""

from __future__ import annotations

import functools
import os
import threading
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .charset import normalize_text
from .document import Problem
from .errors import DataError, HandwritingError
from .formats import read_layout, read_layout_if_any
from .images import IMAGE_SUFFIXES, load_image
from .preprocessing import check_polygon, crop_line, preprocess, to_uint8

LINE_SUFFIXES = IMAGE_SUFFIXES  # what recognize reads, training reads


@dataclass
class LineRecord:
    """A line-level ground-truth sample: a line image file, or a polygon on a page."""

    id: str
    image: Path | None
    text: str
    source: Path | None = None
    polygon: np.ndarray | None = None


# ---------------------------------------------------------------- line folders


def scan_line_dirs(dirs: Iterable[str | Path]) -> tuple[list[LineRecord], list[Problem]]:
    """Find `<id>.png|jpg|...` + `<id>.gt.txt` pairs and ALTO/PAGE lines under ``dirs``."""
    records: list[LineRecord] = []
    problems: list[Problem] = []
    unlabelled: list[Path] = []
    page_images: set[str] = set()
    broken: set[str] = set()  # XML files that could not be read: their image is not unlabelled

    def unreadable(exc: OSError) -> None:  # os.walk would pass such a folder over silently
        problems.append(Problem(Path(exc.filename), f"cannot read this folder ({exc.strerror})"))

    for d in dirs:
        d = Path(d)
        if not d.is_dir():
            problems.append(
                Problem(d, "directory not found" if not d.exists() else "not a directory")
            )
            continue
        for folder, _, names in os.walk(d, onerror=unreadable):
            folder = Path(folder)
            images: dict[str, Path] = {}
            labels: set[str] = set()
            for name in sorted(names):
                low = name.lower()
                if low.endswith(".gt.txt"):
                    labels.add(name[:-7])
                elif low.endswith(".xml"):
                    recs, probs, image = _scan_xml(folder / name)
                    records += recs
                    problems += probs
                    if image is not None:
                        page_images.add(os.path.normpath(image))
                    elif probs:
                        broken.add(os.path.normpath(folder / name[:-4]))
                elif os.path.splitext(low)[1] in LINE_SUFFIXES:
                    stem = os.path.splitext(name)[0]
                    if stem in images:
                        problems.append(
                            Problem(folder / name, f"second image for {stem}.gt.txt (ignored)")
                        )
                    else:
                        images[stem] = folder / name
            for stem, image in images.items():
                if stem in labels:
                    text, problem = _read_label(folder / f"{stem}.gt.txt")
                    if problem:
                        problems.append(problem)
                    else:
                        records.append(LineRecord(stem, image, text))
                else:
                    unlabelled.append(image)
            for stem in sorted(labels - images.keys()):
                problems.append(
                    Problem(
                        folder / f"{stem}.gt.txt",
                        f"transcription without an image (no {stem}.png, .jpg, .tif, ...)",
                    )
                )
    for image in unlabelled:  # page images named by an XML are not missing a label
        if (
            os.path.normpath(image) not in page_images
            and os.path.normpath(image.with_suffix("")) not in broken
        ):
            stem = os.path.splitext(image.name)[0]
            problems.append(Problem(image, f"no transcription ({stem}.gt.txt missing)"))
    records.sort(key=lambda r: (r.id, str(r.image or r.source)))
    problems.sort(key=lambda p: (str(p.path), p.message))
    return records, problems


def _read_label(path: Path) -> tuple[str, Problem | None]:
    """The transcription in ``path`` (UTF-8, or UTF-16 with a BOM or without one), or the
    problem that keeps the line out."""
    if not path.is_file():  # a named pipe would block the read, a device fill the memory
        return "", Problem(path, "not a regular file (a named pipe, a device?); skipped")
    try:
        raw = path.read_bytes()
    except OSError as e:
        return "", Problem(path, f"unreadable: {e.strerror}")
    try:
        text = normalize_text(_decode_label(raw))
    except UnicodeDecodeError as e:
        return "", Problem(path, f"not valid UTF-8 (byte {e.start})")
    bad = sorted({c for c in text if unicodedata.category(c) == "Cc"})
    if bad:
        shown = ", ".join(f"U+{ord(c):04X}" for c in bad)
        return "", Problem(path, f"control character(s) {shown} in the transcription; remove them")
    if not text:
        return "", Problem(path, "empty transcription")
    return text, None


def _decode_label(raw: bytes) -> str:
    """UTF-8 (with or without a BOM), or UTF-16 told by its BOM or by a zero byte in every
    other position (UTF-16 without a BOM, as some Windows editors save)."""
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return raw.decode("utf-16")
    if len(raw) >= 2 and len(raw) % 2 == 0 and b"\x00" in raw:
        odd, even = raw[1::2], raw[0::2]
        if odd.count(0) == len(odd) and 0 not in even:
            return raw.decode("utf-16-le")
        if even.count(0) == len(even) and 0 not in odd:
            return raw.decode("utf-16-be")
    return raw.decode("utf-8-sig")


def _scan_xml(path: Path) -> tuple[list[LineRecord], list[Problem], Path | None]:
    """Lines of one ALTO/PAGE file; other XML is ignored, broken XML is a problem."""
    try:
        page = read_layout_if_any(path)
        if page is None:
            return [], [], None
    except DataError as e:
        return [], [Problem(path, str(e).removeprefix(f"{path}: "))], None
    if page.image is None:
        return [], [Problem(path, "names no page image")], None
    if not page.image.is_file():
        return [], [Problem(path, f"page image {page.image} not found")], page.image
    records, problems = [], []
    for line in page.lines:
        if not line.text:
            continue
        try:
            check_polygon(line.polygon)
        except DataError as e:
            problems.append(Problem(path, f"line {line.id}: {e}"))
            continue
        records.append(LineRecord(f"{path.stem}_{line.id}", None, line.text, path, line.polygon))
    return records, problems, page.image


def first_problem(problems) -> str:
    """The first problem, and how many more there are (for a one-line error)."""
    return f"{problems[0]}" + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else "")


def no_lines_error(dirs, problems=()) -> DataError:
    """The error for ground-truth folders holding no labelled line at all: with the first of
    the ``problems`` that left it empty, if any."""
    where = ", ".join(map(str, dirs))
    if problems:
        return DataError(f"no labelled lines read from {where}: {first_problem(problems)}")
    return DataError(
        f"no labelled lines found in {where} (expected <id>.png|jpg|tif + "
        "<id>.gt.txt pairs, or ALTO/PAGE XML)"
    )


def load_line_image(record: LineRecord) -> np.ndarray:
    """The record's line as uint8 gray: its image file, or its polygon cut from the page."""
    if record.image is not None:
        return load_image(record.image)
    if record.source is None or record.polygon is None:
        raise DataError(f"line {record.id}: no image and no page source + polygon")
    source = Path(record.source)
    stamp = source.stat().st_mtime_ns if source.exists() else 0
    with _PAGE_LOCK:  # threads reading lines of one page load it once
        page = _page_image(str(source), stamp)
    return crop_line(page, record.polygon)


def prepare_line(record: LineRecord, config) -> tuple[np.ndarray | None, str]:
    """The record's line preprocessed by ``config`` (a ``PreprocessConfig``) as uint8, and "";
    or None and what is wrong with it."""
    try:
        return to_uint8(preprocess(load_line_image(record), config)), ""
    except HandwritingError as exc:
        return None, str(exc)
    except Exception as exc:  # noqa: BLE001 - one bad line must not stop a batch
        return None, f"{record.image or record.source}: could not be read ({exc!r})"


_PAGE_LOCK = threading.Lock()


@functools.lru_cache(maxsize=4)
def _page_image(source: str, stamp: int) -> np.ndarray:
    """The last page images loaded (lines of one page come in a row; a few pages, for the
    threads of ``data.prepare_lines`` that are still on the previous one)."""
    page = read_layout(source)
    if page.image is None:
        raise DataError(f"{source}: names no page image")
    image = load_image(page.image)
    image.setflags(write=False)
    return image
