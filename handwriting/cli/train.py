"""``handwriting train``, ``adapt``, ``export`` and ``inspect``: the commands of the
``[train]`` extra."""

from __future__ import annotations

from pathlib import Path

from ..errors import HandwritingError
from .common import print_json


def cmd_train(args) -> int:
    from ..config import Config
    from ..train import train

    config = Config.from_file(args.config) if args.config else Config()
    overrides = {
        k: v for k, v in (("batch_size", args.batch_size), ("seed", args.seed)) if v is not None
    }
    if overrides:
        config = config.replace(train=config.train.replace(**overrides))
    if bool(args.train) == bool(args.packed):
        raise HandwritingError("give the training lines: --train DIR... or --packed FILE")
    if args.packed and args.val:
        raise HandwritingError("--packed holds the val lines too: leave out --val")
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
        packed=args.packed,
        strategy=args.strategy,
    )
    if summary.get("chief") is False:
        print(f"worker done ({summary['epochs']} epochs); the chief worker writes the run")
        return 0
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
        from ..plots import training_curves

        path = training_curves(Path(args.out) / "history.json", Path(args.out) / "training.png")
        print(f"training curves: {path}")
    return 0


def cmd_adapt(args) -> int:
    from ..adapt import adapt
    from ..fileio import check_not_input, check_writable

    check_not_input([args.out], [*args.dirs, *(args.replay or [])])
    check_writable(args.out, is_dir=True)
    r = adapt(
        args.dirs,
        args.out,
        from_model=args.from_model,
        max_minutes=args.max_minutes,
        held_out=args.held_out,
        replay=args.replay,
        seed=args.seed,
        progress=not args.json,  # Keras' bar writes on stdout
        learning_rate=args.learning_rate,
        base_weight=args.base_weight,
    )
    if args.json:
        print_json(r)
        return 0
    b, a = r["before"], r["after"]
    print(
        f"{r['adaptation_lines']} lines adapted on, {r['held_out_lines']} held out "
        f"({r['held_out']}); {r['epochs']} epochs in {r['minutes']} min "
        f"({r['lines_per_second']} lines/s)"
    )
    print(f"{'held-out lines':16s} {'CER %':>7s} {'WER %':>7s}")
    print(f"{'base model':16s} {b['cer']:7.2f} {b['wer']:7.2f}")
    print(f"{'adapted':16s} {a['cer']:7.2f} {a['wer']:7.2f}")
    if r["kept_base_model"]:
        print(f"no gain: {args.out} holds the base model unchanged")
    else:
        print(f"model saved in {args.out} ({r['relative_cer_reduction']} % fewer character errors)")
    return 0


def cmd_export(args) -> int:
    from ..export import export, op_summary

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


def cmd_inspect(args) -> int:
    from ..fileio import check_not_input
    from ..images import load_image
    from ..plots import inspect_figure
    from ..recognize import Recognizer
    from ..segment import is_page

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


def add_parsers(sub) -> None:
    """Add the ``train``, ``export``, ``inspect`` commands to the subparsers ``sub``."""
    t = sub.add_parser(
        "train",
        help="train a model on line ground truth",
        description="Train (or fine-tune) a recognizer. The best model by val CER is "
        "saved in --out, with config.json, history.json and a checkpoint per epoch.",
    )
    t.add_argument(
        "--train",
        nargs="+",
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
    t.add_argument(
        "--packed",
        metavar="FILE",
        help="train on a line pack written by `handwriting pack` (its train and val "
        "lines) instead of --train / --val",
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
    t.add_argument(
        "--strategy",
        choices=["mirrored", "multi-worker"],
        help="train on several devices with tf.distribute (TensorFlow backend): mirrored "
        "(this machine's GPUs) or multi-worker (one process per worker, described by "
        "$TF_CONFIG; worker 0 writes --out). --batch-size is the global batch, split across "
        "the replicas; the learning rate is not scaled",
    )
    t.set_defaults(func=cmd_train)
    a = sub.add_parser(
        "adapt",
        help="fine-tune a model on your own lines, measured on a held-out slice",
        description="Adapt a model to your collection from 20 to a few thousand transcribed "
        "lines (line images with .gt.txt, or ALTO/PAGE pages). About a fifth of them, whole "
        "pages or documents, are held out: read by the base model first, then used to keep "
        "the best epoch and stop early. The learning rate, batch size and which layers train "
        "follow from the number of lines; the run stops within --max-minutes. Prints the "
        "held-out CER/WER before and after and writes them into OUT/handwriting.json and "
        "OUT/README.md; when nothing improves, OUT holds the base model unchanged.",
    )
    a.add_argument(
        "dirs", nargs="+", metavar="DIR", help="your ground truth (searched recursively)"
    )
    a.add_argument("--out", required=True, help="the new model directory (a training run)")
    a.add_argument(
        "--from-model",
        default="default",
        help="the model to adapt: a model directory, or default (the shipped model)",
    )
    a.add_argument(
        "--max-minutes",
        type=float,
        default=15,
        help="time budget, preprocessing included (default 15)",
    )
    a.add_argument(
        "--held-out",
        type=float,
        default=0.2,
        help="share of the lines held out to measure, by page or document (default 0.2)",
    )
    a.add_argument(
        "--replay",
        nargs="+",
        metavar="DIR",
        help="generic lines mixed in (as many as yours), e.g. `handwriting synth` output, so "
        "that the model keeps reading other hands",
    )
    a.add_argument(
        "--seed", type=int, default=42, help="seed of the split and of training (default 42)"
    )
    a.add_argument(
        "--learning-rate",
        type=float,
        help="Adam learning rate (default: 3e-4 below 1,000 lines, else 2e-4)",
    )
    a.add_argument(
        "--base-weight",
        type=float,
        default=0.5,
        help="share of the base model in the weights of the result (WiSE-FT averaging, "
        "default 0.5: much less forgotten of other hands); 0 keeps the fine-tuned weights",
    )
    a.add_argument("--json", action="store_true", help="print the report as one JSON object")
    a.set_defaults(func=cmd_adapt)
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
