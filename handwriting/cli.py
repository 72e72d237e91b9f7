"""Command line: ``handwriting {recognize,evaluate,evaluate-pages,train,data,inspect,synth,export}``. Thin layer over the API;
heavy imports happen inside the commands."""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
from pathlib import Path

from . import __version__
from .errors import HandwritingError, missing_extra
from .lm import BEAM, BONUS, WEIGHT

log = logging.getLogger("handwriting")


def _print_json(data) -> None:
    print(json.dumps(data, ensure_ascii=False, indent=2))


# ---------------------------------------------------------------- recognize
def _expand_inputs(names: list[str]) -> tuple[list[str], dict[str, str]]:
    """A directory stands for the images directly inside it (sorted; hidden files left out);
    files are kept as given (a bad one is reported when it is read). Also returns the
    directories without images, with their error (reported as failed inputs)."""
    from .preprocessing import IMAGE_SUFFIXES

    out, empty = [], {}
    for name in names:
        path = Path(name)
        try:
            found = (
                sorted(
                    str(p)
                    for p in path.iterdir()
                    if p.is_file()
                    and p.suffix.lower() in IMAGE_SUFFIXES
                    and not p.name.startswith(".")
                )
                if path.is_dir()
                else None
            )
        except OSError as exc:  # a folder we may not read: that input fails, the others are read
            empty[name] = f"{name}: cannot read it ({exc.strerror or exc})"
            out.append(name)
            continue
        if found is not None:
            if not found:
                empty[name] = (
                    f"{name}: no images in this directory (looked for {', '.join(IMAGE_SUFFIXES)})"
                )
                out.append(name)
            out += found
        else:
            out.append(name)
    return out, empty


def _output_file(out_dir: Path, name: str, suffix: str) -> Path:
    """The file ``--out`` writes for the input ``name``."""
    return out_dir / (Path(name).stem + suffix)


def _check_output_names(names: list[str], out_dir: Path, suffix: str) -> None:
    """Refuse before any work when two inputs would write the same output file (names that
    differ only in case clash too: they do on macOS and Windows)."""
    seen: dict[str, str] = {}
    for name in names:
        target = _output_file(out_dir, name, suffix)
        if target.name.lower() in seen:
            raise HandwritingError(
                f"{seen[target.name.lower()]} and {name} would both be written "
                f"to {target}: give inputs with different file names "
                "or run them with different --out directories"
            )
        seen[target.name.lower()] = name


def _check_not_foreign(targets: list[Path]) -> None:
    """Refuse, before any work, to replace ALTO / PAGE / hOCR files that this tool did not
    write: beside the images they are usually ground truth or another tool's output."""
    from .formats import written_here

    foreign = [t for t in targets if t.is_file() and not written_here(t)]
    if foreign:
        more = f" (and {len(foreign) - 1} more)" if len(foreign) > 1 else ""
        raise HandwritingError(
            f"{foreign[0]}{more} exists and was not written by handwriting "
            "(ground truth? another tool's?); it would be replaced: choose "
            "another --out, or pass --overwrite"
        )


def cmd_recognize(args) -> int:

    from .formats import SUFFIXES
    from .reading import Reading, read
    from .recognize import Recognizer

    args.images, empty_dirs = _expand_inputs(args.images)
    suffix = {"text": ".txt", **SUFFIXES}[args.format]
    if args.out:
        from .fileio import check_not_input

        if Path(args.out).exists() and not Path(args.out).is_dir():
            raise HandwritingError(f"--out {args.out}: is a file; give a directory to write into")
        readable = [n for n in args.images if n not in empty_dirs]
        _check_output_names(readable, Path(args.out), suffix)
        targets = [_output_file(Path(args.out), n, suffix) for n in readable]
        check_not_input(targets, [*args.images, args.layout])
        if suffix in (".xml", ".hocr") and not args.overwrite:
            _check_not_foreign(targets)
    if args.layout and len(args.images) != 1:
        raise HandwritingError("--layout FILE.xml describes one page: give exactly one IMAGE")
    if args.layout:
        from .formats import read_layout

        layout = read_layout(args.layout)
        if not layout.lines:
            log.warning("%s holds no text lines: there is nothing to read", args.layout)
        named = layout.image
        if named is not None and named.stem != Path(args.images[0]).stem:
            log.warning(
                "%s describes %s, not %s; its lines are read from %s all the same",
                args.layout,
                named.name,
                Path(args.images[0]).name,
                args.images[0],
            )
    if args.format in ("alto", "page", "hocr") and len(args.images) > 1 and not args.out:
        raise HandwritingError(
            f"--format {args.format} with several images needs --out DIR (one file per input)"
        )
    if args.out:  # before the model and the reading, which a folder that cannot be made would waste
        from .fileio import make_dir

        make_dir(args.out)
    rec = Recognizer(
        args.model,
        batch_size=args.batch_size,
        beam=args.beam,
        threads=args.threads,
        lm=args.lm,
        lm_weight=args.lm_weight,
        lm_bonus=args.lm_bonus,
        backend=args.backend,
    )
    mode = "page" if args.page else "line" if args.line else "auto"
    readable = [n for n in args.images if n not in empty_dirs]
    got = iter(
        read(
            rec,
            readable,
            mode,
            args.layout,
            progress=len(args.images) > 1 and sys.stderr.isatty(),
            raise_internal=args.debug,
        )
        if readable
        else []
    )
    readings = [
        Reading(n, error=empty_dirs[n]) if n in empty_dirs else next(got) for n in args.images
    ]
    out_dir = Path(args.out) if args.out else None
    json_items = []
    for r in readings:
        try:
            _emit(args, r, out_dir, suffix, json_items)
        except HandwritingError as exc:  # an output that cannot be written: report, go on
            r.error = str(exc)
        except UnicodeError:
            r.error = f"{r.source!r}: its name is not valid UTF-8; rename the file"
    if args.format == "json" and not out_dir:
        _print_json(json_items)
    if out_dir:
        print(f"{sum(r.ok for r in readings)} result file(s) written to {out_dir}", file=sys.stderr)
    return _report_failures(readings, len(args.images))


def _emit(args, r, out_dir, suffix, json_items) -> None:
    """Print or write (``--out``) one reading: a failed one is a JSON item and, printed as
    text, an empty line (``NAME<tab>`` with several inputs)."""
    from .formats import serialize

    several = len(args.images) > 1
    if not r.ok:
        json_items.append(r.to_dict())
        if not out_dir and args.format == "text":
            print(f"{r.source}\t" if several else "")
        return
    target = _output_file(out_dir, r.source, suffix) if out_dir else None
    if args.format == "json":
        item = r.to_dict()
        json_items.append(item)
        if target:
            _write_text(target, json.dumps(item, ensure_ascii=False, indent=2) + "\n")
    elif args.format == "text":
        texts = [ln.text or "" for ln in r.page.lines]
        if target:
            _write_text(target, "\n".join(texts) + "\n")
        elif several:  # each line led by its input's name and a tab
            print("\n".join(f"{r.source}\t{t}" for t in texts or [""]))
        else:
            print("\n".join(texts))
    else:
        data = serialize(r.page, args.format, Path(r.source).name)
        if target is None:
            sys.stdout.flush()
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
        else:
            from .fileio import write_atomic

            write_atomic(target, data)


def _write_text(path: Path, text: str) -> None:
    from .fileio import write_atomic

    write_atomic(path, text.encode("utf-8"))


def _report_failures(results, total: int) -> int:
    bad = [r for r in results if not r.ok]
    for r in bad:
        print(f"error: {r.error}", file=sys.stderr)
    if bad:
        print(f"{len(bad)} of {total} inputs failed", file=sys.stderr)
        return 1
    return 0


# ---------------------------------------------------------------- evaluate
def cmd_evaluate(args) -> int:
    from .evaluate import evaluate

    progress = not args.json and sys.stderr.isatty()
    result = evaluate(
        args.dirs,
        args.model,
        args.beam,
        args.batch_size,
        progress=progress,
        report=args.report,
        lm=args.lm,
        lm_weight=args.lm_weight,
        lm_bonus=args.lm_bonus,
        backend=args.backend,
        threads=args.threads,
    )
    if args.json:
        _print_json(result)
    else:
        _print_evaluation(result, args.report)
    return _report_skipped(result["problems"])


def _report_skipped(problems: list[str]) -> int:
    """As a batch does: what could be read is measured, what was skipped listed at the end."""
    for p in problems:
        print(f"skipped {p}", file=sys.stderr)
    if problems:
        print(f"error: {len(problems)} problem(s) above; the rates leave them out", file=sys.stderr)
        return 1
    return 0


def _print_evaluation(result: dict, report: int) -> None:
    print(f"{'set':50s} {'lines':>6s} {'CER %':>7s} {'WER %':>7s}")
    for s in result["sets"] + [{"path": "overall", **result["overall"]}]:
        rates = f"{s['cer']:7.2f} {s['wer']:7.2f}" if s["lines"] else f"{'-':>7s} {'-':>7s}"
        print(f"{s['path']:50s} {s['lines']:6d} {rates}")
    d = result["decoding"]
    print(
        f"decoding: {'greedy' if not d['beam'] else 'beam ' + str(d['beam'])}"
        + (f" with {d['lm']} (weight {d['lm_weight']}, bonus {d['lm_bonus']})" if d["lm"] else "")
    )
    if report:
        show = lambda c: repr(c) if c else "(none)"  # noqa: E731
        print(
            "\nmost frequent errors (truth -> prediction; (none): a missed or an extra character)"
        )
        for c in result["confusions"]:
            print(f"{c['count']:6d}  {show(c['truth']):>8s} -> {show(c['prediction'])}")
        print("\nworst lines")
        for w in result["worst"]:
            print(
                f"{w['cer']:6.1f} %  {w['path']}\n          truth: {w['truth']}\n     prediction: "
                f"{w['prediction']}"
            )


# ---------------------------------------------------------------- train
def cmd_train(args) -> int:
    from .config import Config
    from .train import train

    config = Config.from_file(args.config) if args.config else Config()
    overrides = {
        k: v for k, v in (("batch_size", args.batch_size), ("seed", args.seed)) if v is not None
    }
    if overrides:
        config = config.replace(train=config.train.replace(**overrides))
    summary = train(
        args.train,
        args.val,
        args.out,
        config,
        epochs=args.epochs,
        resume=args.resume,
        from_model=args.from_model,
        progress=True,
        max_seconds=(args.max_minutes or 0) * 60,
        max_lines=args.max_lines or 0,
    )
    best, loss = summary.get("best_val_cer"), summary.get("best_loss")
    how = (
        f"best val CER {best:.2f} %"
        if best is not None
        else f"no val lines: lowest training loss {loss:.3f}"
        if loss is not None
        else "best: n/a"
    )
    print(f"model saved in {args.out} ({how} at epoch {summary['best_epoch']})")
    if args.plot:
        from .plots import training_curves

        path = training_curves(Path(args.out) / "history.json", Path(args.out) / "training.png")
        print(f"training curves: {path}")
    return 0


# ---------------------------------------------------------------- data
def cmd_data(args) -> int:
    from .evaluate import dataset_report

    rep = dataset_report(args.dirs, progress=not args.json and sys.stderr.isatty())
    if args.json:
        _print_json(rep)
    else:
        print(
            f"lines: {rep['lines']}   characters: {rep['characters']}   charset: {rep['charset_size']}"
        )
        for k in ("width", "height"):
            s = rep[k]
            if s:
                print(
                    f"{k:6s} px: min {s['min']}  median {s['median']:g}  mean {s['mean']}  max {s['max']}"
                )
        print("charset (character: count):")
        items = [f"{c if c != ' ' else '␣'} U+{ord(c):04X} {n}" for c, n in rep["charset"].items()]
        for i in range(0, len(items), 6):
            print("  " + "   ".join(f"{x:18s}" for x in items[i : i + 6]).rstrip())
        if rep["problems"]:
            print(f"problems ({len(rep['problems'])}):")
            for p in rep["problems"]:
                print(f"  {p}")
    if rep["lines"] == 0:
        from .groundtruth import no_lines_error

        print(f"error: {no_lines_error(args.dirs, rep['problems'])}", file=sys.stderr)
        return 1
    if rep["problems"]:  # a script checking its ground truth learns it from the exit code
        print(f"error: {len(rep['problems'])} problem(s) listed", file=sys.stderr)
        return 1
    return 0


# ---------------------------------------------------------------- inspect
def cmd_inspect(args) -> int:
    from .fileio import check_not_input
    from .plots import inspect_figure
    from .preprocessing import load_image
    from .recognize import Recognizer
    from .segment import is_page

    if Path(args.out).suffix.lower() not in (".png", ".pdf", ".svg"):
        raise HandwritingError(f"--out {args.out}: give a .png, .pdf or .svg file name")
    check_not_input([args.out], [args.image])
    gray = load_image(args.image)
    if is_page(gray):
        raise HandwritingError(
            f"{args.image}: looks like a page; inspect shows one line: crop a "
            "line first (e.g. from `recognize --format json`'s polygons)"
        )
    if str(args.model or "").lower().endswith(".tflite"):
        raise HandwritingError("inspect needs a Keras model directory, not a .tflite file")
    rec = Recognizer(args.model, backend="keras")
    out = inspect_figure(rec, gray, args.out, layer=args.layer, units=args.units)
    print(f"figure written to {out}")
    return 0


# ---------------------------------------------------------------- synth
def cmd_synth(args) -> int:
    from .synth import expand_fonts, find_fonts, generate

    fonts = expand_fonts(args.fonts) if args.fonts else find_fonts()
    paths = generate(
        args.out,
        args.count,
        seed=args.seed,
        text=args.text,
        fonts=fonts,
        digits=args.digits,
        letters=args.letters,
        height=args.height,
        progress=sys.stderr.isatty(),
    )
    names = ", ".join(Path(f).stem for f in fonts[:8]) + (
        f", ... ({len(fonts)} in all)" if len(fonts) > 8 else ""
    )
    print(f"{len(paths)} lines written to {args.out} (fonts: {names})")
    return 0


# ---------------------------------------------------------------- lm
def cmd_lm(args) -> int:
    from .lm import CharLM, read_texts, wordfreq_texts

    if not args.sources and not args.wordfreq:
        raise HandwritingError("give text files or folders to count, and/or --wordfreq LANG...")
    from .fileio import check_not_input

    check_not_input([args.out], [*args.sources, *(args.val or [])])
    if Path(args.out).is_file():
        with open(args.out, "rb") as f:
            if f.read(2) != b"\x1f\x8b":  # an LM is gzipped JSON
                raise HandwritingError(
                    f"--out {args.out} exists and is not a language model (it "
                    "would be lost); choose another name"
                )
    texts = read_texts(args.sources) if args.sources else []
    held_out = read_texts(args.val) if args.val else []
    if args.wordfreq:
        texts += wordfreq_texts(args.wordfreq, args.lines, args.words, args.seed)
    lm = CharLM.train(texts, args.order, args.min_count, progress=sys.stderr.isatty())
    lm.weight, lm.bonus = args.weight, args.bonus
    lm.save(args.out)
    print(
        f"character LM of order {args.order} from {len(texts)} lines "
        f"({sum(map(len, texts)):,} characters) written to {args.out}"
    )
    if held_out:
        print(
            f"perplexity per character on {len(held_out)} held-out lines: "
            f"{lm.perplexity(held_out):.2f}"
        )
    return 0


def _add_backend_args(p) -> None:
    p.add_argument(
        "--backend",
        choices=["auto", "litert", "keras"],
        default="auto",
        help="auto (default): LiteRT for a .tflite file and the default model, Keras "
        "for other model directories; litert: a model directory's .tflite export; "
        "keras: a model directory's weights (needs the [train] extra)",
    )
    p.add_argument(
        "--threads",
        type=int,
        help="LiteRT: lines read in parallel, one CPU thread "
        "each (default: the cores available, at most 8)",
    )


def _add_lm_args(p) -> None:
    p.add_argument(
        "--lm",
        metavar="model|FILE",
        help="character language model (`handwriting lm`) "
        f"for beam search (the beam is then {BEAM} unless --beam N > 1 says "
        "otherwise); `--lm model`: the one shipped with the model (the default model "
        "has one; a file named model: ./model)",
    )
    p.add_argument(
        "--lm-weight",
        type=float,
        help="weight of the LM's log probability (default: the one recorded in the "
        f"LM, else {WEIGHT})",
    )
    p.add_argument(
        "--lm-bonus",
        type=float,
        help="score added per character, against the LM's pull to short texts "
        f"(default: the one recorded in the LM, else {BONUS})",
    )


# ---------------------------------------------------------------- evaluate-pages
def cmd_evaluate_pages(args) -> int:
    from .pages import evaluate_pages
    from .recognize import Recognizer

    rec = Recognizer(
        args.model,
        batch_size=args.batch_size,
        lm=args.lm,
        lm_weight=args.lm_weight,
        lm_bonus=args.lm_bonus,
        backend=args.backend,
        threads=args.threads,
    )
    res = evaluate_pages(rec, args.dirs, use_layout=args.use_layout)
    if args.json:
        _print_json(res)
        return _report_skipped(res["problems"])
    print(f"{'page':60s} {'GT':>4s} {'found':>5s} {'prec %':>7s} {'rec %':>6s} {'CER %':>6s}")
    for r in res["pages"] + [{"path": "overall", **res["overall"]}]:
        print(
            f"{Path(r['path']).name if r['path'] != 'overall' else 'overall':60s} "
            f"{r['gt_lines']:4d} {r['pred_lines']:5d} {r['precision']:7.1f} {r['recall']:6.1f} "
            f"{r['cer']:6.2f}"
        )
    return _report_skipped(res["problems"])


# ---------------------------------------------------------------- export
def cmd_export(args) -> int:
    from .export import export, op_summary

    path = export(
        args.model_dir,
        args.out,
        args.quantize,
        representative=args.calibration,
        fused=not args.no_fused,
        calibration_limit=args.calibration_lines,
    )
    s = op_summary(path)
    print(
        f"{path}: {path.stat().st_size / 1e6:.2f} MB, quantize {args.quantize}, "
        f"{sum(s['ops'].values())} ops"
    )
    print("ops: " + ", ".join(f"{name} {n}" for name, n in s["ops"].items()))
    print(
        f"Flex ops: {', '.join(s['flex']) or 'none'}   WHILE loops: {s['while']}   "
        f"fused LSTM ops: {s['fused_lstm']}"
    )
    return 0


# ---------------------------------------------------------------- main
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="handwriting",
        description="Read handwritten text lines "
        "with a CNN + LSTM + CTC model; train it on your own ground truth.",
    )
    p.add_argument("--debug", action="store_true", help="show tracebacks and debug logging")
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    r = sub.add_parser(
        "recognize",
        help="read line or page images",
        description="Read line images and whole pages (line vs page is decided from "
        "the image; --page / --line force it). Text mode prints the text of a line "
        "image, or the lines of a page; with several inputs every output line is "
        "NAME<tab>TEXT, in input order (an input that failed or holds no text: "
        "NAME<tab> alone).",
    )
    r.add_argument(
        "images",
        nargs="+",
        metavar="IMAGE",
        help="line or page images, or directories (their images, sorted)",
    )
    r.add_argument(
        "--model",
        help="a .tflite file, a model directory, or default (the "
        "model shipped in the package; the default unless $HANDWRITING_MODEL names "
        "another)",
    )
    r.add_argument(
        "--format",
        choices=["text", "json", "alto", "page", "hocr"],
        default="text",
        help="text, JSON (per line image: text, confidence, chars, words with boxes; "
        "per page: lines with polygon, baseline, text, confidence, words), ALTO v4, "
        "PAGE XML 2019 or hOCR (the last three with word boxes; several inputs: --out)",
    )
    r.add_argument("--out", metavar="DIR", help="write one file per input into DIR (atomically)")
    r.add_argument(
        "--overwrite",
        action="store_true",
        help="with --out and --format alto/page/hocr: also replace XML/hOCR files "
        "that handwriting did not write (by default they are kept, and nothing "
        "is read)",
    )
    mode = r.add_mutually_exclusive_group()
    mode.add_argument("--page", action="store_true", help="treat every input as a page")
    mode.add_argument("--line", action="store_true", help="treat every input as one line")
    r.add_argument(
        "--layout",
        metavar="FILE.xml",
        help="ALTO/PAGE XML with the page's lines: "
        "read those lines instead of segmenting (one IMAGE)",
    )
    r.add_argument("--beam", type=int, default=0, help="beam width (0: greedy decoding)")
    r.add_argument(
        "--batch-size", type=int, default=16, help="lines per predicted batch (default 16)"
    )
    _add_backend_args(r)
    _add_lm_args(r)
    r.set_defaults(func=cmd_recognize)

    e = sub.add_parser(
        "evaluate",
        help="CER/WER on ground-truth folders",
        description="Character and word error rates (percent) per folder and overall.",
    )
    e.add_argument(
        "dirs",
        nargs="+",
        metavar="DIR",
        help="ground-truth folders (line pairs and/or ALTO/PAGE XML); one row each",
    )
    e.add_argument(
        "--model",
        help="a .tflite file, a model directory, or default (the "
        "model shipped in the package; the default unless $HANDWRITING_MODEL names "
        "another)",
    )
    e.add_argument("--json", action="store_true", help="print one JSON object")
    e.add_argument("--beam", type=int, default=0, help="beam width (0: greedy decoding)")
    e.add_argument(
        "--batch-size", type=int, default=16, help="lines per predicted batch (default 16)"
    )
    e.add_argument(
        "--report",
        type=int,
        default=0,
        metavar="N",
        help="also show the N most frequent character errors and the N worst lines",
    )
    _add_backend_args(e)
    _add_lm_args(e)
    e.set_defaults(func=cmd_evaluate)

    ep = sub.add_parser(
        "evaluate-pages",
        help="line detection and page CER on ALTO/PAGE pages",
        description="For page images with ALTO/PAGE ground truth: line detection "
        "precision and recall (IoU >= 0.5 on boxes) and a reading-order-independent "
        "page CER (percent).",
    )
    ep.add_argument(
        "dirs", nargs="+", metavar="DIR", help="folders of page images with their ALTO/PAGE XML"
    )
    ep.add_argument(
        "--model",
        help="a .tflite file, a model directory, or default (the "
        "model shipped in the package; the default unless $HANDWRITING_MODEL names "
        "another)",
    )
    ep.add_argument("--json", action="store_true", help="print one JSON object")
    ep.add_argument(
        "--use-layout",
        action="store_true",
        help="read the ground-truth lines instead of segmenting (recognition only)",
    )
    ep.add_argument(
        "--batch-size", type=int, default=16, help="lines per predicted batch (default 16)"
    )
    _add_backend_args(ep)
    _add_lm_args(ep)
    ep.set_defaults(func=cmd_evaluate_pages)

    t = sub.add_parser(
        "train",
        help="train a model on line ground truth",
        description="Train (or fine-tune) a recognizer. The best model by val CER is "
        "saved in --out, with config.json, history.json and a checkpoint per epoch.",
    )
    t.add_argument(
        "--train",
        nargs="+",
        required=True,
        metavar="DIR",
        help="training ground truth: <id>.png|jpg|tif + <id>.gt.txt pairs and/or "
        "ALTO/PAGE XML with their page images (folders are searched recursively)",
    )
    t.add_argument(
        "--val",
        nargs="+",
        default=[],
        metavar="DIR",
        help="validation ground truth (same formats); the model with the lowest val "
        "CER is kept (without it: the lowest training loss)",
    )
    t.add_argument("--out", required=True, help="run directory (becomes a model directory)")
    t.add_argument("--config", help="JSON or TOML with sections preprocess / model / train")
    t.add_argument("--epochs", type=int, help="total number of epochs")
    t.add_argument("--batch-size", type=int, help="lines per batch (default: the config's, 16)")
    t.add_argument(
        "--seed",
        type=int,
        help="seed of shuffling, augmentation and initialization (default: the config's, 42)",
    )
    t.add_argument("--resume", action="store_true", help="continue the run in --out")
    t.add_argument(
        "--from-model",
        help="fine-tune this model directory, or default (the "
        "shipped model); the charset is extended with new characters",
    )
    t.add_argument(
        "--max-lines",
        type=int,
        help="use at most this many lines of --train and "
        "of --val, evenly spread over them (default: all)",
    )
    t.add_argument(
        "--max-minutes",
        type=float,
        help="stop at the end of an epoch when the next "
        "one would end after this many minutes (continue later with --resume)",
    )
    t.add_argument("--plot", action="store_true", help="write training.png (loss, CER, WER)")
    t.set_defaults(func=cmd_train)

    d = sub.add_parser(
        "data",
        help="inspect ground truth",
        description="Line count, charset with counts, image sizes, unreadable or "
        "unlabelled files (exit code 1 when any is listed).",
    )
    d.add_argument("dirs", nargs="+", metavar="DIR", help="ground-truth folders")
    d.add_argument("--json", action="store_true", help="print one JSON object")
    d.set_defaults(func=cmd_data)
    i = sub.add_parser(
        "inspect",
        help="figure of CTC posteriors and LSTM gates for one line",
        description="One figure aligned to the line's columns: the preprocessed "
        "line, CTC posteriors, mean LSTM gates, cell states, per-character confidence.",
    )
    i.add_argument("image", metavar="IMAGE", help="one line image")
    i.add_argument(
        "--model",
        help="model directory, or default (its Keras weights; "
        "the default unless $HANDWRITING_MODEL names another)",
    )
    i.add_argument("--out", required=True, help="figure file (.png, .pdf, .svg)")
    i.add_argument("--layer", type=int, default=0, help="BiLSTM layer to show (0 = first)")
    i.add_argument("--units", type=int, default=16, help="cell-state units to show")
    i.set_defaults(func=cmd_inspect)

    lm = sub.add_parser(
        "lm",
        help="build a character language model for beam search",
        description="Count a character n-gram language model (interpolated "
        "Witten-Bell) from text files (one line of text per line), line "
        "ground-truth folders (their transcriptions) and/or word frequencies "
        "(--wordfreq); recognize / evaluate use it with --lm FILE.",
    )
    lm.add_argument(
        "sources", nargs="*", metavar="TEXT", help="UTF-8 text files and/or ground-truth folders"
    )
    lm.add_argument(
        "--wordfreq",
        nargs="+",
        metavar="LANG",
        help="also count pseudo-text drawn from the word frequencies of these "
        "languages (e.g. en fr; needs `pip install wordfreq`, data CC-BY-SA 4.0); "
        "put TEXT before --wordfreq",
    )
    lm.add_argument(
        "--lines",
        type=int,
        default=100_000,
        help="pseudo-text lines for --wordfreq (default 100000)",
    )
    lm.add_argument(
        "--words",
        type=int,
        default=30_000,
        help="most frequent words per language for --wordfreq (default 30000)",
    )
    lm.add_argument("--seed", type=int, default=0, help="seed of the --wordfreq text (default 0)")
    lm.add_argument(
        "--weight",
        type=float,
        help="fusion weight to record in the file: "
        f"recognize uses it unless --lm-weight says otherwise (default {WEIGHT})",
    )
    lm.add_argument(
        "--bonus", type=float, help=f"per-character bonus to record likewise (default {BONUS})"
    )
    lm.add_argument("--out", required=True, help="the model file to write (.lm.json.gz)")
    lm.add_argument(
        "--order", type=int, default=6, help="n: characters of context plus one (default 6)"
    )
    lm.add_argument(
        "--min-count",
        type=int,
        default=1,
        help="drop n-grams of three or more "
        "characters seen fewer than this many times: a smaller, faster-loading "
        "model (default 1: keep all)",
    )
    lm.add_argument(
        "--val",
        nargs="+",
        metavar="TEXT",
        help="held-out text (same kinds as TEXT): print the LM's perplexity on it",
    )
    lm.set_defaults(func=cmd_lm)

    s = sub.add_parser(
        "synth",
        help="render synthetic training lines from handwriting fonts",
        description="Render seeded synthetic lines (<id>.png + <id>.gt.txt) from "
        "handwriting fonts (default: the Debian fonts-dancingscript, fonts-sjfonts, "
        "fonts-kristi and fonts-breip files found on this machine; "
        "`python scripts/fetch_fonts.py DIR` fetches 160+ more).",
    )
    s.add_argument("--out", required=True, help="folder for the lines (created)")
    s.add_argument("--count", type=int, default=1000, help="lines to render (default 1000)")
    s.add_argument(
        "--text",
        nargs="+",
        metavar="TEXT",
        help="UTF-8 text files (one sentence "
        "per line) and/or ground-truth folders (default: built-in sentences)",
    )
    s.add_argument(
        "--fonts",
        nargs="+",
        metavar="FONT",
        help=".ttf/.otf files and/or folders of them (such as the cache of scripts/fetch_fonts.py)",
    )
    s.add_argument(
        "--seed", type=int, default=0, help="seed of texts, fonts and distortions (default 0)"
    )
    s.add_argument("--digits", type=float, default=0.0, help="fraction of digit-string lines")
    s.add_argument(
        "--letters",
        type=float,
        default=0.15,
        help="fraction of letter-form lines: "
        "salutations, dates, addresses, closings (default 0.15)",
    )
    s.add_argument(
        "--height", type=int, help="height of every image (default: drawn per line from 40-110 px)"
    )
    s.set_defaults(func=cmd_synth)

    x = sub.add_parser(
        "export",
        help="convert a model directory to TFLite",
        description="Write one self-describing .tflite file (builtin ops only; "
        "charset and preprocessing inside) for `recognize --model FILE.tflite` "
        "and on-device use (handwriting.runtime).",
    )
    x.add_argument(
        "model_dir",
        metavar="MODEL_DIR",
        help="model directory to convert, or default (the shipped model)",
    )
    x.add_argument("--out", required=True, help="the .tflite file to write")
    x.add_argument(
        "--quantize",
        choices=["none", "float16", "dynamic", "int8"],
        default="dynamic",
        help="dynamic (default, as the shipped model): int8 weights, a quarter of the "
        "size at the same CER; none: float32; float16: half-size weights; int8: int8 "
        "weights and activations (needs --calibration)",
    )
    x.add_argument(
        "--calibration",
        nargs="+",
        metavar="DIR",
        help="line ground truth for int8 calibration (e.g. training lines)",
    )
    x.add_argument(
        "--calibration-lines",
        type=int,
        default=100,
        help="lines drawn from --calibration (default 100)",
    )
    x.add_argument(
        "--no-fused",
        action="store_true",
        help="keep the LSTMs as WHILE loops (slower; for comparison)",
    )
    x.set_defaults(func=cmd_export)
    for command in sub.choices.values():  # --debug after the command works too
        command.add_argument(
            "--debug",
            action="store_true",
            default=argparse.SUPPRESS,
            help="show tracebacks and debug logging",
        )
    return p


# the range of each numeric option (by its dest; None: unbounded): below or above it, a one-line
# error before any work starts
_RANGES = {
    "batch_size": (1, None),
    "threads": (1, None),
    "beam": (0, None),
    "report": (0, None),
    "epochs": (1, None),
    "seed": (0, None),
    "max_minutes": (0, None),
    "layer": (0, None),
    "units": (1, None),
    "lines": (1, None),
    "max_lines": (1, None),
    "words": (1, None),
    "min_count": (1, None),
    "order": (1, 12),
    "weight": (0, None),
    "lm_weight": (0, None),
    "count": (1, None),
    "digits": (0, 1),
    "letters": (0, 1),
    "height": (8, 1024),
    "calibration_lines": (1, None),
}


def _check_ranges(args) -> None:
    for name, value in vars(args).items():  # --lm-bonus nan or inf would read garbage
        if isinstance(value, float) and not math.isfinite(value):
            raise HandwritingError(
                f"--{name.replace('_', '-')} must be a finite number, got {value}"
            )
    for name, (least, most) in _RANGES.items():
        value = getattr(args, name, None)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        if not value >= least or (most is not None and not value <= most):  # NaN fails too
            bounds = f"{least}..{most}" if most is not None else f">= {least}"
            raise HandwritingError(f"--{name.replace('_', '-')} must be {bounds}, got {value}")


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1" if args.debug else "3")
    # our own handler: TensorFlow/absl reconfigure the root logger when they are imported
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter("%(levelname)s %(name)s: %(message)s" if args.debug else "%(message)s")
    )
    log.handlers[:] = [handler]
    log.setLevel(logging.DEBUG if args.debug else logging.INFO)
    log.propagate = False
    try:
        _check_ranges(args)
        return args.func(args)
    except HandwritingError as exc:
        if args.debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a file or folder the system refused: say which, and why
        if args.debug:
            raise
        print(
            f"error: {exc.filename or ''}{': ' if exc.filename else ''}{exc.strerror or exc}",
            file=sys.stderr,
        )
        return 2
    except ModuleNotFoundError as exc:  # a package of the [train] extra: say how to install it
        error = missing_extra(exc)
        if args.debug or error is None:
            raise
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
