"""Draw a contact sheet of synthetic lines (``handwriting synth`` with the built-in text and
letter forms, no ground truth) for the README.

Usage::

    python scripts/synth_sheet.py docs/synth_lines.png --fonts ~/.cache/handwriting/fonts \
        /usr/share/fonts/truetype/kristi --count 30 --seed 0
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import cv2
import numpy as np

from handwriting.synth import expand_fonts, find_fonts, generate


def sheet(images: list[np.ndarray], row_height: int = 44, width: int = 1100) -> np.ndarray:
    """The images scaled to ``row_height`` and stacked on a white sheet ``width`` px wide
    (longer lines are cut at the right edge)."""
    rows = []
    for img in images:
        w = max(1, round(img.shape[1] * row_height / img.shape[0]))
        row = np.full((row_height + 6, width), 255, np.uint8)
        scaled = cv2.resize(img, (w, row_height), interpolation=cv2.INTER_AREA)[:, : width - 8]
        row[3 : 3 + row_height, 4 : 4 + scaled.shape[1]] = scaled
        rows.append(row)
    return np.vstack(rows)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("out", type=Path, help="the PNG to write")
    p.add_argument("--fonts", nargs="+", help="font files or folders (default: the Debian ones)")
    p.add_argument("--count", type=int, default=30)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    fonts = expand_fonts(args.fonts) if args.fonts else find_fonts()
    with tempfile.TemporaryDirectory() as tmp:
        paths = generate(
            tmp, args.count, seed=args.seed, fonts=fonts, digits=0.05, letters=0.3, progress=False
        )
        images = [cv2.imread(str(p), cv2.IMREAD_GRAYSCALE) for p in paths]
    ok, png = cv2.imencode(".png", sheet(images), [cv2.IMWRITE_PNG_COMPRESSION, 9])
    args.out.write_bytes(png.tobytes())
    print(f"{args.out}: {len(images)} lines")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
