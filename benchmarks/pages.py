"""Whole-page accuracy with the default model: line detection (precision / recall at
IoU >= 0.5 on line boxes) and the reading-order-independent page CER, per page and per
folder (``handwriting.pages.evaluate_pages``).

    python benchmarks/pages.py DIR... [--model default] [--layout] [--draw DIR] [--json]
                                      [--photo | --fine-pen]

DIRs are folders of page images with their ALTO/PAGE XML. ``--layout`` adds a
column with the CER of the same pages read along their ground-truth lines (so the
difference is what segmentation costs); ``--draw DIR`` saves each page with its detected
lines: red polygons, blue baselines, green reading-order numbers, thin grey boxes for the
ground-truth lines. ``--photo`` reads each page as if photographed on a dark table: the
page on a dark ground (a margin of 12 % of its longer side), turned by 3 degrees, with light
falling off to one side (ground-truth lines moved with it); it prints one row per page.
``--fine-pen`` reads each page as a large scan of a fine pen: scaled 2.5 times (about
5000 px high) with every stroke 6 px thinner (a 7 x 7 maximum filter), so the ink is
2-3 px wide; one row per page.
"""

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import cv2
import numpy as np

from handwriting.images import load_image
from handwriting.metrics import rates, score_page, totals
from handwriting.pages import evaluate_pages, find_pages, recognize_page
from handwriting.recognize import Recognizer
from handwriting.segment import draw_lines, segment_page
from handwriting.synth import photograph


def draw(dirs, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for path, gt in find_pages(dirs)[0]:
        gray = load_image(gt.image)
        img = draw_lines(gray, segment_page(gray))
        for line in gt.lines:
            (x0, y0), (x1, y1) = line.polygon.min(0), line.polygon.max(0)
            cv2.rectangle(img, (int(x0), int(y0)), (int(x1), int(y1)), (150, 150, 150), 1)
        f = min(1.0, 1400 / max(img.shape[:2]))
        img = cv2.resize(img, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
        cv2.imwrite(str(out / f"{path.stem}.png"), img)
        print(f"drew {out / (path.stem + '.png')}")


def photographed(gray, polygons):
    return photograph(gray, polygons, ground=60, margin=0.12, light=0.35)


def fine_pen(gray, polygons, f=2.5, thinner=6):
    """The page scanned at ``f`` times the size with strokes ``thinner`` px thinner."""
    big = cv2.resize(gray, None, fx=f, fy=f, interpolation=cv2.INTER_CUBIC)
    return cv2.dilate(big, np.ones((thinner + 1, thinner + 1), np.uint8)), [p * f for p in polygons]


def variant_pages(rec, dirs, make, title) -> None:
    """One row per page read after ``make(gray, polygons) -> (image, polygons)``."""
    print(f"{title:44s} {'gt':>4s} {'pred':>4s} {'P %':>6s} {'R %':>6s} {'CER %':>6s}")
    rows = []
    for path, gt in find_pages(dirs)[0]:
        image, polygons = make(load_image(gt.image), [ln.polygon for ln in gt.lines])
        lines = [dataclasses.replace(ln, polygon=p) for ln, p in zip(gt.lines, polygons)]
        rows.append(rates(score_page(lines, recognize_page(rec, image).lines)))
        print(row(path.name, rows[-1], None))
    print(row("overall", rates(totals(rows)), None))


def row(name: str, r: dict, ref: dict | None) -> str:
    line = (
        f"{name[-44:]:44s} {r['gt_lines']:4d} {r['pred_lines']:4d} {r['precision']:6.1f} "
        f"{r['recall']:6.1f} {r['cer']:6.2f}"
    )
    return line + (f" {ref['cer']:9.2f}" if ref else "")


def main():
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "dirs", nargs="+", metavar="DIR", help="folders of page images with their ALTO/PAGE XML"
    )
    ap.add_argument(
        "--model", default=None, help="model directory or .tflite file (default: the default model)"
    )
    ap.add_argument(
        "--backend",
        default="auto",
        choices=["auto", "litert", "keras"],
        help="as `handwriting recognize --backend` (default auto: LiteRT for the default model)",
    )
    ap.add_argument(
        "--layout", action="store_true", help="also report the CER along the ground-truth lines"
    )
    ap.add_argument("--draw", metavar="DIR", help="save pictures of the segmented pages here")
    ap.add_argument("--json", action="store_true", help="print the result dicts as JSON")
    ap.add_argument(
        "--photo",
        action="store_true",
        help="read the pages as if photographed on a dark table (see above)",
    )
    ap.add_argument(
        "--fine-pen",
        action="store_true",
        help="read the pages as large scans of a fine pen (see above)",
    )
    args = ap.parse_args()
    if args.photo and args.fine_pen:
        ap.error("choose one of --photo and --fine-pen")
    variant = "--photo" if args.photo else "--fine-pen" if args.fine_pen else None
    if variant and (args.layout or args.draw or args.json):
        ap.error(
            f"{variant} prints its own table: it cannot be combined with --layout, --draw or --json"
        )
    rec = Recognizer(args.model, backend=args.backend)
    if args.photo:
        variant_pages(rec, args.dirs, photographed, "photographed page")
        return
    if args.fine_pen:
        variant_pages(rec, args.dirs, fine_pen, "fine pen, 2.5x scan")
        return
    t = time.perf_counter()
    result = evaluate_pages(rec, args.dirs)
    seconds = time.perf_counter() - t
    ref = evaluate_pages(rec, args.dirs, use_layout=True) if args.layout else None
    for problem in result["problems"]:
        print(f"skipped {problem}", file=sys.stderr)
    if args.json:
        print(json.dumps({"segmented": result, "layout": ref}, indent=2, ensure_ascii=False))
    else:
        refs = {r["path"]: r for r in ref["pages"] + ref["sets"]} if ref else {}
        print(
            f"{'page':44s} {'gt':>4s} {'pred':>4s} {'P %':>6s} {'R %':>6s} {'CER %':>6s}"
            + (f" {'GT-lines':>9s}" if ref else "")
        )
        for group in result["sets"]:
            for r in result["pages"]:
                if Path(r["path"]).parent == Path(group["path"]):
                    print(row(Path(r["path"]).name, r, refs.get(r["path"])))
            print(row(f"{group['path']} (all)", group, refs.get(group["path"])))
        print(row("overall", result["overall"], ref["overall"] if ref else None))
        print(
            f"{result['overall']['pages']} pages in {seconds:.1f} s "
            f"(segmentation + recognition, {os.cpu_count()} CPU threads)"
        )
    if args.draw:
        draw(args.dirs, Path(args.draw))


if __name__ == "__main__":
    main()
