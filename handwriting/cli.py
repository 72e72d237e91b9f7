"""Command line: ``handwriting {recognize,evaluate,train,data}``. Thin layer over the API;
heavy imports happen inside the commands."""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from .errors import HandwritingError

log = logging.getLogger("handwriting")


def _print_json(data) -> None:
    print(json.dumps(data, ensure_ascii=False, indent=2))


# ---------------------------------------------------------------- recognize
def cmd_recognize(args) -> int:
    from .recognize import Recognizer
    rec = Recognizer(args.model, batch_size=args.batch_size, beam=args.beam)
    results = rec.recognize(args.images)
    if args.format == "json":
        _print_json([r.to_dict() for r in results])
    else:
        for r in results:
            print(r.prediction.text if r.ok else "")
    return _report_failures(results, len(args.images))


def _report_failures(results, total: int) -> int:
    bad = [r for r in results if not r.ok]
    for r in bad:
        print(f"error: {r.error}", file=sys.stderr)
    if bad:
        print(f"{len(bad)} of {total} inputs failed", file=sys.stderr)
        return 1
    return 0


# ---------------------------------------------------------------- evaluate
def evaluate(dirs, model=None, beam: int = 0, batch_size: int = 16, progress: bool = True) -> dict:
    """CER/WER (percent) per ground-truth directory and overall."""
    from tqdm.auto import tqdm

    from .decode import cer, wer
    from .groundtruth import load_line_image, scan_line_dirs
    from .recognize import Recognizer
    rec = Recognizer(model, batch_size=batch_size, beam=beam)
    sets, all_refs, all_hyps, problems = [], [], [], []
    for d in dirs:
        records, probs = scan_line_dirs([d])
        problems += probs
        lines, refs = [], []
        for r in tqdm(records, desc=f"reading {d}", disable=not progress, unit="line"):
            try:
                lines.append(rec.preprocess(load_line_image(r)))
                refs.append(r.text)
            except HandwritingError as exc:
                problems.append(f"{r.image or r.source}: {exc}")
        hyps = [p.text for p in rec.predict_lines(lines)] if lines else []
        sets.append({"path": str(d), "lines": len(refs), "cer": round(cer(refs, hyps), 3),
                     "wer": round(wer(refs, hyps), 3)})
        all_refs += refs
        all_hyps += hyps
    for p in problems:
        log.warning("skipped %s", p if isinstance(p, str) else f"{p.path}: {p.message}")
    overall = {"lines": len(all_refs), "cer": round(cer(all_refs, all_hyps), 3),
               "wer": round(wer(all_refs, all_hyps), 3)}
    return {"overall": overall, "sets": sets}


def cmd_evaluate(args) -> int:
    result = evaluate(args.dirs, args.model, args.beam, args.batch_size, progress=not args.json)
    if args.json:
        _print_json(result)
    else:
        print(f"{'set':50s} {'lines':>6s} {'CER %':>7s} {'WER %':>7s}")
        for s in result["sets"] + [{"path": "overall", **result["overall"]}]:
            print(f"{s['path']:50s} {s['lines']:6d} {s['cer']:7.2f} {s['wer']:7.2f}")
    return 0 if result["overall"]["lines"] else 1


# ---------------------------------------------------------------- train
def cmd_train(args) -> int:
    from .config import Config
    from .train import train
    config = Config.from_file(args.config) if args.config else Config()
    overrides = {k: v for k, v in (("batch_size", args.batch_size), ("seed", args.seed)) if v is not None}
    if overrides:
        config = config.replace(train=config.train.replace(**overrides))
    summary = train(args.train, args.val, args.out, config, epochs=args.epochs, resume=args.resume,
                    from_model=args.from_model, progress=True,
                    max_seconds=(args.max_minutes or 0) * 60)
    best = summary.get("best_val_cer")
    print(f"model saved in {args.out} (best val CER "
          f"{'n/a' if best is None else f'{best:.2f} %'} at epoch {summary['best_epoch']})")
    if args.plot:
        from .plots import training_curves
        path = training_curves(Path(args.out) / "history.json", Path(args.out) / "training.png")
        print(f"training curves: {path}")
    return 0


# ---------------------------------------------------------------- data
def dataset_report(dirs, progress: bool = True) -> dict:
    """Line count, charset with counts, image size statistics and problems of ground truth."""
    from collections import Counter

    import cv2
    import numpy as np
    from tqdm.auto import tqdm

    from .groundtruth import scan_line_dirs
    records, problems = scan_line_dirs(dirs)
    chars = Counter()
    widths, heights = [], []
    bad = [f"{p.path}: {p.message}" for p in problems]
    for r in tqdm(records, desc="checking images", disable=not progress, unit="line"):
        chars.update(r.text)
        if r.image is not None:
            img = cv2.imread(str(r.image), cv2.IMREAD_GRAYSCALE)
            if img is None:
                bad.append(f"{r.image}: not a readable image")
                continue
            h, w = img.shape
        else:
            x0, y0 = r.polygon.min(0)
            x1, y1 = r.polygon.max(0)
            w, h = int(x1 - x0 + 1), int(y1 - y0 + 1)
        widths.append(w)
        heights.append(h)

    def stats(v):
        if not v:
            return {}
        a = np.asarray(v)
        return {"min": int(a.min()), "median": float(np.median(a)), "mean": round(float(a.mean()), 1),
                "max": int(a.max())}
    return {"lines": len(records), "characters": sum(chars.values()), "charset_size": len(chars),
            "charset": {c: n for c, n in sorted(chars.items())}, "width": stats(widths),
            "height": stats(heights), "problems": bad}


def cmd_data(args) -> int:
    rep = dataset_report(args.dirs, progress=not args.json)
    if args.json:
        _print_json(rep)
    else:
        print(f"lines: {rep['lines']}   characters: {rep['characters']}   charset: {rep['charset_size']}")
        for k in ("width", "height"):
            s = rep[k]
            if s:
                print(f"{k:6s} px: min {s['min']}  median {s['median']:g}  mean {s['mean']}  max {s['max']}")
        print("charset (character: count):")
        items = [f"{c if c != ' ' else '␣'} U+{ord(c):04X} {n}" for c, n in rep["charset"].items()]
        for i in range(0, len(items), 6):
            print("  " + "   ".join(f"{x:18s}" for x in items[i:i + 6]).rstrip())
        if rep["problems"]:
            print(f"problems ({len(rep['problems'])}):")
            for p in rep["problems"]:
                print(f"  {p}")
    return 1 if rep["lines"] == 0 else 0


# ---------------------------------------------------------------- inspect
def cmd_inspect(args) -> int:
    from .plots import inspect_figure
    from .recognize import Recognizer
    rec = Recognizer(args.model)
    if rec.path.suffix == ".tflite":
        raise HandwritingError("inspect needs a Keras model directory, not a .tflite file")
    out = inspect_figure(rec, args.image, args.out, layer=args.layer, units=args.units)
    print(f"figure written to {out}")
    return 0


# ---------------------------------------------------------------- synth
def cmd_synth(args) -> int:
    from .synth import find_fonts, generate
    fonts = args.fonts or find_fonts()
    paths = generate(args.out, args.count, seed=args.seed, text=args.text, fonts=fonts,
                     digits=args.digits, height=args.height)
    print(f"{len(paths)} lines written to {args.out} (fonts: {', '.join(Path(f).name for f in fonts)})")
    return 0


# ---------------------------------------------------------------- main
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="handwriting", description="Read handwritten text lines "
                                "with a CNN + LSTM + CTC model; train it on your own ground truth.")
    p.add_argument("--debug", action="store_true", help="show tracebacks and debug logging")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    r = sub.add_parser("recognize", help="read line images", description="Read line images; "
                       "prints one line of text per input (empty for an input that failed).")
    r.add_argument("images", nargs="+", metavar="IMAGE")
    r.add_argument("--model", help="model directory or .tflite file (default: saved_models/default)")
    r.add_argument("--format", choices=["text", "json"], default="text")
    r.add_argument("--beam", type=int, default=0, help="beam width (0: greedy decoding)")
    r.add_argument("--batch-size", type=int, default=16)
    r.set_defaults(func=cmd_recognize)

    e = sub.add_parser("evaluate", help="CER/WER on ground-truth folders",
                       description="Character and word error rates (percent) per folder and overall.")
    e.add_argument("dirs", nargs="+", metavar="DIR")
    e.add_argument("--model", help="model directory or .tflite file (default: saved_models/default)")
    e.add_argument("--json", action="store_true", help="print one JSON object")
    e.add_argument("--beam", type=int, default=0)
    e.add_argument("--batch-size", type=int, default=16)
    e.set_defaults(func=cmd_evaluate)

    t = sub.add_parser("train", help="train a model on line ground truth",
                       description="Train (or fine-tune) a recognizer. The best model by val CER is "
                       "saved in --out, with config.json, history.json and a checkpoint per epoch.")
    t.add_argument("--train", nargs="+", required=True, metavar="DIR")
    t.add_argument("--val", nargs="+", default=[], metavar="DIR")
    t.add_argument("--out", required=True, help="run directory (becomes a model directory)")
    t.add_argument("--config", help="JSON or TOML with sections preprocess / model / train")
    t.add_argument("--epochs", type=int, help="total number of epochs")
    t.add_argument("--batch-size", type=int)
    t.add_argument("--seed", type=int)
    t.add_argument("--resume", action="store_true", help="continue the run in --out")
    t.add_argument("--from-model", help="fine-tune this model directory (charset is extended)")
    t.add_argument("--max-minutes", type=float, help="stop after the epoch that would overrun "
                   "this many minutes (continue later with --resume)")
    t.add_argument("--plot", action="store_true", help="write training.png (loss, CER, WER)")
    t.set_defaults(func=cmd_train)

    d = sub.add_parser("data", help="inspect ground truth",
                       description="Line count, charset with counts, image sizes, unreadable or "
                       "unlabelled files.")
    d.add_argument("dirs", nargs="+", metavar="DIR")
    d.add_argument("--json", action="store_true")
    d.set_defaults(func=cmd_data)
    i = sub.add_parser("inspect", help="figure of CTC posteriors and LSTM gates for one line",
                       description="One figure aligned to the line's columns: the preprocessed "
                       "line, CTC posteriors, mean LSTM gates, cell states, per-character confidence.")
    i.add_argument("image", metavar="IMAGE")
    i.add_argument("--model", help="model directory (default: saved_models/default)")
    i.add_argument("--out", required=True, help="figure file (.png, .pdf, .svg)")
    i.add_argument("--layer", type=int, default=0, help="BiLSTM layer to show (0 = first)")
    i.add_argument("--units", type=int, default=16, help="cell-state units to show")
    i.set_defaults(func=cmd_inspect)

    s = sub.add_parser("synth", help="render synthetic training lines from handwriting fonts",
                       description="Render seeded synthetic lines (<id>.png + <id>.gt.txt) from "
                       "handwriting fonts (default: the Debian fonts-dancingscript, fonts-sjfonts, "
                       "fonts-kristi and fonts-breip files found on this machine).")
    s.add_argument("--out", required=True)
    s.add_argument("--count", type=int, default=1000)
    s.add_argument("--text", help="UTF-8 text file, one sentence per line (default: built-in)")
    s.add_argument("--fonts", nargs="+", metavar="FONT", help=".ttf/.otf files")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--digits", type=float, default=0.0, help="fraction of digit-string lines")
    s.add_argument("--height", type=int, default=64, help="height of the written images")
    s.set_defaults(func=cmd_synth)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1" if args.debug else "3")
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.INFO,
                        format="%(levelname)s: %(message)s" if args.debug else "%(message)s")
    try:
        return args.func(args)
    except HandwritingError as exc:
        if args.debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
