"""``handwriting data``, ``pack``, ``synth`` and ``lm``: ground truth checked and packed,
lines rendered, a language model counted."""

from __future__ import annotations

import sys
from pathlib import Path

from ..errors import HandwritingError
from ..lm import BONUS, WEIGHT
from .common import print_json


def cmd_data(args) -> int:
    from ..evaluate import dataset_report

    rep = dataset_report(args.dirs, progress=not args.json and sys.stderr.isatty())
    if args.json:
        print_json(rep)
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
        from ..groundtruth import no_lines_error

        print(f"error: {no_lines_error(args.dirs, rep['problems'])}", file=sys.stderr)
        return 1
    if rep["problems"]:  # a script checking its ground truth learns it from the exit code
        print(f"error: {len(rep['problems'])} problem(s) listed", file=sys.stderr)
        return 1
    return 0


def cmd_pack(args) -> int:
    from ..fileio import check_not_input, check_writable
    from ..line_pack import write_pack

    check_not_input([args.out], [*args.train, *args.val])
    check_writable(args.out)
    splits = {"train": args.train, "val": args.val}
    counts, problems = write_pack(
        splits, args.out, args.source_height, args.quality, progress=sys.stderr.isatty()
    )
    size = Path(args.out).stat().st_size / 1e6
    print(
        f"{args.out}: {counts['train']} train and {counts['val']} val lines, {size:.1f} MB"
        + (f"; {len(problems)} file(s) left out:" if problems else "")
    )
    for p in problems:
        print(f"  {p}")
    return 0


def cmd_synth(args) -> int:
    from ..synth import expand_fonts, find_fonts, generate

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


def cmd_lm(args) -> int:
    from ..lm import CharLM, read_texts, wordfreq_texts

    if not args.sources and not args.wordfreq:
        raise HandwritingError("give text files or folders to count, and/or --wordfreq LANG...")
    from ..fileio import check_not_input

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


def add_parsers(sub) -> None:
    """Add the ``data``, ``pack``, ``lm``, ``synth`` commands to the subparsers ``sub``."""
    d = sub.add_parser(
        "data",
        help="inspect ground truth",
        description="Line count, charset with counts, image sizes, unreadable or "
        "unlabelled files (exit code 1 when any is listed).",
    )
    d.add_argument("dirs", nargs="+", metavar="DIR", help="ground-truth folders")
    d.add_argument("--json", action="store_true", help="print one JSON object")
    d.set_defaults(func=cmd_data)
    pk = sub.add_parser(
        "pack",
        help="pack line ground truth into one file for training elsewhere",
        description="Write the train and val lines of ground-truth folders into one "
        "compact file (line images downscaled and WebP-encoded, with their texts) for "
        "`train --packed FILE` on a machine without the folders, such as a GPU box "
        "reached through a small transfer. Files that cannot be read are listed and left out.",
    )
    pk.add_argument("--train", nargs="+", required=True, metavar="DIR", help="training lines")
    pk.add_argument("--val", nargs="+", default=[], metavar="DIR", help="validation lines")
    pk.add_argument("--out", required=True, help="the pack to write (an .npz file)")
    pk.add_argument(
        "--source-height",
        type=int,
        default=48,
        help="lines taller than this are scaled down to it (default 48 px; the models "
        "read 40 px lines)",
    )
    pk.add_argument("--quality", type=int, default=80, help="WebP quality, 1 to 100 (default 80)")
    pk.set_defaults(func=cmd_pack)
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
