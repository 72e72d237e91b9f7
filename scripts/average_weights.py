"""Average the weights of two model directories of the same architecture and charset (WiSE-FT:
a base model and its fine-tuned copy), to keep what the base read while keeping part of what
the fine-tuning added.

Usage::

    python scripts/average_weights.py BASE_DIR TUNED_DIR OUT_DIR [--weight 0.5]

OUT_DIR gets ``(1 - weight) * BASE + weight * TUNED`` for every tensor (classifier columns of
characters the fine-tuning added stay TUNED's), with TUNED's metadata
and ``training.weight_average`` recording the two sources. Evaluate it before use
(``handwriting evaluate ... --model OUT_DIR``).
"""

from __future__ import annotations

import argparse
import sys

from handwriting import artifacts
from handwriting.adapt import blend_with_base
from handwriting.errors import HandwritingError


def average(base_dir, tuned_dir, out_dir, weight: float = 0.5):
    """Write the weighted mean of the two models to ``out_dir``; returns its path."""
    base, tuned = artifacts.load(base_dir), artifacts.load(tuned_dir)
    blend_with_base(base, tuned, weight)
    training = dict(tuned.meta.get("training") or {})
    training["weight_average"] = {"weight": weight, "base": str(base_dir), "tuned": str(tuned_dir)}
    return artifacts.save(
        out_dir, tuned.model, tuned.charset, tuned.preprocess, tuned.model_config, training=training
    )


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("base")
    p.add_argument("tuned")
    p.add_argument("out")
    p.add_argument("--weight", type=float, default=0.5, help="share of TUNED (default 0.5)")
    args = p.parse_args(argv)
    if not 0 <= args.weight <= 1:
        print(f"error: --weight must be 0..1, got {args.weight}", file=sys.stderr)
        return 2
    try:
        print(average(args.base, args.tuned, args.out, args.weight))
    except HandwritingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
