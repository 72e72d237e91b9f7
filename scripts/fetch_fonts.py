"""Fetch openly licensed handwriting fonts from the npm registry for ``handwriting synth``.

The Google Fonts handwriting families are published on npm as ``@fontsource/<family>``. For
each family named (default: :data:`FAMILIES`) this script runs ``npm pack``, keeps the package
only if its ``package.json`` declares OFL-1.1 or Apache-2.0, converts the Latin subset of each
weight (WOFF2 or WOFF) to TTF with fontTools, and writes ``manifest.json`` (family, file,
licence, version, attribution) beside the fonts. Fonts stay in the cache folder; never commit
them. Needs ``npm`` and ``pip install "fonttools[woff]"`` (brotli, for WOFF2).

Usage::

    python scripts/fetch_fonts.py ~/.cache/handwriting/fonts            # the default list
    python scripts/fetch_fonts.py DIR --families caveat kristi --weights 400
    handwriting synth --fonts ~/.cache/handwriting/fonts --out synth/ --count 20000

Exit code 1 if fewer families than ``--min-families`` could be fetched (all are listed).
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ALLOWED = {"OFL-1.1", "Apache-2.0"}

# Google Fonts "handwriting" families (fontsource ids), cursive and print, old and school hands
# (caps-only families such as Amatic SC are left out: they would draw lower case as capitals).
FAMILIES = """
alex-brush allison allura annie-use-your-telescope architects-daughter arizonia
babylonica bad-script ballet beth-ellen bilbo birthstone bonheur-royale borel butterfly-kids
calligraffitti caveat caveat-brush cedarville-cursive charm charmonman cherish clicker-script
comforter comforter-brush coming-soon condiment cookie corinthia courgette covered-by-your-grace
crafty-girls damion dancing-script dawning-of-a-new-day dekko delius devonshire dr-sugiyama
dynalight edu-nsw-act-foundation edu-qld-beginner edu-sa-beginner edu-tas-beginner
edu-vic-wa-nt-beginner engagement ephesis estonia euphoria-script explora felipa fondamento
fuggles gaegu give-you-glory gloria-hallelujah gochi-hand grand-hotel grape-nuts great-vibes
grechen-fuemen gwendolyn handlee herr-von-muellerhoff hi-melody homemade-apple hurricane
indie-flower ingrid-darling inspiration island-moments italianno jim-nightshade
just-another-hand just-me-again-down-here kalam kaushan-script kavivanar klee-one kolker-brush
kristi la-belle-aurore lavishly-yours league-script leckerli-one licorice love-light
loved-by-the-king lovers-quarrel luxurious-script mali marck-script meddon merienda
meow-script miss-fajardose monsieur-la-doulaise montez moon-dance mr-bedfort mr-dafoe
mr-de-haviland mrs-saint-delafield mrs-sheppards ms-madi my-soul mynerve nanum-pen-script
neucha niconne norican nothing-you-could-do oooh-baby over-the-rainbow pacifico parisienne
passions-conflict patrick-hand permanent-marker petit-formal-script pinyon-script playball
playwrite-au-nsw playwrite-de-grund playwrite-fr-moderne playwrite-fr-trad playwrite-gb-s
playwrite-ie playwrite-it-moderna playwrite-nz playwrite-us-modern playwrite-us-trad
poor-story princess-sofia puppies-play quintessential qwigley qwitcher-grypen reenie-beanie
rochester rock-salt rouge-script ruthie sacramento satisfy schoolbell seaweed-script
send-flowers shadows-into-light shadows-into-light-two short-stack sofia square-peg
stalemate style-script sue-ellen-francisco sunshiney swanky-and-moo-moo tangerine
the-girl-next-door the-nautigal twinkle-star updock vibur vujahday-script waiting-for-the-sunrise
walter-turncoat water-brush whisper windsong yellowtail yomogi zeyada
""".split()


def pack(family: str, work: Path) -> Path:
    """``npm pack @fontsource/<family>`` into ``work``; returns the tarball's path."""
    done = subprocess.run(
        [
            "npm",
            "pack",
            f"@fontsource/{family}",
            "--json",
            "--silent",
            "--pack-destination",
            str(work),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if done.returncode:
        reason = (done.stderr.strip().splitlines() or ["npm pack failed"])[-1]
        raise RuntimeError(reason[:200])
    return work / json.loads(done.stdout)[0]["filename"]


def to_ttf(data: bytes, dest: Path) -> None:
    """Write a WOFF/WOFF2/TTF font given as bytes to ``dest`` as a plain TrueType/OpenType file."""
    import logging

    from fontTools.ttLib import TTFont

    logging.getLogger("fontTools").setLevel(logging.ERROR)  # harmless header-date warnings
    font = TTFont(io.BytesIO(data))
    font.flavor = None
    tmp = dest.with_suffix(".tmp")
    font.save(str(tmp))
    tmp.replace(dest)


def fetch(family: str, out: Path, weights: set[str], work: Path) -> list[dict]:
    """Fetch one family; returns its manifest rows (one per weight kept)."""
    tgz = pack(family, work)
    with tarfile.open(tgz) as tar:
        members = {m.name: m for m in tar.getmembers() if m.isfile()}
        meta = json.loads(tar.extractfile(members["package/package.json"]).read())
        licence = meta.get("license")
        if licence not in ALLOWED:
            raise RuntimeError(f"licence {licence!r} is not one of {', '.join(sorted(ALLOWED))}")
        extra = {}
        if "package/metadata.json" in members:
            extra = json.loads(tar.extractfile(members["package/metadata.json"]).read())
        rows = []
        for weight in sorted(weights):
            for ext in ("woff2", "woff"):
                name = f"package/files/{family}-latin-{weight}-normal.{ext}"
                if name in members:
                    dest = out / f"{family}-{weight}.ttf"
                    to_ttf(tar.extractfile(members[name]).read(), dest)
                    rows.append(
                        {
                            "family": extra.get("family", family),
                            "id": family,
                            "file": dest.name,
                            "weight": int(weight),
                            "licence": licence,
                            "version": meta.get("version"),
                            "attribution": (extra.get("license") or {}).get("attribution"),
                            "source": f"npm:@fontsource/{family}@{meta.get('version')}",
                        }
                    )
                    break
    if not rows:
        raise RuntimeError(f"no latin font of weight {', '.join(sorted(weights))} in the package")
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "out",
        type=Path,
        help="cache folder for the .ttf files and manifest.json (outside the repository)",
    )
    p.add_argument(
        "--families",
        nargs="+",
        default=FAMILIES,
        metavar="ID",
        help=f"fontsource ids (default: {len(FAMILIES)} handwriting families)",
    )
    p.add_argument(
        "--weights",
        nargs="+",
        default=["400"],
        help="weights to keep per family where published (default: 400)",
    )
    p.add_argument(
        "--min-families",
        type=int,
        default=100,
        help="exit 1 if fewer families are fetched (default 100)",
    )
    p.add_argument("--jobs", type=int, default=8, help="parallel npm calls (default 8)")
    args = p.parse_args(argv)
    if shutil.which("npm") is None:
        print(
            "error: npm not found; install Node.js and npm (Debian: apt-get install npm)",
            file=sys.stderr,
        )
        return 2
    try:
        import brotli  # noqa: F401  (fontTools needs it for WOFF2)
    except ImportError:
        print(
            'error: fontTools needs brotli for WOFF2: pip install "fonttools[woff]"',
            file=sys.stderr,
        )
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    rows, failed = [], []
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(args.jobs) as pool:
        futures = {
            f: pool.submit(fetch, f, args.out, set(args.weights), Path(tmp))
            for f in dict.fromkeys(args.families)
        }
        for family, fut in futures.items():
            try:
                rows += fut.result()
            except Exception as exc:  # noqa: BLE001 - one family's failure is reported, not fatal
                failed.append((family, str(exc)))
    manifest = args.out / "manifest.json"
    tmp = manifest.with_suffix(".tmp")
    tmp.write_text(json.dumps(rows, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(manifest)
    families = len({r["id"] for r in rows})
    for family, reason in failed:
        print(f"skipped {family}: {reason}", file=sys.stderr)
    print(
        f"{families} families ({len(rows)} files) in {args.out}; manifest: {manifest}"
        + (f"; {len(failed)} skipped" if failed else "")
    )
    return 0 if families >= args.min_families else 1


if __name__ == "__main__":
    sys.exit(main())
