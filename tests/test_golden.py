"""Golden files: what `handwriting recognize` writes for the samples in every format, with the
default model. A change of these bytes must be on purpose: regenerate them with
``HANDWRITING_UPDATE_GOLDEN=1 python -m pytest tests/test_golden.py`` and review the diff.

Dates and the version are masked; numbers may differ slightly on another CPU (LiteRT's
kernels round differently), so decimals (confidences) may move by 0.02 and whole numbers
(pixels, percent confidences) by 2; every other character must be identical.
"""

import os
import re
from pathlib import Path

import pytest

from handwriting import __version__, artifacts
from handwriting.cli import main

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "data" / "samples"
GOLDEN = Path(__file__).resolve().parent / "golden"
INPUTS = ["line1.png", "line2.png", "line3.png", "line4.png", "page1.png"]
UPDATE = os.environ.get("HANDWRITING_UPDATE_GOLDEN") == "1"
NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def normalize(text: str) -> str:
    text = re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:[+-]\d\d:\d\d|Z)?", "<date>", text)
    return (
        text.replace(f"handwriting {__version__}", "handwriting <version>")
        .replace(f">{__version__}<", "><version><")
        .replace(str(SAMPLES), "<samples>")
    )


def assert_close(produced: str, golden: str, name: str) -> None:
    a, b = NUMBER.split(produced), NUMBER.split(golden)
    assert a == b, f"{name}: the text around the numbers differs from the golden file"
    for x, y in zip(NUMBER.findall(produced), NUMBER.findall(golden)):
        tolerance = 0.02 if "." in x else 2
        assert abs(float(x) - float(y)) <= tolerance, f"{name}: {x} where the golden file has {y}"


def check(name: str, produced: str) -> None:
    path = GOLDEN / name
    produced = normalize(produced)
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(produced, encoding="utf-8")
    if not path.is_file():
        pytest.fail(f"no golden file {path}: run with HANDWRITING_UPDATE_GOLDEN=1")
    assert_close(produced, path.read_text(encoding="utf-8"), name)


@pytest.fixture(autouse=True)
def default_model(monkeypatch):
    if not (artifacts.DEFAULT_MODEL_DIR / artifacts.DEFAULT_TFLITE).is_file():
        pytest.skip("no default model in handwriting/models/default")
    monkeypatch.delenv("HANDWRITING_MODEL", raising=False)


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_printed_formats(fmt, capsys):
    assert main(["recognize", *[str(SAMPLES / n) for n in INPUTS], "--format", fmt]) == 0
    check(f"samples.{'txt' if fmt == 'text' else 'json'}", capsys.readouterr().out)


@pytest.mark.parametrize("fmt,suffix", [("alto", ".xml"), ("page", ".xml"), ("hocr", ".hocr")])
def test_written_formats(fmt, suffix, tmp_path, capsys):
    assert (
        main(
            [
                "recognize",
                *[str(SAMPLES / n) for n in INPUTS],
                "--format",
                fmt,
                "--out",
                str(tmp_path),
            ]
        )
        == 0
    )
    for name in INPUTS:
        check(
            f"{fmt}/{Path(name).stem}{suffix}",
            (tmp_path / f"{Path(name).stem}{suffix}").read_text(encoding="utf-8"),
        )


def test_tolerance_catches_real_changes():
    assert_close("conf 0.91 box 10 20", "conf 0.90 box 11 20", "same")
    for changed in ("conf 0.95 box 10 20", "conf 0.91 box 14 20", "conf 0.91 box 10 20 x"):
        with pytest.raises(AssertionError):
            assert_close(changed, "conf 0.91 box 10 20", "changed")


@pytest.mark.parametrize("fmt,suffix", [("alto", ".xml"), ("page", ".xml"), ("hocr", ".hocr")])
def test_printed_xml_is_the_written_file(fmt, suffix, capsys):
    """One input without --out: the document is printed, the same bytes --out writes."""
    assert main(["recognize", str(SAMPLES / "page1.png"), "--format", fmt]) == 0
    check(f"{fmt}/page1{suffix}", capsys.readouterr().out)
