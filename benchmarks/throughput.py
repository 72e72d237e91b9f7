"""Inference throughput of the reading backends side by side, and training throughput
(lines/s on this machine).

    python benchmarks/throughput.py [--model default] [--data DIR...] [--lines 200]
                                    [--backends keras litert] [--threads N] [--batch-size 16]
                                    [--train-batches 6] [--config FILE] [--lm FILE.lm.json.gz]

One row per backend, all in this process on the same lines: Keras (the model directory's
weights, batches of ``--batch-size``) and LiteRT (the directory's ``.tflite`` export, or
``--model FILE.tflite``; one interpreter per thread, ``--threads`` of them, default: the
cores available). Each row: preprocessing, model + decoding, and end-to-end lines/s
(``Recognizer.recognize`` on image arrays). With a model directory, training is then timed
for ``--train-batches`` batches (0: not timed).

Lines come from the line ground truth in ``--data`` (for example ``LINES/*/val``), else are
rendered with OpenCV.
"""

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

from handwriting.recognize import Recognizer
from handwriting.runtime import available_cores

sys.path.insert(0, str(Path(__file__).resolve().parent))
from inference import add_data_argument, source_lines  # noqa: E402


def time_reading(rec: Recognizer, images: list) -> tuple[float, float, float]:
    """Lines/s of preprocessing, of model + decoding, and end to end."""
    rec.recognize(images[:16])  # warm-up (graph tracing, tensor allocation)
    t = time.perf_counter()
    pre = [rec.preprocess(im) for im in images]
    t_pre = time.perf_counter() - t
    t = time.perf_counter()
    rec.predict_lines(pre)
    t_model = time.perf_counter() - t
    t = time.perf_counter()
    rec.recognize(images)
    t_all = time.perf_counter() - t
    n = len(images)
    return n / t_pre, n / t_model, n / t_all


def time_training(rec: Recognizer, texts, images, config_file, train_batches: int) -> None:
    from handwriting._keras import keras
    from handwriting.config import Config, ModelConfig
    from handwriting.data import LineBatches, Sample
    from handwriting.model import build_model, logits_model, make_ctc_loss
    from handwriting.preprocessing import preprocess

    cfg = (
        Config.from_file(config_file)
        if config_file
        else Config(
            preprocess=rec.preprocess_config, model=ModelConfig.from_dict(rec.backend.meta["model"])
        )
    )
    pre = [preprocess(im, cfg.preprocess) for im in images]
    samples = [
        Sample(str(i), (p * 255).astype(np.uint8), t, "")
        for i, (t, p) in enumerate(zip(texts, pre))
        if not rec.charset.unknown(t)
    ]
    model = build_model(cfg.model, rec.charset.n_classes, cfg.preprocess.height)
    shortcut = cfg.model.shortcut  # a training-only CTC head, as train() builds it
    trainer = logits_model(model, shortcut=bool(shortcut))
    trainer.compile(
        optimizer=keras.optimizers.Adam(1e-3, clipnorm=5.0), loss=make_ctc_loss(shortcut)
    )
    seq = LineBatches(
        samples,
        rec.charset,
        cfg.train.batch_size,
        cfg.model.downsample,
        cfg.train.bucket_width,
        augment=True,
        seed=0,
    )
    batches = [seq[i] for i in range(min(len(seq), train_batches + 1))]
    for x, y in batches:  # first pass: graph tracing for each shape
        trainer.train_on_batch(x, y)
    t = time.perf_counter()
    count = 0
    for x, y in batches[1:]:
        trainer.train_on_batch(x, y)
        count += len(x)
    dt = time.perf_counter() - t
    widths = np.mean([x.shape[2] for x, _ in batches[1:]])
    print(
        f"training ({keras.backend.backend()}), height {cfg.preprocess.height}, "
        f"{model.count_params():,} parameters, batch {cfg.train.batch_size}, mean padded "
        f"width {widths:.0f}: {count / dt:.1f} lines/s (augmentation and tracing excluded)"
    )


def main():
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--model", default="default", help="model directory or .tflite file")
    add_data_argument(ap)
    ap.add_argument("--lines", type=int, default=200)
    ap.add_argument(
        "--backends", nargs="+", choices=["keras", "litert"], default=["keras", "litert"]
    )
    ap.add_argument(
        "--threads", type=int, help="LiteRT interpreters (default: the cores available)"
    )
    ap.add_argument("--batch-size", type=int, default=16, help="lines per forward pass")
    ap.add_argument("--train-batches", type=int, default=6, help="0: inference only")
    ap.add_argument("--config", help="training config to time (default: the model's own)")
    ap.add_argument("--lm", help="also time beam search (width 10) with this language model")
    args = ap.parse_args()
    texts, images = map(list, zip(*source_lines(args.lines, data=args.data)))
    if str(args.model).endswith(".tflite"):
        args.backends = ["litert"]
    print(f"{len(images)} lines; {available_cores()} CPU cores available\n")
    print(
        "| backend | model | batch / threads | preprocessing | model + decode | end to end |"
        + (" with LM, beam 10 |" if args.lm else "")
    )
    print("|---|---|---|---:|---:|---:|" + ("---:|" if args.lm else ""))
    keras_rec = None
    for backend in args.backends:
        rec = Recognizer(
            args.model, batch_size=args.batch_size, threads=args.threads, backend=backend
        )
        if backend == "keras":
            from handwriting._keras import keras

            keras_rec, how = rec, f"batch {args.batch_size}"
            name = f"Keras ({keras.backend.backend()})"
        else:
            name, how = "LiteRT", f"{rec.backend.threads} thread(s)"
        pre, model, total = time_reading(rec, images)
        cells = f"| {name} | {rec.path.name} | {how} | {pre:.1f} | {model:.1f} | {total:.1f} |"
        if args.lm:
            from handwriting.lm import load_fusion

            rec.fusion, rec.beam = load_fusion(args.lm, rec.charset.chars, model=rec.path)
            t = time.perf_counter()
            rec.recognize(images)
            cells += f" {len(images) / (time.perf_counter() - t):.1f} |"
        print(cells, flush=True)
    if args.train_batches > 0 and keras_rec is not None:
        print()
        time_training(keras_rec, texts, images, args.config, args.train_batches)


if __name__ == "__main__":
    main()
