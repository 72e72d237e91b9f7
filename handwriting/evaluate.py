"""Evaluation and ground-truth reports: CER/WER per folder, per-line results, dataset statistics."""

from __future__ import annotations

import logging
from pathlib import Path

from .errors import HandwritingError

log = logging.getLogger(__name__)


def read_lines(recognizer, dirs, progress: bool = True):
    """Preprocess every labelled line of ``dirs``; returns (records, lines, problems)."""
    from tqdm.auto import tqdm

    from .groundtruth import load_line_image, scan_line_dirs

    records, problems = scan_line_dirs(dirs)
    problems = [f"{p.path}: {p.message}" for p in problems]
    kept, lines = [], []
    for r in tqdm(
        records, desc=f"reading {', '.join(map(str, dirs))}", disable=not progress, unit="line"
    ):
        try:
            lines.append(recognizer.preprocess(load_line_image(r)))
            kept.append(r)
        except HandwritingError as exc:
            problems.append(_named(exc, r))
        except Exception as exc:  # noqa: BLE001 - one bad line must not stop the evaluation
            problems.append(f"{r.image or r.source}: could not be read ({exc!r})")
    return kept, lines, list(dict.fromkeys(problems))  # a page's problem once, not per line


def _named(exc: Exception, record) -> str:
    """The error, after the file it is about (an image error names its file already)."""
    where = str(record.image or record.source)
    return str(exc) if str(exc).startswith(where) else f"{where}: {exc}"


def evaluate_lines(recognizer, dirs, progress: bool = True) -> list[dict]:
    """Per-line results, worst first: path, truth, prediction, confidence, CER (percent)."""
    from .metrics import cer

    records, lines, problems = read_lines(recognizer, dirs, progress)
    for p in problems:
        log.warning("skipped %s", p)
    _warn_unknown(recognizer.charset, [r.text for r in records])
    preds = recognizer.predict_lines(lines, progress) if lines else []
    rows = [
        {
            "path": str(r.image or r.source),
            "truth": r.text,
            "prediction": p.text,
            "confidence": round(p.confidence, 3),
            "cer": round(cer([r.text], [p.text]), 2),
        }
        for r, p in zip(records, preds)
    ]
    return sorted(rows, key=lambda row: -row["cer"])


def _warn_unknown(charset, refs: list[str]) -> None:
    """One warning when labels hold characters the model cannot output (they count as errors)."""
    bad = [t for t in refs if charset.unknown(t)]
    if bad:
        chars = charset.unknown("".join(bad))
        log.warning(
            "%d of %d lines have characters the model cannot output (counted as errors): %s",
            len(bad),
            len(refs),
            "".join(chars[:40]) + (" ..." if len(chars) > 40 else ""),
        )


def evaluate(
    dirs,
    model=None,
    beam: int = 0,
    batch_size: int = 16,
    progress: bool = True,
    report: int = 0,
    lm=None,
    lm_weight: float | None = None,
    lm_bonus: float | None = None,
    backend: str = "auto",
    threads: int | None = None,
) -> dict:
    """CER/WER (percent) per ground-truth directory and overall; a directory without readable
    labelled lines gets ``None`` rates, none at all is a :class:`DataError`. What was skipped
    (unreadable images, missing labels, empty folders) is listed in ``problems``.
    ``report`` > 0 adds that many most frequent character confusions (``confusions``)
    and worst lines (``worst``: path, truth, prediction, CER). ``lm``: a character language
    model for beam search (see :class:`~handwriting.recognize.Recognizer`); ``decoding``
    says how the lines were decoded. ``model``, ``backend`` and ``threads`` choose the model
    and how it runs (see :class:`~handwriting.recognize.Recognizer`)."""
    from .groundtruth import no_lines_error
    from .metrics import cer, confusions, wer
    from .recognize import Recognizer

    rec = Recognizer(
        model,
        batch_size=batch_size,
        beam=beam,
        lm=lm,
        lm_weight=lm_weight,
        lm_bonus=lm_bonus,
        backend=backend,
        threads=threads,
    )
    sets, all_refs, all_hyps, paths, problems = [], [], [], [], []
    for d in dirs:
        records, lines, probs = read_lines(rec, [d], progress)
        problems += probs
        if not records:
            if Path(d).is_dir():  # (a missing directory is already reported)
                problems.append(f"{d}: no readable labelled lines")
            sets.append({"path": str(d), "lines": 0, "cer": None, "wer": None})
            continue
        refs = [r.text for r in records]
        hyps = [p.text for p in rec.predict_lines(lines, progress)] if lines else []
        sets.append(
            {
                "path": str(d),
                "lines": len(refs),
                "cer": round(cer(refs, hyps), 3),
                "wer": round(wer(refs, hyps), 3),
            }
        )
        all_refs += refs
        all_hyps += hyps
        paths += [str(r.image or r.source) for r in records]
    if not all_refs:
        raise no_lines_error(dirs, problems)
    _warn_unknown(rec.charset, all_refs)
    overall = {
        "lines": len(all_refs),
        "cer": round(cer(all_refs, all_hyps), 3),
        "wer": round(wer(all_refs, all_hyps), 3),
    }
    result = {"overall": overall, "sets": sets, "decoding": rec.decoding, "problems": problems}
    if report > 0:
        result["confusions"] = confusions(all_refs, all_hyps, report)
        rows = [
            {"path": p, "truth": r, "prediction": h, "cer": round(cer([r], [h]), 2)}
            for p, r, h in zip(paths, all_refs, all_hyps)
        ]
        result["worst"] = sorted(rows, key=lambda row: -row["cer"])[:report]
    return result


def dataset_report(dirs, progress: bool = True) -> dict:
    """Line count, charset with counts, image size statistics and problems of ground truth."""
    from collections import Counter

    import numpy as np
    from tqdm.auto import tqdm

    from .groundtruth import load_line_image, scan_line_dirs

    records, problems = scan_line_dirs(dirs)
    chars = Counter()
    widths, heights = [], []
    bad = [f"{p.path}: {p.message}" for p in problems]
    for r in tqdm(records, desc="checking images", disable=not progress, unit="line"):
        try:  # read as training and recognition read it (a page's line: cut out of the page)
            h, w = load_line_image(r).shape
        except HandwritingError as exc:
            bad.append(_named(exc, r))
            continue
        chars.update(r.text)
        widths.append(w)
        heights.append(h)

    def stats(v):
        if not v:
            return {}
        a = np.asarray(v)
        return {
            "min": int(a.min()),
            "median": float(np.median(a)),
            "mean": round(float(a.mean()), 1),
            "max": int(a.max()),
        }

    return {
        "lines": len(widths),
        "characters": sum(chars.values()),
        "charset_size": len(chars),
        "charset": {c: n for c, n in sorted(chars.items())},
        "width": stats(widths),
        "height": stats(heights),
        "problems": list(dict.fromkeys(bad)),
    }  # a page's: once
