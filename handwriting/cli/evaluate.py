"""``handwriting evaluate`` and ``evaluate-pages``: error rates on ground truth."""

from __future__ import annotations

import sys
from pathlib import Path

from .common import add_backend_args, add_lm_args, print_json, report_skipped


def cmd_evaluate(args) -> int:
    from ..evaluate import evaluate

    progress = not args.json and sys.stderr.isatty()
    result = evaluate(
        args.dirs,
        args.model,
        args.beam,
        args.batch_size,
        progress=progress,
        report=args.report,
        lm=args.lm,
        lm_weight=args.lm_weight,
        lm_bonus=args.lm_bonus,
        backend=args.backend,
        threads=args.threads,
    )
    if args.json:
        print_json(result)
    else:
        _print_evaluation(result, args.report)
    return report_skipped(result["problems"])


def _print_evaluation(result: dict, report: int) -> None:
    print(f"{'set':50s} {'lines':>6s} {'CER %':>7s} {'WER %':>7s}")
    for s in result["sets"] + [{"path": "overall", **result["overall"]}]:
        rates = f"{s['cer']:7.2f} {s['wer']:7.2f}" if s["lines"] else f"{'-':>7s} {'-':>7s}"
        print(f"{s['path']:50s} {s['lines']:6d} {rates}")
    d = result["decoding"]
    print(
        f"decoding: {'greedy' if not d['beam'] else 'beam ' + str(d['beam'])}"
        + (f" with {d['lm']} (weight {d['lm_weight']}, bonus {d['lm_bonus']})" if d["lm"] else "")
    )
    if report:
        show = lambda c: repr(c) if c else "(none)"  # noqa: E731
        print(
            "\nmost frequent errors (truth -> prediction; (none): a missed or an extra character)"
        )
        for c in result["confusions"]:
            print(f"{c['count']:6d}  {show(c['truth']):>8s} -> {show(c['prediction'])}")
        print("\nworst lines")
        for w in result["worst"]:
            print(
                f"{w['cer']:6.1f} %  {w['path']}\n          truth: {w['truth']}\n     prediction: "
                f"{w['prediction']}"
            )


def cmd_evaluate_pages(args) -> int:
    from ..pages import evaluate_pages
    from ..recognize import Recognizer

    rec = Recognizer(
        args.model,
        batch_size=args.batch_size,
        lm=args.lm,
        lm_weight=args.lm_weight,
        lm_bonus=args.lm_bonus,
        backend=args.backend,
        threads=args.threads,
    )
    res = evaluate_pages(rec, args.dirs, use_layout=args.use_layout)
    if args.json:
        print_json(res)
        return report_skipped(res["problems"])
    print(f"{'page':60s} {'GT':>4s} {'found':>5s} {'prec %':>7s} {'rec %':>6s} {'CER %':>6s}")
    for r in res["pages"] + [{"path": "overall", **res["overall"]}]:
        print(
            f"{Path(r['path']).name if r['path'] != 'overall' else 'overall':60s} "
            f"{r['gt_lines']:4d} {r['pred_lines']:5d} {r['precision']:7.1f} {r['recall']:6.1f} "
            f"{r['cer']:6.2f}"
        )
    return report_skipped(res["problems"])


def add_parsers(sub) -> None:
    """Add the ``evaluate``, ``evaluate-pages`` commands to the subparsers ``sub``."""
    e = sub.add_parser(
        "evaluate",
        help="CER/WER on ground-truth folders",
        description="Character and word error rates (percent) per folder and overall.",
    )
    e.add_argument(
        "dirs",
        nargs="+",
        metavar="DIR",
        help="ground-truth folders (line pairs and/or ALTO/PAGE XML); one row each",
    )
    e.add_argument(
        "--model",
        help="a .tflite file, a model directory, or default (the "
        "model shipped in the package; the default unless $HANDWRITING_MODEL names "
        "another)",
    )
    e.add_argument("--json", action="store_true", help="print one JSON object")
    e.add_argument("--beam", type=int, default=0, help="beam width (0: greedy decoding)")
    e.add_argument(
        "--batch-size", type=int, default=16, help="lines per predicted batch (default 16)"
    )
    e.add_argument(
        "--report",
        type=int,
        default=0,
        metavar="N",
        help="also show the N most frequent character errors and the N worst lines",
    )
    add_backend_args(e)
    add_lm_args(e)
    e.set_defaults(func=cmd_evaluate)
    ep = sub.add_parser(
        "evaluate-pages",
        help="line detection and page CER on ALTO/PAGE pages",
        description="For page images with ALTO/PAGE ground truth: line detection "
        "precision and recall (IoU >= 0.5 on boxes) and a reading-order-independent "
        "page CER (percent).",
    )
    ep.add_argument(
        "dirs", nargs="+", metavar="DIR", help="folders of page images with their ALTO/PAGE XML"
    )
    ep.add_argument(
        "--model",
        help="a .tflite file, a model directory, or default (the "
        "model shipped in the package; the default unless $HANDWRITING_MODEL names "
        "another)",
    )
    ep.add_argument("--json", action="store_true", help="print one JSON object")
    ep.add_argument(
        "--use-layout",
        action="store_true",
        help="read the ground-truth lines instead of segmenting (recognition only)",
    )
    ep.add_argument(
        "--batch-size", type=int, default=16, help="lines per predicted batch (default 16)"
    )
    add_backend_args(ep)
    add_lm_args(ep)
    ep.set_defaults(func=cmd_evaluate_pages)
