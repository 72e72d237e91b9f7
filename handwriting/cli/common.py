"""What the commands share: JSON printing, the end-of-batch report, the backend and language
model options."""

from __future__ import annotations

import json
import logging
import sys

from ..lm import BEAM, BONUS, WEIGHT

log = logging.getLogger("handwriting")


def printable(text: str) -> str:
    """``text`` with control characters (escape sequences, newlines in file names) shown as
    escapes, so that an error is one line and cannot drive the terminal."""
    return "".join(
        c if c.isprintable() or c == " " else c.encode("unicode_escape").decode("ascii")
        for c in text
    )


def print_json(data) -> None:
    """Print ``data`` as indented JSON: UTF-8 text, or ASCII escapes where stdout is not
    UTF-8 (the JSON stays valid whatever the terminal's encoding)."""
    utf8 = (sys.stdout.encoding or "").lower().replace("-", "") == "utf8"
    print(json.dumps(data, ensure_ascii=not utf8, indent=2))


def report_failures(results, total: int) -> int:
    bad = [r for r in results if not r.ok]
    for r in bad:
        print(f"error: {printable(r.error)}", file=sys.stderr)
    if bad:
        print(f"{len(bad)} of {total} inputs failed", file=sys.stderr)
        return 1
    return 0


def report_skipped(problems: list[str]) -> int:
    """As a batch does: what could be read is measured, what was skipped listed at the end."""
    for p in problems:
        print(f"skipped {printable(p)}", file=sys.stderr)
    if problems:
        print(f"error: {len(problems)} problem(s) above; the rates leave them out", file=sys.stderr)
        return 1
    return 0


def add_backend_args(p) -> None:
    p.add_argument(
        "--backend",
        choices=["auto", "litert", "keras"],
        default="auto",
        help="auto (default): LiteRT for a .tflite file and the default model, Keras "
        "for other model directories; litert: a model directory's .tflite export; "
        "keras: a model directory's weights (needs the [train] extra)",
    )
    p.add_argument(
        "--threads",
        type=int,
        help="LiteRT: lines read in parallel, one CPU thread "
        "each (default: the cores available, at most 8)",
    )


def add_lm_args(p) -> None:
    p.add_argument(
        "--lm",
        metavar="model|FILE",
        help="character language model (`handwriting lm`) "
        f"for beam search (the beam is then {BEAM} unless --beam N > 1 says "
        "otherwise); `--lm model`: the one shipped with the model (the default model "
        "has one; a file named model: ./model)",
    )
    p.add_argument(
        "--lm-weight",
        type=float,
        help="weight of the LM's log probability (default: the one recorded in the "
        f"LM, else {WEIGHT})",
    )
    p.add_argument(
        "--lm-bonus",
        type=float,
        help="score added per character, against the LM's pull to short texts "
        f"(default: the one recorded in the LM, else {BONUS})",
    )
