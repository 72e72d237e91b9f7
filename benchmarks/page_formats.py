"""Page output checked by the validators other tools use, on any page images: each page is
read with the default model (or ``--model``) and written as PAGE, ALTO and hOCR, then

- OCR-D's PAGE validator (``--page-textequiv-consistency strict --check-baseline
  --check-coords``): errors, by kind (word outside its line, baseline outside its line,
  invalid polygon, text);
- the official PAGE 2019 and ALTO 4.2 XSDs (``tests/schemas``): invalid files;
- ``hocr-spec`` (warnings and errors) and ``hocr-check`` (``not ok`` lines, such as line
  boxes overlapping);
- the searchable PDF of ``recognize --format pdf`` (OCRmyPDF's renderer, from the hOCR) read
  back with poppler's ``pdftotext``: word breaks lost (two read words run together).

    python benchmarks/page_formats.py IMAGE_OR_DIR... [--model DIR] [--json]

Needs the ``[interop]`` extra and ``pdftotext`` (Debian ``poppler-utils``). Prints one row
per page with a problem and the totals.
"""

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from lxml import etree

from handwriting.formats import serialize
from handwriting.formats.pdf import to_pdf
from handwriting.images import IMAGE_SUFFIXES, load_image
from handwriting.pages import recognize_page
from handwriting.recognize import Recognizer

SCHEMAS = Path(__file__).resolve().parent.parent / "tests" / "schemas"


def images_of(paths) -> list[Path]:
    out = []
    for p in map(Path, paths):
        if p.is_dir():
            out += sorted(f for f in p.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
        else:
            out.append(p)
    return out


def ocrd_errors(path: Path) -> Counter:
    """OCR-D's PAGE validator errors on ``path``, counted by kind."""
    from ocrd_validators import PageValidator

    report = PageValidator.validate(
        filename=str(path),
        page_textequiv_consistency="strict",
        check_baseline=True,
        check_coords=True,
    )
    kinds = Counter()
    for e in report.errors:
        text = str(e)
        if "INCONSISTENCY in Word" in text:
            kinds["word outside its line"] += 1
        elif "INCONSISTENCY in Baseline" in text:
            kinds["baseline outside its line"] += 1
        elif "INCONSISTENCY" in text:
            kinds["other containment"] += 1
        elif "INVALIDITY" in text or "invalid" in text.lower():
            kinds["invalid polygon"] += 1
        else:
            kinds["text consistency"] += 1
    return kinds


def lost_breaks(page, image: Path, folder: Path) -> int:
    """Word breaks lost in the searchable PDF of ``page`` (``recognize --format pdf``:
    OCRmyPDF's renderer) read back by pdftotext: read words that come back run together."""
    pdf = folder / "page.pdf"
    pdf.write_bytes(to_pdf([(page, load_image(image))]))
    got = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True)
    words = [ln.text.split() if ln.text else [] for ln in page.lines]
    pairs = Counter(a + b for w in words for a, b in zip(w, w[1:]))
    extra = Counter(got.stdout.split()) - Counter(x for w in words for x in w)
    return sum(min(n, pairs[t]) for t, n in extra.items() if t in pairs)


def main():
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("inputs", nargs="+", metavar="IMAGE_OR_DIR")
    ap.add_argument("--model", default=None, help="model directory or .tflite file")
    ap.add_argument("--json", action="store_true", help="print the totals as JSON")
    args = ap.parse_args()
    logging.disable(logging.WARNING)  # the unread-writing warnings of each page
    images = images_of(args.inputs)
    if not images:
        sys.exit("error: no page images")
    rec = Recognizer(args.model)
    page_xsd = etree.XMLSchema(etree.parse(str(SCHEMAS / "pagecontent-2019-07-15.xsd")))
    alto_xsd = etree.XMLSchema(etree.parse(str(SCHEMAS / "alto-4-2.xsd")))
    total = Counter()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for image in images:
            page = recognize_page(rec, image)
            files = {}
            for fmt, ext in (("page", "xml"), ("alto", "alto.xml"), ("hocr", "hocr")):
                files[fmt] = folder / f"page.{ext}"
                files[fmt].write_bytes(serialize(page, fmt, image.name))
            row = Counter(ocrd_errors(files["page"]))
            row["ocrd errors"] = sum(row.values())
            row["invalid PAGE (XSD)"] = int(not page_xsd.validate(etree.parse(str(files["page"]))))
            row["invalid ALTO (XSD)"] = int(not alto_xsd.validate(etree.parse(str(files["alto"]))))
            spec = subprocess.run(
                ["hocr-spec", str(files["hocr"])], capture_output=True, text=True, check=False
            ).stdout
            row["hocr-spec warnings"] = spec.count("[WARN]") + spec.count("[ERROR]")
            check = subprocess.run(
                ["hocr-check", str(files["hocr"])], capture_output=True, text=True, check=False
            ).stderr
            row["hocr-check not ok"] = check.count("not ok")
            row["pdf word breaks lost"] = lost_breaks(page, image, folder)
            row["lines"] = len(page.lines)
            row["words"] = sum(len((ln.text or "").split()) for ln in page.lines)
            total.update(row)
            total["pages"] += 1
            problems = {k: v for k, v in row.items() if v and k not in ("lines", "words")}
            if problems:
                print(f"{image}: {dict(problems)}", flush=True)
    keys = ["pages", "lines", "words", "ocrd errors", "word outside its line"]
    keys += ["baseline outside its line", "invalid polygon", "other containment"]
    keys += ["text consistency", "invalid PAGE (XSD)", "invalid ALTO (XSD)"]
    keys += ["hocr-spec warnings", "hocr-check not ok", "pdf word breaks lost"]
    result = {k: total[k] for k in keys}
    for k in keys:
        print(f"{k:28s} {result[k]:6d}")
    if args.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
