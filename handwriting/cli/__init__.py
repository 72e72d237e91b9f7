"""Command line: ``handwriting COMMAND`` (recognize, evaluate, evaluate-pages, train, export,
inspect, data, lm, synth, serve, batch). A thin layer over the library: each command module checks its
arguments, calls the API and prints; heavy imports happen inside the commands."""

from __future__ import annotations

import argparse
import logging
import math
import os
import signal
import sys

from .. import __version__
from ..errors import HandwritingError, missing_extra
from . import batch, data, evaluate, recognize, serve, train
from .common import log, printable


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="handwriting",
        description="Read handwritten text lines "
        "with a CNN + LSTM + CTC model; train it on your own ground truth.",
    )
    p.add_argument("--debug", action="store_true", help="show tracebacks and debug logging")
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    recognize.add_parsers(sub)
    evaluate.add_parsers(sub)
    train.add_parsers(sub)
    data.add_parsers(sub)
    serve.add_parsers(sub)
    batch.add_parsers(sub)
    for command in sub.choices.values():  # --debug after the command works too
        command.add_argument(
            "--debug",
            action="store_true",
            default=argparse.SUPPRESS,
            help="show tracebacks and debug logging",
        )
    return p


# the range of each numeric option (by its dest; None: unbounded): below or above it, a one-line
# error before any work starts
_RANGES = {
    "batch_size": (1, None),
    "threads": (1, None),
    "beam": (0, None),
    "report": (0, None),
    "epochs": (1, None),
    "seed": (0, 2**32 - 1),
    "max_minutes": (0, None),
    "layer": (0, None),
    "units": (1, None),
    "lines": (1, None),
    "max_lines": (1, None),
    "words": (1, None),
    "min_count": (1, None),
    "order": (1, 12),
    "weight": (0, None),
    "lm_weight": (0, None),
    "count": (1, None),
    "digits": (0, 1),
    "letters": (0, 1),
    "height": (8, 1024),
    "calibration_lines": (1, None),
    "source_height": (8, 1024),
    "held_out": (0.05, 0.5),
    "base_weight": (0, 0.95),
    "learning_rate": (1e-7, 1.0),
    "quality": (1, 100),
    "port": (1, 65535),
    "workers": (1, 64),
    "max_batch": (1, 1024),
    "max_wait_ms": (0, 10000),
    "max_upload_mb": (0.001, 10000),
}


def _check_ranges(args) -> None:
    for name, value in vars(args).items():  # --lm-bonus nan or inf would read garbage
        if isinstance(value, float) and not math.isfinite(value):
            raise HandwritingError(
                f"--{name.replace('_', '-')} must be a finite number, got {value}"
            )
    for name, (least, most) in _RANGES.items():
        value = getattr(args, name, None)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        if not value >= least or (most is not None and not value <= most):  # NaN fails too
            bounds = f"{least}..{most}" if most is not None else f">= {least}"
            raise HandwritingError(f"--{name.replace('_', '-')} must be {bounds}, got {value}")


def main(argv=None) -> int:
    for stream in (sys.stdout, sys.stderr):  # a name the terminal cannot show is escaped
        try:
            stream.reconfigure(errors="backslashreplace")
        except (AttributeError, ValueError):  # not a text stream we may reconfigure
            pass
    args = build_parser().parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1" if args.debug else "3")
    # our own handler: TensorFlow/absl reconfigure the root logger when they are imported
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter("%(levelname)s %(name)s: %(message)s" if args.debug else "%(message)s")
    )
    log.handlers[:] = [handler]
    log.setLevel(logging.DEBUG if args.debug else logging.INFO)
    log.propagate = False
    previous = _terminate_as_interrupt()
    try:
        _check_ranges(args)
        return args.func(args)
    except HandwritingError as exc:
        if args.debug:
            raise
        print(f"error: {printable(str(exc))}", file=sys.stderr)
        return 2
    except OSError as exc:  # a file or folder the system refused: say which, and why
        if args.debug:
            raise
        where = f"{exc.filename}: " if exc.filename else ""
        print(printable(f"error: {where}{exc.strerror or exc}"), file=sys.stderr)
        return 2
    except ModuleNotFoundError as exc:  # a package of the [train] extra: say how to install it
        error = missing_extra(exc)
        if args.debug or error is None:
            raise
        print(f"error: {error}", file=sys.stderr)
        return 2
    except Terminated:
        print("terminated", file=sys.stderr)
        return 128 + signal.SIGTERM
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the program is so that files being written are cleaned up
    (atomic writes remove their temporary file) as on Ctrl-C."""


def _terminate_as_interrupt():
    """Turn SIGTERM into :class:`Terminated` (in the main thread); returns the handler it
    replaced, or None when it could not be set."""

    def raise_terminated(signum, frame):
        raise Terminated()

    try:
        return signal.signal(signal.SIGTERM, raise_terminated)
    except ValueError:  # not the main thread (an embedding application): leave it be
        return None
