"""``handwriting batch``: whole archives on Ray Data (:mod:`handwriting.batch`)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from ..errors import HandwritingError
from .common import add_backend_args, log, print_json


def cmd_batch(args) -> int:
    import ray  # noqa: F401 - the [scale] extra, named in one line when missing

    from ..batch import FAILURES, connect, list_inputs, run
    from ..fileio import make_dir, remove_stale_temps
    from ..recognize import model_source

    if args.dpi is not None and not 10 <= args.dpi <= 1200:
        raise HandwritingError(f"--dpi {args.dpi:g}: give a resolution from 10 to 1200")
    model_source(args.model, args.backend)  # a missing model: one line, before Ray starts
    inputs = list_inputs(args.inputs)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise HandwritingError(f"--out {out}: is a file; give a folder to write into")
    connect(args.ray_address, args.workers)
    make_dir(out)
    for folder, _, _ in os.walk(out):  # left by a job that was killed
        remove_stale_temps(folder)
    mode = "page" if args.page else "line" if args.line else "auto"
    log.info("%d input(s), %d reader(s)", len(inputs), args.workers)
    summary = run(
        inputs,
        out,
        fmt=args.format,
        model=args.model,
        backend=args.backend,
        workers=args.workers,
        mode=mode,
        dpi=args.dpi,
        batch_size=args.batch_size,
        progress=sys.stderr.isatty(),
    )
    if args.json:
        print_json(summary.to_dict())
    else:
        s = summary.to_dict()
        print(
            f"{s['done']} done, {s['skipped']} skipped (output there), {s['failed']} failed; "
            f"{s['lines']} lines in {s['seconds']:.1f} s ({s['pages_per_s']:.2f} pages/s)",
            file=sys.stderr,
        )
    for source, error in list(summary.failed.items())[:10]:
        log.error("%s", error or f"{source}: failed")
    if summary.failed:
        more = len(summary.failed) - 10
        log.error(
            "%d input(s) failed%s; all are listed in %s",
            len(summary.failed),
            f" ({more} not shown)" if more > 0 else "",
            json.dumps(str(out / FAILURES)),
        )
        return 1
    return 0


def add_parsers(sub) -> None:
    """Add the ``batch`` command to the subparsers ``sub``."""
    b = sub.add_parser(
        "batch",
        help="recognize whole archives on Ray (the [scale] extra)",
        description="Read many images and documents on Ray Data, on this machine or a "
        "cluster: decoding and segmentation run as tasks, recognition in a pool of actors "
        "that load the model once. Inputs whose output exists are skipped, so a stopped "
        "job starts again where it stopped; failed inputs are listed in "
        "OUT/failures.jsonl and the job goes on.",
    )
    b.add_argument(
        "inputs",
        nargs="+",
        metavar="INPUT",
        help="image or PDF/TIFF files, folders (searched recursively; their subfolders are "
        "kept under --out), glob patterns ('scans/**/*.jpg'), @LIST (a text file of paths, "
        "one per line), or URIs pyarrow opens (s3://bucket/scans/)",
    )
    b.add_argument("--out", required=True, metavar="DIR", help="folder the outputs go to")
    b.add_argument(
        "--format",
        choices=["alto", "page", "hocr", "json", "text"],
        default="alto",
        help="output format, one file per page (default: alto)",
    )
    b.add_argument(
        "--model",
        help="a .tflite file, a model directory, or default (the model shipped in the package)",
    )
    add_backend_args(b)
    b.add_argument(
        "--workers",
        type=int,
        default=2,
        help="reader actors, each with the model and one CPU (default: 2)",
    )
    b.add_argument(
        "--ray-address",
        metavar="ADDR",
        help="the Ray cluster to run on (ray://HOST:10001, or auto); default: a Ray started "
        "on this machine",
    )
    b.add_argument(
        "--batch-size", type=int, default=16, help="inputs per reader call (default: 16)"
    )
    b.add_argument("--dpi", type=float, help="render PDF pages at this resolution")
    b.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    force = b.add_mutually_exclusive_group()
    force.add_argument("--page", action="store_true", help="read every input as a page")
    force.add_argument("--line", action="store_true", help="read every input as one line")
    b.set_defaults(func=cmd_batch)
