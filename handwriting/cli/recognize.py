"""``handwriting recognize``: argument checks and output around :func:`handwriting.reading.read`."""

from __future__ import annotations

import sys
from pathlib import Path

from ..errors import HandwritingError
from .common import add_backend_args, add_lm_args, log, print_json, report_failures


def _expand_inputs(names: list[str]) -> tuple[list[str], dict[str, str]]:
    """A directory stands for the images directly inside it (sorted; hidden files left out);
    files are kept as given (a bad one is reported when it is read). Also returns the
    directories without images, with their error (reported as failed inputs)."""
    from ..images import IMAGE_SUFFIXES

    out, empty = [], {}
    for name in names:
        path = Path(name)
        try:
            found = (
                sorted(
                    str(p)
                    for p in path.iterdir()
                    if p.is_file()
                    and p.suffix.lower() in (*IMAGE_SUFFIXES, ".pdf")
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
    """The file ``--out`` writes for the input ``name`` (``doc-p0003.xml`` for page 3 of a
    document)."""
    from ..multipage import document_of, page_stem

    if suffix == ".pdf":  # a document's pages go into one PDF
        return out_dir / (Path(document_of(name)).stem + suffix)
    return out_dir / (page_stem(name) + suffix)


def _check_output_names(names: list[str], out_dir: Path, suffix: str) -> None:
    """Refuse before any work when two inputs would write the same output file (names that
    differ only in case clash too: they do on macOS and Windows)."""
    from ..multipage import document_of

    seen: dict[str, str] = {}
    if suffix == ".pdf":  # the pages of one document share its PDF
        names = list(dict.fromkeys(document_of(n) for n in names))
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
    from ..formats import written_here

    foreign = [t for t in targets if t.is_file() and not written_here(t)]
    if foreign:
        more = f" (and {len(foreign) - 1} more)" if len(foreign) > 1 else ""
        raise HandwritingError(
            f"{foreign[0]}{more} exists and was not written by handwriting "
            "(ground truth? another tool's?); it would be replaced: choose "
            "another --out, or pass --overwrite"
        )


def cmd_recognize(args) -> int:

    from ..formats import SUFFIXES
    from ..multipage import expand_documents, parse_pages
    from ..reading import Reading, read
    from ..recognize import Recognizer

    if args.dpi is not None and not 10 <= args.dpi <= 1200:
        raise HandwritingError(f"--dpi {args.dpi:g}: give a resolution from 10 to 1200")
    parse_pages(args.pages)  # a bad range is refused before any work
    args.images, empty_dirs = _expand_inputs(args.images)
    args.images, bad_documents = expand_documents(args.images, args.pages, args.dpi)
    empty_dirs.update(bad_documents)
    suffix = {"text": ".txt", **SUFFIXES, "pdf": ".pdf"}[args.format]
    if args.format == "pdf" and not args.out:
        raise HandwritingError("--format pdf writes files: give --out DIR")
    if args.out:
        from ..fileio import check_not_input

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
        from ..formats import read_layout

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
        from ..fileio import make_dir, remove_stale_temps

        make_dir(args.out)
        remove_stale_temps(args.out)  # left by an earlier run that was killed
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
            dpi=args.dpi,
        )
        if readable
        else []
    )
    readings = [
        Reading(n, error=empty_dirs[n]) if n in empty_dirs else next(got) for n in args.images
    ]
    out_dir = Path(args.out) if args.out else None
    if args.format == "pdf":
        _write_pdfs(readings, out_dir, args.dpi)
        print(f"{sum(r.ok for r in readings)} page(s) written to {out_dir}", file=sys.stderr)
        return report_failures(readings, len(args.images))
    json_items = []
    for r in readings:
        try:
            _emit(args, r, out_dir, suffix, json_items)
        except HandwritingError as exc:  # an output that cannot be written: report, go on
            r.error = str(exc)
        except UnicodeError:
            r.error = f"{r.source!r}: its name is not valid UTF-8; rename the file"
    if args.format == "json" and not out_dir:
        print_json(json_items)
    if out_dir:
        print(f"{sum(r.ok for r in readings)} result file(s) written to {out_dir}", file=sys.stderr)
    return report_failures(readings, len(args.images))


def _write_pdfs(readings, out_dir: Path, dpi: float | None) -> None:
    """Write a searchable PDF per input (a document's pages in one, in order) into
    ``out_dir``, atomically; an input whose PDF cannot be made gets the error."""
    from ..errors import missing_extra
    from ..fileio import write_atomic
    from ..formats.pdf import embeddable, image_dpi, to_pdf
    from ..images import load_image
    from ..multipage import page_of

    def picture(r, doc):
        """The page image for the PDF: the document's page, rendered, or the input file as
        it is (colours and JPEG bytes kept) where it can be, else its grayscale reading."""
        if doc is not None:
            return doc.load()
        size = (r.page.width, r.page.height)
        return Path(r.source) if embeddable(Path(r.source), size) else load_image(r.source)

    groups: dict[Path, list] = {}
    for r in readings:
        if r.ok:
            doc = page_of(r.source, dpi)
            groups.setdefault(_output_file(out_dir, r.source, ".pdf"), []).append((r, doc))
    for target, members in groups.items():
        try:
            pages = [(r.page, picture(r, doc)) for r, doc in members]
            # one resolution for the document: the first page's (its pages share a scan);
            # an image: --dpi, else the one it records, else 300
            first = members[0][1]
            if first is not None:
                resolution = first.render_dpi()
            else:
                resolution = dpi or image_dpi(Path(members[0][0].source)) or 300
            write_atomic(target, to_pdf(pages, resolution))
        except ModuleNotFoundError as exc:
            raise missing_extra(exc) or exc from None
        except HandwritingError as exc:
            for r, _ in members:
                r.error = str(exc)


def _emit(args, r, out_dir, suffix, json_items) -> None:
    """Print or write (``--out``) one reading: a failed one is a JSON item and, printed as
    text, an empty line (``NAME<tab>`` with several inputs)."""

    several = len(args.images) > 1
    if not r.ok:
        json_items.append(r.to_dict())
        if not out_dir and args.format == "text":
            print(f"{r.source}\t" if several else "")
        return
    if args.format == "json":
        json_items.append(r.to_dict())
    if out_dir:
        from ..fileio import write_atomic

        write_atomic(_output_file(out_dir, r.source, suffix), r.to_bytes(args.format))
    elif args.format == "text":
        texts = [ln.text or "" for ln in r.page.lines]
        if several:  # each line led by its input's name and a tab
            print("\n".join(f"{r.source}\t{t}" for t in texts or [""]))
        else:
            print("\n".join(texts))
    elif args.format != "json":
        sys.stdout.flush()
        sys.stdout.buffer.write(r.to_bytes(args.format))
        sys.stdout.buffer.flush()


def add_parsers(sub) -> None:
    """Add the ``recognize`` commands to the subparsers ``sub``."""
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
        help="line or page images, PDF or multi-page TIFF documents (every page is read; "
        "outputs DOC-p0001...), or directories (their images and PDFs, sorted)",
    )
    r.add_argument(
        "--model",
        help="a .tflite file, a model directory, or default (the "
        "model shipped in the package; the default unless $HANDWRITING_MODEL names "
        "another)",
    )
    r.add_argument(
        "--format",
        choices=["text", "json", "alto", "page", "hocr", "pdf"],
        default="text",
        help="text, JSON (one schema, version 1, for line images and pages: source, kind, "
        "text, size and lines with polygon, baseline, text, confidence, words; a line image's "
        "line also chars), ALTO v4, PAGE XML 2019 or hOCR (the last three with word boxes; "
        "several inputs: --out), or pdf: a searchable PDF per input, a document's pages in "
        "one (needs --out and the [pdf] extra)",
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
    r.add_argument(
        "--pages",
        metavar="RANGE",
        help="the pages to read from each PDF or multi-page TIFF, e.g. 1-5,8,10- "
        "(default: all; a document of more than 500 pages needs it)",
    )
    r.add_argument(
        "--dpi",
        type=float,
        help="render PDF pages at this resolution (default: the resolution of the scan a "
        "page holds, else 300)",
    )
    r.add_argument("--beam", type=int, default=0, help="beam width (0: greedy decoding)")
    r.add_argument(
        "--batch-size", type=int, default=16, help="lines per predicted batch (default 16)"
    )
    add_backend_args(r)
    add_lm_args(r)
    r.set_defaults(func=cmd_recognize)
