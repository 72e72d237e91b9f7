"""Property-based fuzzing of everything the package reads from users: image bytes and shapes,
ALTO/PAGE documents, labels, language models and configs. Every input must give a result or
one of the package's own errors (never another exception), within a time bound.

Run by ``tests/test_fuzz.py`` in a child process under a memory limit (``RLIMIT_AS``), so a
case that would allocate without bound fails instead of swapping; prints the number of cases
per target. Standalone: ``python tests/fuzz_inputs.py [--examples N]``.
"""

import argparse
import gzip
import io
import json
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from handwriting.config import Config, PreprocessConfig
from handwriting.errors import HandwritingError
from handwriting.formats import read_layout
from handwriting.groundtruth import scan_line_dirs
from handwriting.images import load_image
from handwriting.lm import CharLM
from handwriting.preprocessing import preprocess

TMP = Path(tempfile.mkdtemp(prefix="handwriting-fuzz-"))
COUNTS: dict[str, int] = {}
SLOWEST: dict[str, float] = {}
LIMIT_S = 30.0  # one case, at most (a slow CI machine, shared)


def case(name: str, fn, *args) -> None:
    """Run one case: a result or a HandwritingError, within LIMIT_S seconds."""
    t = time.perf_counter()
    try:
        fn(*args)
    except HandwritingError as exc:
        assert str(exc) and "\n" not in str(exc).strip(), f"{name}: a multi-line error: {exc!r}"
    seconds = time.perf_counter() - t
    assert seconds < LIMIT_S, f"{name}: {seconds:.1f} s"
    COUNTS[name] = COUNTS.get(name, 0) + 1
    SLOWEST[name] = max(SLOWEST.get(name, 0.0), seconds)


def png(shape) -> bytes:
    ok, buf = cv2.imencode(".png", np.full(shape, 200, np.uint8))
    assert ok
    return buf.tobytes()


SEED_IMAGES = [png((30, 90)), png((1, 50)), b"\x89PNG\r\n\x1a\n", b"II*\x00", b"\xff\xd8\xff"]


def read_bytes_as_image(data: bytes) -> None:
    path = TMP / "x.png"
    path.write_bytes(data)
    load_image(path)


@st.composite
def mutated_image(draw):
    base = bytearray(draw(st.sampled_from(SEED_IMAGES)))
    for _ in range(draw(st.integers(0, 8))):
        if base:
            base[draw(st.integers(0, len(base) - 1))] = draw(st.integers(0, 255))
    return bytes(base) + draw(st.binary(max_size=64))


ALTO = (
    '<alto xmlns="http://www.loc.gov/standards/alto/ns-v4#"><Layout><Page WIDTH="{w}" '
    'HEIGHT="{h}"><PrintSpace><TextBlock><TextLine ID="{id}" HPOS="{x}" VPOS="{y}" '
    'WIDTH="{lw}" HEIGHT="{lh}"><String CONTENT="{text}"/></TextLine></TextBlock>'
    "</PrintSpace></Page></Layout></alto>"
)
NUMBER = st.one_of(
    st.integers(-(10**12), 10**12).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.text(max_size=6),
)
XML_TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=20)


def escape(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace('"', "&quot;")


@st.composite
def alto_document(draw):
    fields = {k: draw(NUMBER) for k in ("w", "h", "x", "y", "lw", "lh")}
    doc = ALTO.format(id=escape(draw(XML_TEXT)) or "l", text=escape(draw(XML_TEXT)), **fields)
    if draw(st.booleans()):  # cut or garble the document
        cut = draw(st.integers(0, len(doc)))
        doc = doc[:cut] + draw(st.text(max_size=10))
    return doc


def read_document(doc: str) -> None:
    path = TMP / "doc.xml"
    path.write_text(doc, encoding="utf-8", errors="surrogatepass")
    page = read_layout(path)
    for line in page.lines:
        assert line.polygon.dtype == np.int32


def read_label(raw: bytes) -> None:
    folder = TMP / "gt"
    folder.mkdir(exist_ok=True)
    (folder / "l.png").write_bytes(SEED_IMAGES[0])
    (folder / "l.gt.txt").write_bytes(raw)
    records, problems = scan_line_dirs([folder])
    assert len(records) + len(problems) == 1
    for r in records:
        assert r.text and not any(ord(c) < 32 for c in r.text)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


@st.composite
def lm_json(draw):
    data = {"kind": "handwriting character LM", "format_version": 1, "order": 3, "counts": {}}
    for key in draw(st.lists(st.sampled_from(["order", "counts", "weight", "bonus", "kind"]))):
        data[key] = draw(JSON)
    return data


def read_lm(data) -> None:
    path = TMP / "x.lm.json.gz"
    path.write_bytes(gzip.compress(json.dumps(data).encode()))
    CharLM.load(path)


CONFIG = st.fixed_dictionaries(
    {},
    optional={
        "preprocess": st.dictionaries(
            st.sampled_from(["height", "pad", "max_skew", "max_slant", "deskew"]), JSON
        ),
        "model": st.dictionaries(
            st.sampled_from(
                [
                    "conv_filters",
                    "pools",
                    "projection",
                    "lstm_units",
                    "lstm_layers",
                    "dropout",
                    "column_pool",
                    "shortcut",
                ]
            ),  # fmt: skip
            JSON,
        ),
        "train": st.dictionaries(
            st.sampled_from(["batch_size", "epochs", "learning_rate", "seed", "bucket_width"]),
            JSON,
        ),
    },
)


def read_config(data) -> None:
    Config.from_dict(data)


@st.composite
def odd_image(draw):
    h = draw(st.sampled_from([1, 2, 3, 8, 40, 300, 2000]))  # up to 18 MP: any line,
    w = draw(st.sampled_from([1, 2, 3, 8, 40, 300, 2000, 9000]))  # or a page read as one
    kind = draw(st.sampled_from(["blank", "noise", "line", "nan"]))
    img = np.full((h, w), 235, np.float32)
    if kind == "noise":
        img = np.random.default_rng(draw(st.integers(0, 2**16))).uniform(0, 255, (h, w))
    elif kind == "line":
        img[h // 2, :] = 0
    elif kind == "nan":
        img = img / 255.0
        img[0, 0] = np.nan
    return img.astype(np.float32)


def preprocess_image(img) -> None:
    line = preprocess(img, PreprocessConfig())
    assert line.shape[0] == 40 and np.isfinite(line).all()


TARGETS = [
    ("image bytes", mutated_image(), read_bytes_as_image),
    ("image shapes", odd_image(), preprocess_image),
    ("ALTO documents", alto_document(), read_document),
    ("labels", st.binary(max_size=64), read_label),
    ("language models", lm_json(), read_lm),
    ("configs", CONFIG, read_config),
]


def fuzz(name: str, strategy, fn, examples: int) -> None:
    """Feed ``examples`` generated values to ``fn`` as :func:`case` runs them."""

    @settings(max_examples=examples, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(strategy)
    def check(value):
        case(name, fn, value)

    check()


def run(examples: int) -> dict[str, int]:
    for name, strategy, fn in TARGETS:
        fuzz(name, strategy, fn, examples)
    return COUNTS


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--examples", type=int, default=100, help="cases per target")
    counts = run(ap.parse_args().examples)
    out = io.StringIO()
    json.dump({"counts": counts, "slowest_s": SLOWEST}, out)
    print(out.getvalue())
    sys.exit(0)
