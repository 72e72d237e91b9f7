"""Training and batched inference throughput on this machine (lines/s), and parameter count.

    python benchmarks/throughput.py [--model saved_models/default] [--lines 200] [--config FILE]
                                    [--batch-size 16] [--lm FILE.lm.json.gz]

``--model`` may also be a ``.tflite`` file (read with LiteRT; training is then not timed).

Lines come from ../shared/data/lines/*/val when present, else are rendered with OpenCV.
"""
import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np

from handwriting.config import Config, ModelConfig
from handwriting.data import LineBatches, Sample
from handwriting.model import build_model, ctc_loss, logits_model
from handwriting.preprocessing import preprocess
from handwriting.recognize import KerasBackend, Recognizer

sys.path.insert(0, str(Path(__file__).resolve().parent))
from inference import source_lines  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", default=None)
    ap.add_argument("--lines", type=int, default=200)
    ap.add_argument("--batch-size", type=int, default=16, help="lines per forward pass")
    ap.add_argument("--train-batches", type=int, default=6, help="0: inference only")
    ap.add_argument("--config", help="training config to time (default: the model's own)")
    ap.add_argument("--lm", help="also time beam search (width 10) with this language model")
    args = ap.parse_args()
    texts, images = map(list, zip(*source_lines(args.lines)))
    rec = Recognizer(args.model, batch_size=args.batch_size)
    keras_model = rec.backend.model if isinstance(rec.backend, KerasBackend) else None  # .tflite
    size = (f"parameters: {keras_model.count_params():,}" if keras_model is not None else
            f"size: {rec.path.stat().st_size / 1e6:.2f} MB")
    print(f"model: {rec.path}  {size}  height: {rec.preprocess_config.height}  "
          f"threads: {os.cpu_count()}  backend: {type(rec.backend).__name__}"
          f"{'/' + keras.backend.backend() if keras_model is not None else ''}")
    rec.recognize(images[:16])  # warm-up (graph tracing)
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
    print(f"inference, {n} lines, batch {args.batch_size}: preprocessing {n / t_pre:.1f} lines/s, "
          f"model+decode {n / t_model:.1f} lines/s, end to end {n / t_all:.1f} lines/s")
    if args.lm:
        from handwriting.lm import load_fusion
        rec.fusion, rec.beam = load_fusion(args.lm, rec.charset.chars, model=rec.path)
        t = time.perf_counter()
        rec.recognize(images)
        t_lm = time.perf_counter() - t
        print(f"with the LM (beam 10): end to end {n / t_lm:.1f} lines/s")
    if args.train_batches < 1:
        return
    if keras_model is None:
        print("training: not timed (a .tflite file cannot be trained; give a model directory)")
        return

    cfg = Config.from_file(args.config) if args.config else Config(
        preprocess=rec.preprocess_config, model=ModelConfig.from_dict(rec.backend.meta["model"]))
    if cfg.preprocess != rec.preprocess_config:  # the candidate reads its own preprocessing
        pre = [preprocess(im, cfg.preprocess) for im in images]
    samples = [Sample(str(i), (p * 255).astype(np.uint8), t, "") for i, (t, p) in enumerate(zip(texts, pre))]
    model = build_model(cfg.model, rec.charset.n_classes, cfg.preprocess.height)
    trainer = logits_model(model)
    trainer.compile(optimizer=keras.optimizers.Adam(1e-3, clipnorm=5.0), loss=ctc_loss)
    samples = [s for s in samples if not rec.charset.unknown(s.text)]
    seq = LineBatches(samples, rec.charset, cfg.train.batch_size, cfg.model.downsample,
                      cfg.train.bucket_width, augment=True, seed=0)
    batches = [seq[i] for i in range(min(len(seq), args.train_batches + 1))]
    for x, y in batches:  # first pass: graph tracing for each shape
        trainer.train_on_batch(x, y)
    t = time.perf_counter()
    count = 0
    for x, y in batches[1:]:
        trainer.train_on_batch(x, y)
        count += len(x)
    dt = time.perf_counter() - t
    widths = np.mean([x.shape[2] for x, _ in batches[1:]])
    print(f"training, height {cfg.preprocess.height}, {model.count_params():,} parameters, "
          f"batch {cfg.train.batch_size}, mean padded width {widths:.0f}: "
          f"{count / dt:.1f} lines/s (augmentation and graph tracing excluded)")


if __name__ == "__main__":
    main()
