"""Give a model directory's BiLSTM layers more units (zero weights: the same outputs), for speed.

TensorFlow's CPU LSTM is much slower at some widths than at their neighbours (on an AMD EPYC
2-core VM: a BiLSTM(256) step took 1.8x as long as a BiLSTM(264) one), so the default model
ships padded from 256 to 264 units:

    python scripts/widen_lstm.py default runs/wide --units 264

With --trainable SEED the new units get random input weights (their outputs still start at
zero weight, so the model reads the same), and fine-tuning trains them: more capacity without
training from scratch.
"""

import argparse
import dataclasses

from handwriting.artifacts import load, save
from handwriting.model import widen_lstm


def main():
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("model", help="model directory to read")
    ap.add_argument("out", help="model directory to write (may be the same)")
    ap.add_argument("--units", type=int, required=True, help="LSTM units per direction")
    ap.add_argument(
        "--trainable",
        type=int,
        metavar="SEED",
        help="give the new units random input weights (seeded) so fine-tuning trains them",
    )
    args = ap.parse_args()
    art = load(args.model)
    wide = widen_lstm(
        art.model,
        art.model_config,
        args.units,
        art.charset.n_classes,
        art.preprocess.height,
        trainable_seed=args.trainable,
    )
    training = dict(art.meta.get("training", {}))
    note = (
        "the added units have zero weights (inert), for speed"
        if args.trainable is None
        else f"the added units have random input weights (seed {args.trainable}) and zero output "
        "weights, to be trained"
    )
    training["widened_lstm"] = {
        "from_units": art.model_config.lstm_units,
        "to_units": args.units,
        "note": note,
    }
    cfg = dataclasses.replace(art.model_config, lstm_units=args.units)  # as widen_lstm builds it
    save(
        args.out,
        wide,
        art.charset,
        art.preprocess,
        cfg,
        training=training,
        metrics=art.meta.get("metrics"),
    )
    print(f"{args.out}: {art.model.count_params():,} -> {wide.count_params():,} parameters")


if __name__ == "__main__":
    main()
