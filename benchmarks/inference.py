"""Inference speed of the Keras model and its TFLite exports, on the same lines.

    python benchmarks/inference.py [--model default] [--data DIR...] [--lines 30]
        [--widths 256 512 1024] [--threads 1 2] [--tflite-dir DIR] [--calibration DIR]

For each width W, the ``--lines`` val lines whose preprocessed width is closest to W are
cropped or zero-padded to exactly W columns, so every backend reads the same inputs. Rows:

- Keras, batched: batches of 16 lines; a line's latency is the time of its batch.
- Keras, batch 1: one line per call (compiled ``tf.function``).
- TFLite float / float16 / dynamic / int8 (fused LSTMs), and float and dynamic with the LSTMs
  left as WHILE loops (``--no-fused``), each with 1 and 2 interpreter threads.

Prints one markdown table: file size, lines/s and p50/p95 per-line latency (ms) per width,
then the fused/WHILE latency ratio. The .tflite files are exported into ``--tflite-dir``
(a temporary folder by default; existing files there are reused). Lines come from the line
ground truth in ``--data`` (for example ``LINES/*/val``), else are rendered with OpenCV; the
int8 row needs ``--calibration`` (training lines).
"""

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import cv2
import numpy as np

from handwriting.recognize import Recognizer

ROOT = Path(__file__).resolve().parents[1]
MODES = [
    ("float", "none", True),
    ("float16", "float16", True),
    ("dynamic", "dynamic", True),
    ("int8", "int8", True),
    ("float, WHILE loops", "none", False),
    ("dynamic, WHILE loops", "dynamic", False),
]


def source_lines(limit: int, seed: int = 0, data=None) -> list[tuple[str, np.ndarray]]:
    """``limit`` (transcription, image) pairs drawn from the line ground-truth folders
    ``data``, or (without ``data``) rendered with OpenCV."""
    from handwriting.groundtruth import load_line_image, scan_line_dirs

    if data:
        records, _ = scan_line_dirs(data)
        if not records:
            raise SystemExit(f"error: no labelled lines in {', '.join(map(str, data))}")
        pick = np.random.default_rng(seed).choice(
            len(records), min(limit, len(records)), replace=False
        )
        return [(records[i].text, load_line_image(records[i])) for i in sorted(pick)]
    rng = np.random.default_rng(seed)  # no data: rendered lines of varied length
    words = "the quick brown fox jumps over a lazy dog while seven wizards quietly hex".split()
    pairs = []
    for _ in range(limit):
        text = " ".join(rng.choice(words, rng.integers(1, 12)))
        (w, h), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SCRIPT_SIMPLEX, 1.2, 2)
        img = np.full((h + base + 24, w + 24), 235, np.uint8)
        cv2.putText(
            img, text, (12, 12 + h), cv2.FONT_HERSHEY_SCRIPT_SIMPLEX, 1.2, 30, 2, cv2.LINE_AA
        )
        pairs.append((text, img))
    return pairs


def add_data_argument(ap) -> None:
    """``--data DIR...``: the line ground truth a benchmark reads."""
    ap.add_argument(
        "--data",
        nargs="+",
        metavar="DIR",
        help="line ground truth to read (default: lines rendered with OpenCV)",
    )


def source_images(limit: int, seed: int = 0, data=None) -> list[np.ndarray]:
    return [image for _, image in source_lines(limit, seed, data)]


def fit(line: np.ndarray, width: int) -> np.ndarray:
    out = np.zeros((line.shape[0], width), np.float32)
    out[:, : min(width, line.shape[1])] = line[:, :width]
    return out


def stats(latencies: list[float], total: float, n: int) -> tuple[float, float, float]:
    ms = np.asarray(latencies) * 1000
    return n / total, float(np.percentile(ms, 50)), float(np.percentile(ms, 95))


def time_batch1(predict, lines: list[np.ndarray]) -> tuple[float, float, float]:
    predict(lines[0][None, :, :, None])  # warm-up: tracing / tensor allocation at this width
    lat = []
    start = time.perf_counter()
    for line in lines:
        t = time.perf_counter()
        predict(line[None, :, :, None])
        lat.append(time.perf_counter() - t)
    return stats(lat, time.perf_counter() - start, len(lines))


def time_batched(predict, lines: list[np.ndarray], batch: int = 16) -> tuple[float, float, float]:
    x = np.stack(lines)[..., None]
    predict(x[:batch])  # warm-up (both batch shapes)
    if len(x) % batch:
        predict(x[-(len(x) % batch) :])
    lat = []
    start = time.perf_counter()
    for i in range(0, len(x), batch):
        t = time.perf_counter()
        predict(x[i : i + batch])
        lat += [time.perf_counter() - t] * len(x[i : i + batch])
    return stats(lat, time.perf_counter() - start, len(x))


def main():
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--model", default="default", help="model directory (default: the shipped one)")
    add_data_argument(ap)
    ap.add_argument("--lines", type=int, default=30, help="lines per width")
    ap.add_argument("--widths", type=int, nargs="+", default=[256, 512, 1024])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument(
        "--tflite-dir", help="where the exports are written / reused (default: temporary)"
    )
    ap.add_argument("--calibration", help="int8 calibration lines (without: no int8 row)")
    args = ap.parse_args()

    from handwriting.export import export
    from handwriting.runtime import LiteBackend

    keras_rec = Recognizer(args.model, backend="keras")
    images = source_images(max(200, 4 * args.lines), data=args.data)
    pre = [keras_rec.preprocess(im) for im in images]
    inputs = {}
    for w in args.widths:  # the lines closest to this width, cut or padded to it
        order = np.argsort([abs(p.shape[1] - w) for p in pre], kind="stable")[: args.lines]
        inputs[w] = [fit(pre[i], w) for i in order]

    tmp = None
    if args.tflite_dir:
        out_dir = Path(args.tflite_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="handwriting-bench-")
        out_dir = Path(tmp.name)
    files = {}
    for label, quantize, fused in MODES:
        path = out_dir / f"{quantize}{'' if fused else '-while'}.tflite"
        if quantize == "int8" and not args.calibration and not path.exists():
            print("(skipping int8: no --calibration lines)")
            continue
        if not path.exists():
            t = time.perf_counter()
            export(
                args.model,
                path,
                quantize,
                fused=fused,
                representative=args.calibration if quantize == "int8" else None,
            )
            print(f"exported {label}: {time.perf_counter() - t:.0f} s")
        files[label] = path

    weights = keras_rec.path / "model.weights.h5"
    print(
        f"\nmodel: {args.model}  ({keras_rec.backend.model.count_params():,} parameters, "
        f"height {keras_rec.preprocess_config.height}); {args.lines} lines per width; "
        f"{os.cpu_count()} CPU cores\n"
    )
    rows = []
    rows.append(
        (
            "Keras, batched (16)",
            "-",
            weights.stat().st_size,
            {w: time_batched(keras_rec.backend.predict, inputs[w]) for w in args.widths},
        )
    )
    rows.append(
        (
            "Keras, batch 1",
            "-",
            weights.stat().st_size,
            {w: time_batch1(keras_rec.backend.predict, inputs[w]) for w in args.widths},
        )
    )
    for label, path in files.items():
        for threads in args.threads:
            backend = LiteBackend(path, threads=threads)
            rows.append(
                (
                    f"TFLite {label}",
                    threads,
                    path.stat().st_size,
                    {w: time_batch1(backend.predict, inputs[w]) for w in args.widths},
                )
            )

    head = (
        "| backend | threads | size MB | "
        + " | ".join(f"{w}: lines/s | {w}: p50 ms | {w}: p95 ms" for w in args.widths)
        + " |"
    )
    print(head)
    print("|" + "---|" * (3 + 3 * len(args.widths)))
    for name, threads, size, res in rows:
        cells = " | ".join(
            f"{res[w][0]:.1f} | {res[w][1]:.1f} | {res[w][2]:.1f}" for w in args.widths
        )
        print(f"| {name} | {threads} | {size / 1e6:.1f} | {cells} |")

    wmax = max(args.widths)
    print()
    for mode in ("float", "dynamic"):
        fused = {r[1]: r[3] for r in rows if r[0] == f"TFLite {mode}"}
        loops = {r[1]: r[3] for r in rows if r[0] == f"TFLite {mode}, WHILE loops"}
        for threads in args.threads:
            if threads in fused and threads in loops:
                f, w = fused[threads][wmax][1], loops[threads][wmax][1]
                print(
                    f"{mode}: fused / WHILE p50 latency at width {wmax}, {threads} thread(s): "
                    f"{f:.1f} / {w:.1f} ms = {f / w:.2f} (speed-up {w / f:.2f}x)"
                )
    # the same comparison without LiteRT's default XNNPACK delegate (runtimes that lack it):
    # XNNPACK speeds up the WHILE loops' FULLY_CONNECTED ops but has no LSTM kernel
    for mode in ("float", "dynamic"):
        if mode in files and f"{mode}, WHILE loops" in files:
            p50 = {}
            for kind in (mode, f"{mode}, WHILE loops"):
                backend = LiteBackend(files[kind], threads=1, xnnpack=False)
                p50[kind] = time_batch1(backend.predict, inputs[wmax])[1]
            f, w = p50[mode], p50[f"{mode}, WHILE loops"]
            print(
                f"{mode}, without XNNPACK: fused / WHILE p50 latency at width {wmax}, 1 thread: "
                f"{f:.1f} / {w:.1f} ms = {f / w:.2f} (speed-up {w / f:.2f}x)"
            )
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
