"""Regression tests of the shipped default model (catch a broken or mismatched artifact)."""

import json
from pathlib import Path

import numpy as np
import pytest

from handwriting.artifacts import DEFAULT_MODEL_DIR as DEFAULT_MODEL
from handwriting.groundtruth import load_line_image, scan_line_dirs
from handwriting.metrics import cer
from handwriting.recognize import Recognizer

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples"


@pytest.fixture(scope="module")
def recognizer():
    if not (DEFAULT_MODEL / "handwriting.json").is_file():
        pytest.skip("no default model in handwriting/models/default")
    return Recognizer(DEFAULT_MODEL)


def test_default_model_reads_the_samples(recognizer):
    expected = json.loads((SAMPLES / "expected.json").read_text(encoding="utf-8"))
    lines = {k: v for k, v in expected.items() if k.startswith("line")}
    results = recognizer.recognize([SAMPLES / k for k in lines])
    assert all(r.ok for r in results)
    hyps = [r.prediction.text for r in results]
    assert cer(list(lines.values()), hyps) < 20, hyps  # measured 11 % when shipped


def _val200(shared_data):
    """200 val lines of the four trained-on sources (copiste, hooker, peraire, poilus), drawn
    with a fixed seed; the English multi-writer set is measured on its own below."""
    dirs = [d for d in sorted((shared_data / "lines").glob("*/val")) if d.parent.name != "stanford"]
    records, _ = scan_line_dirs(dirs)
    pick = np.random.default_rng(0).choice(len(records), size=200, replace=False)
    return [records[i] for i in sorted(pick)]


def test_default_model_val_cer(recognizer, shared_data):
    chosen = _val200(shared_data)
    preds = recognizer.predict_lines([recognizer.preprocess(load_line_image(r)) for r in chosen])
    assert cer([r.text for r in chosen], [p.text for p in preds]) < 10.5  # measured 8.3 %


def test_default_model_reads_english_of_unseen_writers(recognizer, shared_data):
    """stanford/val: 16 English letters of 1905, one writer each, none seen in training."""
    if not (shared_data / "lines" / "stanford" / "val").is_dir():
        pytest.skip("../shared/data/lines/stanford/val is not there")
    records, _ = scan_line_dirs([shared_data / "lines" / "stanford" / "val"])
    preds = recognizer.predict_lines([recognizer.preprocess(load_line_image(r)) for r in records])
    assert cer([r.text for r in records], [p.text for p in preds]) < 35.5  # measured 34.9 %


@pytest.fixture(scope="module")
def recognizer_lm(recognizer):
    if not (DEFAULT_MODEL / "lm.json.gz").is_file():
        pytest.skip("no language model in handwriting/models/default")
    return Recognizer(DEFAULT_MODEL, lm="model")


def test_default_model_reads_the_samples_better_with_its_lm(recognizer, recognizer_lm):
    """The shipped LM (word frequencies, no ground truth) fixes misspellings greedy decoding
    makes on the samples ("tuo parcels", "haff past hine", "mercipour")."""
    expected = json.loads((SAMPLES / "expected.json").read_text(encoding="utf-8"))
    lines = {k: v for k, v in expected.items() if k.startswith("line")}
    paths = [SAMPLES / k for k in lines]
    greedy = cer(list(lines.values()), [r.prediction.text for r in recognizer.recognize(paths)])
    with_lm = cer(list(lines.values()), [r.prediction.text for r in recognizer_lm.recognize(paths)])
    assert with_lm < min(2.5, greedy), (greedy, with_lm)  # measured 4.6 % -> 0.7 %


def test_default_model_val_cer_with_its_lm(recognizer_lm, shared_data):
    chosen = _val200(shared_data)
    preds = recognizer_lm.predict_lines(
        [recognizer_lm.preprocess(load_line_image(r)) for r in chosen]
    )
    assert (
        cer([r.text for r in chosen], [p.text for p in preds]) < 7.5
    )  # measured 6.7 % (greedy 8.3)


def test_default_model_places_the_words(recognizer):
    """Word boxes: on a sample line with clear word gaps each box spans its word's ink; on
    the sample page they lie in their line's box, left to right, without overlapping."""
    from handwriting.images import load_image
    from handwriting.pages import recognize_page
    from handwriting.preprocessing import ink_map

    gray = load_image(SAMPLES / "line1.png")
    result = recognizer.recognize([gray])[0]
    ink = ink_map(gray) >= 0.5
    rows, cols = np.flatnonzero(ink.any(1)), np.flatnonzero(ink.any(0))
    runs = np.split(cols, np.flatnonzero(np.diff(cols) > 0.25 * (rows[-1] - rows[0])) + 1)
    assert len(runs) == 7 == len(result.words), [w.text for w in result.words]
    for word, run in zip(result.words, runs):
        x0, y0, x1, y1 = word.box
        assert abs(x0 - run[0]) <= 3 and abs(x1 - run[-1] - 1) <= 3, (word, run[0], run[-1])
        assert rows[0] - 1 <= y0 < y1 <= rows[-1] + 2 and 0 < word.confidence <= 1
    page = recognize_page(recognizer, SAMPLES / "page1.png")
    assert sum(len(ln.words) for ln in page.lines) == 16  # as in the truth
    for line in page.lines:
        assert [w.text for w in line.words] == line.text.split()
        assert line.text == " ".join(line.text.split())  # normalized, as ground truth is
        (px0, py0), (px1, py1) = line.polygon.min(0), line.polygon.max(0) + 1
        for a, b in zip(line.words, line.words[1:]):
            assert a.box[2] <= b.box[0]
        for w in line.words:
            assert px0 <= w.box[0] < w.box[2] <= px1 and py0 <= w.box[1] < w.box[3] <= py1


def test_probabilities_are_the_ones_decoded(recognizer):
    """``Recognizer.probabilities`` (the posteriors `handwriting inspect` plots) are the ones
    ``predict_lines`` decodes: the line padded to its bucket width, as in a batch."""
    from handwriting.decode import greedy_decode
    from handwriting.preprocessing import bucket

    line = recognizer.preprocess(SAMPLES / "line3.png")
    assert line.shape[1] % 64  # padding changes this line's input
    seen = []
    predict = recognizer.backend.predict
    recognizer.backend.predict = lambda x: seen.append(np.asarray(predict(x))) or seen[-1]
    try:
        pred = recognizer.predict_lines([line])[0]
    finally:
        del recognizer.backend.predict
    probs = recognizer.probabilities(line)
    assert seen[0].shape[1] == bucket(line.shape[1]) // recognizer.backend.downsample
    np.testing.assert_allclose(probs, seen[0][0, : len(probs)], atol=1e-5)
    labels = greedy_decode(probs).labels
    assert recognizer.charset.decode(labels) == pred.text


@pytest.mark.slow
def test_shipped_lm_is_rebuilt_byte_for_byte(tmp_path, capsys):
    """The command in the model card rebuilds lm.json.gz exactly: the artifact matches the
    code that makes it (about 30 s)."""
    pytest.importorskip("wordfreq", reason="wordfreq not installed (pip install -e '.[lm]')")
    from handwriting.cli import main

    shipped = DEFAULT_MODEL / "lm.json.gz"
    if not shipped.is_file():
        pytest.skip("no language model in handwriting/models/default")
    out = tmp_path / "lm.json.gz"
    assert (
        main(
            [
                "lm",
                "--wordfreq",
                "en",
                "fr",
                "--min-count",
                "2",
                "--weight",
                "0.2",
                "--bonus",
                "1.0",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert out.read_bytes() == shipped.read_bytes()
