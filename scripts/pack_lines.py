"""Pack line ground truth into one compact file (line images downscaled to --source-height and
WebP-compressed, plus their texts), so a training machine without the original folders (a GPU
box reachable only through a 64 MiB transfer) can train on it. Lines are preprocessed there.

    python scripts/pack_lines.py --out .carry/lines.pkl \
        --split train='../shared/data/lines/*/train' --split val='../shared/data/lines/*/val'
"""

import argparse
import glob
import pickle
from pathlib import Path

import cv2
from tqdm import tqdm

from handwriting.groundtruth import load_line_image, scan_line_dirs


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", required=True)
    ap.add_argument("--source-height", type=int, default=48)
    ap.add_argument("--quality", type=int, default=80, help="WebP quality")
    ap.add_argument("--split", action="append", required=True, help="NAME=GLOB of folders")
    args = ap.parse_args()
    packed = {"source_height": args.source_height, "quality": args.quality, "splits": {}}
    for spec in args.split:
        name, pattern = spec.split("=", 1)
        dirs = sorted(glob.glob(pattern))
        records, problems = scan_line_dirs(dirs)
        for p in problems:
            print(f"skipped {p.path}: {p.message}")
        rows = []
        for r in tqdm(records, desc=name):
            img = load_line_image(r)
            h, w = img.shape
            if h > args.source_height:
                img = cv2.resize(
                    img,
                    (max(1, round(w * args.source_height / h)), args.source_height),
                    interpolation=cv2.INTER_AREA,
                )
            data = cv2.imencode(".webp", img, [cv2.IMWRITE_WEBP_QUALITY, args.quality])[1].tobytes()
            rows.append(
                {"id": r.id, "text": r.text, "path": str(r.image or r.source), "image": data}
            )
        packed["splits"][name] = rows
        print(f"{name}: {len(rows)} lines from {len(dirs)} folders")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "wb") as f:
        pickle.dump(packed, f, protocol=pickle.HIGHEST_PROTOCOL)


if __name__ == "__main__":
    main()
