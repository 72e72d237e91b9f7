"""Time one Keras BiLSTM layer at several widths on this machine (why the default model's LSTMs
have 264 units, not 256: see handwriting/models/default/README.md, "LSTM width and CPU speed").

    python benchmarks/lstm_width.py [--units 240 256 264 272 288 320] [--batch 16] [--steps 150]
"""

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np


def main():
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--units", type=int, nargs="+", default=[240, 256, 264, 272, 288, 320])
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument(
        "--steps", type=int, default=150, help="time steps (a 600 px line at height 40)"
    )
    ap.add_argument("--features", type=int, default=512, help="input features per step")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    if keras.backend.backend() != "tensorflow":
        raise SystemExit("this benchmark times TensorFlow's LSTM: run it without KERAS_BACKEND")
    import tensorflow as tf

    x = np.random.default_rng(0).random((args.batch, args.steps, args.features)).astype("float32")
    print(f"TensorFlow {tf.__version__}, {os.cpu_count()} threads, input {x.shape}")
    for units in args.units:
        layer = keras.layers.Bidirectional(keras.layers.LSTM(units, return_sequences=True))
        run = tf.function(layer)
        keras.ops.convert_to_numpy(run(x))  # build and trace
        best = float("inf")
        for _ in range(3):
            t = time.perf_counter()
            for _ in range(args.repeats):
                keras.ops.convert_to_numpy(run(x))
            best = min(best, (time.perf_counter() - t) / args.repeats)
        print(
            f"BiLSTM({units}): {best * 1000:6.1f} ms per batch, "
            f"{best / args.steps * 1e6:5.0f} us per step",
            flush=True,
        )


if __name__ == "__main__":
    main()
