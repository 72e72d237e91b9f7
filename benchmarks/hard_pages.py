"""Segmentation on the hard pages it meets, drawn by the project (``synth_page``): lines
running to the edge of the scan, a signature with a flourish right under the last line,
notes in the margin, two columns, a page photographed on a table, and plain pages. Line
precision and recall (IoU >= 0.5 on line boxes) and page CER, per kind and overall, read
with the default model.

    python benchmarks/hard_pages.py [--pages 5] [--kinds edge signature ...]
                                    [--fonts FILE_OR_DIR ...] [--model default] [--json]
                                    [--save DIR]

Fonts default to the Debian handwriting fonts ``handwriting synth`` uses
(``fonts-dancingscript``, ``fonts-sjfonts``, ``fonts-kristi``, ``fonts-breip``). Page k of
a kind is drawn with seed k, so runs are comparable. ``--save DIR`` writes each page's image
and ground truth (PAGE XML) there.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import cv2

from handwriting.formats import to_page_xml
from handwriting.metrics import rates, score_page, totals
from handwriting.pages import recognize_page
from handwriting.recognize import Recognizer
from handwriting.synth import PAGE_KINDS, expand_fonts, find_fonts, synth_page


def row(name: str, r: dict) -> str:
    """One line of the table: kind, pages, lines, precision, recall, page CER."""
    return (
        f"{name:12s} {r['pages']:5d} {r['gt_lines']:4d} {r['pred_lines']:4d} "
        f"{r['precision']:6.1f} {r['recall']:6.1f} {r['cer']:6.2f}"
    )


def main():
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--pages", type=int, default=5, help="pages of each kind (default 5)")
    ap.add_argument("--kinds", nargs="+", default=list(PAGE_KINDS), choices=PAGE_KINDS)
    ap.add_argument("--fonts", nargs="+", help="font files or folders (default: Debian's)")
    ap.add_argument("--model", default=None, help="model directory or .tflite file")
    ap.add_argument("--json", action="store_true", help="print the result as JSON")
    ap.add_argument("--save", type=Path, help="write the pages and their PAGE XML here")
    args = ap.parse_args()
    fonts = expand_fonts(args.fonts) if args.fonts else find_fonts()
    if not fonts:
        sys.exit("error: no handwriting fonts: install fonts-kristi etc. or pass --fonts")
    rec = Recognizer(args.model)
    result, every = {}, []
    t0 = time.perf_counter()
    print(
        f"{'kind':12s} {'pages':>5s} {'gt':>4s} {'pred':>4s} {'P %':>6s} {'R %':>6s} {'CER %':>6s}"
    )
    for kind in args.kinds:
        rows = []
        for k in range(args.pages):
            gray, gt = synth_page(kind, fonts, seed=k)
            page = recognize_page(rec, gray)
            rows.append(score_page(gt.lines, page.lines))
            if args.save:
                args.save.mkdir(parents=True, exist_ok=True)
                cv2.imwrite(str(args.save / f"{kind}-{k}.png"), gray)
                (args.save / f"{kind}-{k}.xml").write_bytes(to_page_xml(gt, f"{kind}-{k}.png"))
        result[kind] = rates(totals(rows))
        every += rows
        print(row(kind, result[kind]), flush=True)
    result["overall"] = rates(totals(every))
    print(row("overall", result["overall"]))
    print(f"{time.perf_counter() - t0:.0f} s, {len(fonts)} fonts", file=sys.stderr)
    if args.json:
        print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
