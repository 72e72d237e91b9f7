"""Peak memory and time of `handwriting recognize` at the edges of what it accepts.

    python benchmarks/limits.py [--model default] [--keep DIR]

Each case is one fresh process running ``handwriting recognize FILE`` on a generated image;
the table gives its exit code, wall seconds, peak RSS (the process's own ``ru_maxrss``, MiB)
and the first line of stderr. Cases: the largest accepted page (100 megapixels, 10000 x 10000 px,
lines of text drawn on it), a long line (19000 x 60 px, about 24,000 normalized columns), and
degenerate shapes that must be refused at once (20000 x 1, 1 x 10000 px).
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np


def page(width: int, height: int) -> np.ndarray:
    """Paper with lines of handwriting-like text every 300 px."""
    img = np.full((height, width), 235, np.uint8)
    for y in range(400, height - 200, 300):
        cv2.putText(img, "the quick brown fox jumps over the lazy dog " * 8, (200, y),
                    cv2.FONT_HERSHEY_SCRIPT_SIMPLEX, 4.0, 30, 8, cv2.LINE_AA)  # fmt: skip
    return img


def long_line(width: int, height: int) -> np.ndarray:
    img = np.full((height, width), 235, np.uint8)
    for x in range(20, width - 400, 500):
        cv2.putText(img, "word and word", (x, height - 15), cv2.FONT_HERSHEY_SIMPLEX, 1.5, 30, 3)
    return img


def thin(width: int, height: int) -> np.ndarray:
    img = np.full((height, width), 235, np.uint8)
    img[height // 2, :] = 0
    img[:, width // 2] = 0
    return img


CASES = [
    ("largest accepted page, 10000 x 10000 px", lambda: page(10000, 10000), ["--page"]),
    ("long line, 19000 x 60 px", lambda: long_line(19000, 60), ["--line"]),
    ("degenerate line, 20000 x 1 px", lambda: thin(20000, 1), ["--line"]),
    ("degenerate line, 1 x 10000 px", lambda: thin(1, 10000), ["--line"]),
]


CHILD = """
import resource, sys
from handwriting.cli import main
try:
    code = main(sys.argv[1:])
finally:
    print(f"peak-rss-kib {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}", file=sys.stderr)
sys.exit(code)
"""


def run(path: Path, model: str, extra: list[str]) -> tuple[int, float, float, str]:
    """Exit code, wall seconds, peak RSS of the process (MiB), first line of stderr."""
    t = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", CHILD, "recognize", str(path), "--model", model, *extra],
        capture_output=True,
        text=True,  # fmt: skip
    )
    wall = time.perf_counter() - t
    lines = done.stderr.strip().splitlines()
    peak = next((int(l.split()[1]) for l in lines if l.startswith("peak-rss-kib ")), 0)
    said = [l for l in lines if not l.startswith("peak-rss-kib ")]
    return done.returncode, wall, peak / 1024, (said or [""])[0][:90]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="default")
    ap.add_argument("--keep", type=Path, help="write the generated images here (default: a "
                    "temporary folder)")  # fmt: skip
    args = ap.parse_args()
    tmp = tempfile.TemporaryDirectory() if args.keep is None else None
    root = Path(tmp.name) if tmp else args.keep
    root.mkdir(parents=True, exist_ok=True)
    print(f"{os.cpu_count()} CPU cores; one fresh process per case\n")
    print("| case | exit | wall s | peak RSS MiB | stderr |")
    print("|---|---:|---:|---:|---|")
    for k, (name, make, extra) in enumerate(CASES):
        path = root / f"case{k}.png"
        cv2.imwrite(str(path), make())
        code, wall, peak, err = run(path, args.model, extra)
        print(f"| {name} | {code} | {wall:.1f} | {peak:.0f} | {err} |", flush=True)
    if tmp:
        tmp.cleanup()


if __name__ == "__main__":
    main()
