"""Learning curves of `handwriting adapt` on a real collection: the collection's documents
split into two halves; the model adapted on N lines of one half and measured on the other
half (and the other way round), with the change in CER on other sources (forgetting).

    KERAS_BACKEND=jax python benchmarks/adapt.py --collection LINES/stanford/val \
        [--sizes 25 50 100 150] [--max-minutes 15] [--others LINES/copiste/val ...] \
        [--from-model default] [--out runs/adapt-bench]

Lines are grouped into documents by file name (``letter12_007.png`` belongs to
``letter12``); documents go to the halves in turn, in name order. N lines are taken evenly
from the documents of the adapting half (all of them when N is larger). Prints one row per
direction and size: minutes, lines/s, CER of the other half before and after, relative
reduction; then the mean over both directions, and the CER of each ``--others`` folder with
the base model and with the models adapted on the most lines.
"""

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from handwriting.adapt import adapt, groups_of  # noqa: E402
from handwriting.evaluate import evaluate  # noqa: E402
from handwriting.groundtruth import scan_line_dirs  # noqa: E402


def halves(records):
    """The collection's documents dealt into two halves, in name order."""
    groups = groups_of(records)
    names = sorted(groups)
    return [[r for n in names[k::2] for r in groups[n]] for k in (0, 1)]


def take(records, n):
    """``n`` lines spread over the documents: one line of each document in turn."""
    groups = groups_of(records)
    order, depth = [], 0
    while len(order) < min(n, len(records)):
        for lines in groups.values():
            if depth < len(lines):
                order.append(lines[depth])
        depth += 1
    return order[:n]


def link_lines(records, folder: Path) -> Path:
    """A folder of links to the records' images and labels (line-image ground truth)."""
    folder.mkdir(parents=True, exist_ok=True)
    for r in records:
        image = Path(r.image).resolve()
        for src in (image, image.with_name(image.name[: -len(image.suffix)] + ".gt.txt")):
            dst = folder / src.name
            if not dst.exists():
                dst.symlink_to(src)
    return folder


def cer_of(folder, model) -> float:
    """Greedy CER of ``model`` on ``folder``, with Keras for base and adapted models alike."""
    return evaluate([folder], model=model, progress=False, backend="keras")["overall"]["cer"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument(
        "--collection", required=True, type=Path, help="line ground truth of one collection"
    )
    ap.add_argument("--sizes", type=int, nargs="+", default=[25, 50, 100, 150])
    ap.add_argument("--max-minutes", type=float, default=15)
    ap.add_argument("--others", nargs="*", default=[], help="other val folders (forgetting)")
    ap.add_argument("--from-model", default="default")
    ap.add_argument("--out", type=Path, default=Path("runs/adapt-bench"))
    args = ap.parse_args()
    records, _ = scan_line_dirs([args.collection])
    if not records:
        sys.exit(f"error: {args.collection}: no line ground truth")
    parts = halves(records)
    rows, largest = [], {}
    directions = ["half 1 -> half 2", "half 2 -> half 1"]
    for k, (train_half, test_half) in enumerate([(parts[0], parts[1]), (parts[1], parts[0])]):
        direction = directions[k]
        test_dir = link_lines(test_half, args.out / f"test{k}")
        before = cer_of(test_dir, args.from_model)
        for n in sorted({min(size, len(train_half)) for size in args.sizes}):
            mine = link_lines(take(train_half, n), args.out / f"lines{k}-{n}")
            out = args.out / f"model{k}-{n}"
            r = adapt(
                [mine],
                out,
                from_model=args.from_model,
                max_minutes=args.max_minutes,
                progress=False,
            )
            after = cer_of(test_dir, out)
            row = {
                "direction": direction,
                "lines": n,
                "minutes": r["minutes"],
                "lines_per_second": r["lines_per_second"],
                "epochs": r["epochs"],
                "held_out_before": r["before"]["cer"],
                "held_out_after": r["after"]["cer"],
                "test_before": round(before, 2),
                "test_after": round(after, 2),
                "relative_reduction": round(100 * (before - after) / before, 1),
            }
            rows.append(row)
            largest[k] = out
            print(json.dumps(row), flush=True)
    print(
        f"\n{'direction':18s} {'lines':>5s} {'min':>5s} {'lines/s':>7s} {'CER before':>10s} {'after':>6s} {'rel. %':>6s}"
    )
    for r in rows:
        print(
            f"{r['direction']:18s} {r['lines']:5d} {r['minutes']:5.1f} {r['lines_per_second']:7.2f} "
            f"{r['test_before']:10.2f} {r['test_after']:6.2f} {r['relative_reduction']:6.1f}"
        )
    first, second = ([r for r in rows if r["direction"] == d] for d in directions)
    for both in zip(first, second):
        mean = sum(r["relative_reduction"] for r in both) / 2
        lines = " and ".join(str(r["lines"]) for r in both)
        print(f"mean relative CER reduction with {lines} lines: {mean:.1f} %")
    if args.others:
        print(
            f"\n{'other source':40s} {'base':>6s} "
            + " ".join(f"{'adapted ' + str(k + 1):>10s}" for k in largest)
        )
        for d in args.others:
            base = cer_of(d, args.from_model)
            adapted = [cer_of(d, m) for m in largest.values()]
            print(f"{str(d):40s} {base:6.2f} " + " ".join(f"{a:10.2f}" for a in adapted))


if __name__ == "__main__":
    main()
