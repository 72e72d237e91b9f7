"""Train from a file written by pack_lines.py (any Keras backend; used for GPU training).

    KERAS_BACKEND=jax python scripts/train_packed.py --packed .carry/lines.pkl --out runs/default \
        --config configs/default-gpu.json --max-minutes 8 [--resume]
"""

import argparse
import logging
import os
import pickle
from concurrent.futures import ProcessPoolExecutor

import cv2
import numpy as np

from handwriting.config import Config
from handwriting.data import Sample
from handwriting.preprocessing import preprocess, to_uint8
from handwriting.train import train


def _prep(args):
    data, config = args
    return to_uint8(
        preprocess(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE), config)
    )


def load(path, config, splits=("train", "val")):
    with open(path, "rb") as f:
        packed = pickle.load(f)
    out = []
    with ProcessPoolExecutor(os.cpu_count()) as pool:
        for name in splits:
            rows = packed["splits"][name]
            lines = pool.map(_prep, [(d["image"], config) for d in rows], chunksize=64)
            out.append(
                [Sample(d["id"], line, d["text"], d["path"]) for d, line in zip(rows, lines)]
            )
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--packed", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--config")
    ap.add_argument("--epochs", type=int)
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--max-minutes", type=float, default=0)
    ap.add_argument("--workers", type=int)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    config = Config.from_file(args.config) if args.config else Config()
    tr, va = load(args.packed, config.preprocess)
    logging.info("loaded %d train / %d val lines", len(tr), len(va))
    summary = train(
        [],
        [],
        args.out,
        config,
        epochs=args.epochs,
        resume=args.resume,
        samples=(tr, va),
        workers=args.workers,
        max_seconds=args.max_minutes * 60,
        progress=False,
    )
    print(summary)


if __name__ == "__main__":
    main()
