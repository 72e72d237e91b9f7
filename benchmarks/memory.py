"""Memory of inference: resident set size (RSS) of a fresh process per backend.

    python benchmarks/memory.py [--model saved_models/default] [--lines 200] [--float] [--lm]

Each backend runs in its own Python process, which reads the same ``--lines`` line images
(``../shared/data/lines/*/val`` when present, else lines rendered with OpenCV) with
``Recognizer`` in batches of 16 and reports, in MiB:

- after imports: RSS once the modules it needs are imported (no model yet);
- after load: RSS with the model loaded;
- peak: the process's maximum RSS (``ru_maxrss``) after reading all lines;

plus lines/s and whether TensorFlow was imported. Rows: the Keras model directory (TensorFlow
backend), the shipped ``default.tflite`` (dynamic-range quantized) under LiteRT, with
``--float`` a float32 ``.tflite`` exported into a temporary folder, and with ``--lm`` the
``default.tflite`` again with the model's language model (``lm="model"``, beam 10; its file
size is then the .tflite's plus the LM's). Prints one markdown table.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

CHILD = r"""
import json, resource, sys, time
def rss():  # current resident set size, MiB
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmRSS:")) / 1024
model, lm, paths = sys.argv[1], sys.argv[2] or None, sys.argv[3:]
from handwriting.recognize import Recognizer
if not model.endswith(".tflite"):
    import keras  # noqa: F401  (what loading the model imports anyway)
r0 = rss()
rec = Recognizer(model, batch_size=16, lm=lm)
r1 = rss()
t = time.perf_counter()
results = rec.recognize(paths)
dt = time.perf_counter() - t
assert all(r.ok for r in results), [r.error for r in results if not r.ok]
print(json.dumps({"imports": r0, "load": r1,
                  "peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "lines_per_s": len(paths) / dt, "tensorflow": "tensorflow" in sys.modules}))
"""


def measure(model: str, lm: str, paths: list[str]) -> dict:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "KERAS_BACKEND": "tensorflow"}
    out = subprocess.run([sys.executable, "-c", CHILD, model, lm, *paths], capture_output=True,
                         text=True, env=env, cwd=ROOT)
    if out.returncode:
        sys.exit(f"{model}: the measuring process failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    from inference import source_images
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=str(ROOT / "saved_models" / "default"))
    ap.add_argument("--lines", type=int, default=200)
    ap.add_argument("--float", action="store_true", help="also a float32 .tflite export")
    ap.add_argument("--lm", action="store_true", help="also default.tflite with the model's LM")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i, img in enumerate(source_images(args.lines)):
            paths.append(str(Path(tmp) / f"{i:04d}.png"))
            cv2.imwrite(paths[-1], img)
        tflite = str(Path(args.model) / "default.tflite")
        rows = [("Keras (TensorFlow backend)", args.model, ""), ("TFLite dynamic (LiteRT)", tflite, "")]
        if args.float:
            flt = str(Path(tmp) / "float.tflite")
            subprocess.run([sys.executable, "-m", "handwriting.cli", "export", args.model,
                            "--out", flt], check=True, cwd=ROOT)
            rows.append(("TFLite float32 (LiteRT)", flt, ""))
        if args.lm:
            rows.append(("TFLite dynamic + LM, beam 10 (LiteRT)", tflite, "model"))
        print(f"{len(paths)} lines, batch 16, one fresh process per row (RSS in MiB)\n")
        print("| backend | file MB | after imports | after load | peak | lines/s | TensorFlow imported |")
        print("|---|---:|---:|---:|---:|---:|---|")
        for name, model, lm in rows:
            m = measure(model, lm, paths)
            size = (sum(f.stat().st_size for f in Path(model).glob("*.h5"))
                    if Path(model).is_dir() else Path(model).stat().st_size) / 1e6
            if lm:
                size += (Path(model).parent / "lm.json.gz").stat().st_size / 1e6
            print(f"| {name} | {size:.1f} | {m['imports']:.0f} | {m['load']:.0f} | "
                  f"{m['peak']:.0f} | {m['lines_per_s']:.1f} | {'yes' if m['tensorflow'] else 'no'} |",
                  flush=True)


if __name__ == "__main__":
    main()
