"""Val CER per CPU time of candidate architectures, each trained from scratch on this machine.

    KERAS_BACKEND=jax python benchmarks/architectures.py --data LINES [--minutes 28 | --epochs N]
                                                         [--max-lines 3000] [--only NAME...]
                                                         [--resume]

LINES holds line ground truth as ``LINES/<source>/train`` and ``LINES/<source>/val``. Every
candidate trains with the same seed, optimizer (Adam 1e-3, batch 16, augmentation) and
the same evenly spread ``--max-lines`` training lines of LINES/*/train, for a
wall-clock budget of ``--minutes`` (stopping at the last epoch boundary that fits) or for
``--epochs`` epochs, and is scored
on the same ``--val-limit`` val lines after every epoch. Prints one row per candidate: parameters,
training lines/s, epochs, minutes used, and val CER after each epoch. ``--resume --epochs N``
continues runs already in ``--out`` to N epochs in total.
"""

import argparse
import glob
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from handwriting import artifacts  # noqa: E402
from handwriting.config import Config  # noqa: E402
from handwriting.train import train  # noqa: E402

H40 = {"conv_filters": [32, 64, 128, 128], "pools": [[2, 2], [2, 2], [2, 1], [1, 1]]}
CANDIDATES = {
    "H40 4-block (shipped)": {"preprocess": {"height": 40}, "model": H40},
    "H40 separable": {"preprocess": {"height": 40}, "model": {**H40, "separable": True}},
    "H32 3-block": {
        "preprocess": {"height": 32},
        "model": {"conv_filters": [32, 64, 128], "pools": [[2, 2], [2, 2], [2, 1]]},
    },
    # Retsinas et al. (DAS 2022): the height pooled by max, and a CTC shortcut head
    "H40 max column pool": {"preprocess": {"height": 40}, "model": {**H40, "column_pool": "max"}},
    "H40 CTC shortcut": {"preprocess": {"height": 40}, "model": {**H40, "shortcut": 0.1}},
    "H40 max + shortcut": {
        "preprocess": {"height": 40},
        "model": {**H40, "column_pool": "max", "shortcut": 0.1},
    },
}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument(
        "--data",
        required=True,
        type=Path,
        help="folder of line ground truth: DATA/<source>/train and DATA/<source>/val",
    )
    ap.add_argument(
        "--minutes",
        type=float,
        default=28,
        help="wall-clock budget per candidate (ignored with --epochs)",
    )
    ap.add_argument(
        "--epochs",
        type=int,
        help="train each candidate for exactly this many epochs instead of --minutes",
    )
    ap.add_argument("--max-lines", type=int, default=3000)
    ap.add_argument("--val-limit", type=int, default=400)
    ap.add_argument("--out", default="runs/architectures")
    ap.add_argument("--only", nargs="*", help="candidate names to run (default: all)")
    ap.add_argument(
        "--resume",
        action="store_true",
        help="continue each candidate's run in --out up to --epochs in total",
    )
    args = ap.parse_args()
    root = args.data
    train_dirs, val_dirs = (
        sorted(glob.glob(str(root / "*/train"))),
        sorted(glob.glob(str(root / "*/val"))),
    )
    if not train_dirs:
        sys.exit(f"error: {root}: no <source>/train folders of line ground truth")
    results = []
    for name, spec in CANDIDATES.items():
        if args.only and name not in args.only:
            continue
        config = Config.from_dict(
            {
                **spec,
                "train": {
                    "batch_size": 16,
                    "epochs": args.epochs or 100,
                    "learning_rate": 1e-3,
                    "lr_patience": 0,
                    "early_stopping": 0,
                    "augment": True,
                    "seed": 42,
                    "bucket_width": 256,
                    "val_limit": args.val_limit,
                },
            }
        )
        out = Path(args.out) / name.split(" (")[0].replace(" ", "-")
        s = train(
            train_dirs,
            val_dirs,
            out,
            config,
            epochs=args.epochs,
            resume=args.resume,
            progress=False,
            max_seconds=0 if args.epochs else args.minutes * 60,
            max_lines=args.max_lines,
        )
        hist = json.loads((out / "history.json").read_text(encoding="utf-8"))
        minutes, elapsed = [], 0.0
        for h in hist:
            elapsed += h["seconds"] / 60
            minutes.append(round(elapsed, 1))
        row = {
            "candidate": name,
            "parameters": artifacts.load(out).model.count_params(),
            "epochs": len(hist),
            "minutes": minutes[-1],
            "lines_per_second": round(sum(h["lines_per_second"] for h in hist) / len(hist), 2),
            "minutes_per_epoch": minutes,
            "val_cer_per_epoch": [round(h["val_cer"], 2) for h in hist],
            "best_val_cer": round(s["best_val_cer"], 2),
        }
        results.append(row)
        print(json.dumps(row), flush=True)
    print(
        f"\n{'candidate':24s} {'params':>10s} {'lines/s':>8s} {'epochs':>6s} {'min':>6s} {'best CER':>9s}"
    )
    for r in results:
        print(
            f"{r['candidate']:24s} {r['parameters']:>10,d} {r['lines_per_second']:>8.2f} "
            f"{r['epochs']:>6d} {r['minutes']:>6.1f} {r['best_val_cer']:>9.2f}"
        )


if __name__ == "__main__":
    main()
