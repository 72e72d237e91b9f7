"""Start-up, memory and speed of reading: one fresh process per backend.

    python benchmarks/memory.py [--model default] [--data DIR...] [--lines 200] [--float] [--lm]

Each row runs in its own Python process, which reads the same ``--lines`` line images (from
the line ground truth in ``--data``, else rendered with OpenCV) with ``Recognizer`` in
batches of 16 and reports:

- one line, CLI: wall seconds of ``handwriting recognize LINE`` in a fresh process (imports,
  model load, one line read), the time a user waits for one line;
- start-up: seconds from the process's start until the model is loaded;
- RSS in MiB after imports (no model yet), after load, and at the peak (``ru_maxrss``)
  after reading all lines;
- lines/s and whether TensorFlow was imported.

Rows: the Keras weights (TensorFlow backend, batch 16), ``default.tflite`` under LiteRT with
one interpreter thread and with one per core (the default), with ``--float`` a float32
``.tflite`` exported into a temporary folder, and with ``--lm`` LiteRT again with the
model's language model (``lm="model"``, beam 10; its file size is then the .tflite's plus
the LM's). Prints one markdown table.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

CHILD = r"""
import time; START = time.perf_counter()
import json, resource, sys
def rss():  # current resident set size, MiB
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmRSS:")) / 1024
model, backend, threads, lm, paths = sys.argv[1], sys.argv[2], int(sys.argv[3]) or None, sys.argv[4] or None, sys.argv[5:]
from handwriting.recognize import Recognizer
if backend == "keras":
    from handwriting._keras import keras  # noqa: F401  (what loading the model imports anyway)
r0 = rss()
rec = Recognizer(model, batch_size=16, lm=lm, backend=backend, threads=threads)
started = time.perf_counter() - START
r1 = rss()
t = time.perf_counter()
results = rec.recognize(paths)
dt = time.perf_counter() - t
assert all(r.ok for r in results), [r.error for r in results if not r.ok]
print(json.dumps({"imports": r0, "load": r1, "startup": started,
                  "peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "lines_per_s": len(paths) / dt, "tensorflow": "tensorflow" in sys.modules}))
"""

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "KERAS_BACKEND": "tensorflow"}


def measure(model: str, backend: str, threads: int, lm: str, paths: list[str]) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, model, backend, str(threads), lm, *paths],
        capture_output=True,
        text=True,
        env=ENV,
        cwd=ROOT,
    )
    if out.returncode:
        sys.exit(f"{model}: the measuring process failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def one_line_cli(model: str, backend: str, threads: int, path: str) -> float:
    """Wall seconds of `handwriting recognize PATH` in a fresh process (best of 3)."""
    cmd = [
        sys.executable,
        "-m",
        "handwriting.cli",
        "recognize",
        path,
        "--model",
        model,
        "--backend",
        backend,
    ] + (["--threads", str(threads)] if threads else [])
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, env=ENV, cwd=ROOT)
        best = min(best, time.perf_counter() - t)
    return best


def main() -> None:
    from handwriting.recognize import model_source

    from inference import add_data_argument, source_images

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="default", help="model directory with a .tflite export")
    add_data_argument(ap)
    ap.add_argument("--lines", type=int, default=200)
    ap.add_argument("--float", action="store_true", help="also a float32 .tflite export")
    ap.add_argument("--lm", action="store_true", help="also LiteRT with the model's LM")
    args = ap.parse_args()
    weights, tflite = model_source(args.model, "keras")[0], model_source(args.model, "litert")[0]
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i, img in enumerate(source_images(args.lines, data=args.data)):
            paths.append(str(Path(tmp) / f"{i:04d}.png"))
            cv2.imwrite(paths[-1], img)
        rows = [
            ("Keras (TensorFlow backend), batch 16", str(weights), "keras", 0, ""),
            ("LiteRT dynamic, 1 thread", str(tflite), "litert", 1, ""),
            ("LiteRT dynamic, threads: all cores (default)", str(tflite), "litert", 0, ""),
        ]
        if args.float:
            flt = str(Path(tmp) / "float.tflite")
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "handwriting.cli",
                    "export",
                    str(weights),
                    "--out",
                    flt,
                    "--quantize",
                    "none",
                ],
                check=True,
                cwd=ROOT,
                env=ENV,
            )
            rows.append(("LiteRT float32, all cores", flt, "litert", 0, ""))
        if args.lm:
            rows.append(
                ("LiteRT dynamic + LM, beam 10, all cores", str(tflite), "litert", 0, "model")
            )
        print(
            f"{len(paths)} lines, batch 16, one fresh process per row (RSS in MiB); "
            f"{os.cpu_count()} CPU cores\n"
        )
        print(
            "| backend | file MB | one line, CLI s | start-up s | after imports | after load "
            "| peak | lines/s | TensorFlow imported |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|---:|---|")
        for name, model, backend, threads, lm in rows:
            m = measure(model, backend, threads, lm, paths)
            one = one_line_cli(model, backend, threads, paths[0]) if not lm else float("nan")
            size = (
                sum(f.stat().st_size for f in Path(model).glob("*.h5"))
                if Path(model).is_dir()
                else Path(model).stat().st_size
            ) / 1e6
            if lm:
                size += (Path(model).parent / "lm.json.gz").stat().st_size / 1e6
            print(
                f"| {name} | {size:.1f} | {one:.2f} | {m['startup']:.2f} | {m['imports']:.0f} | "
                f"{m['load']:.0f} | {m['peak']:.0f} | {m['lines_per_s']:.1f} | "
                f"{'yes' if m['tensorflow'] else 'no'} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
