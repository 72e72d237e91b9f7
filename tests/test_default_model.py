"""Regression tests of the shipped default model (catch a broken or mismatched artifact)."""
import json
from pathlib import Path

import numpy as np
import pytest

from handwriting.decode import cer
from handwriting.groundtruth import load_line_image, scan_line_dirs
from handwriting.recognize import DEFAULT_MODEL, Recognizer

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples"


@pytest.fixture(scope="module")
def recognizer():
    if not (DEFAULT_MODEL / "handwriting.json").is_file():
        pytest.skip("no default model in saved_models/default")
    return Recognizer(DEFAULT_MODEL)


def test_default_model_reads_the_samples(recognizer):
    expected = json.loads((SAMPLES / "expected.json").read_text(encoding="utf-8"))
    lines = {k: v for k, v in expected.items() if k.startswith("line")}
    results = recognizer.recognize([SAMPLES / k for k in lines])
    assert all(r.ok for r in results)
    hyps = [r.prediction.text for r in results]
    assert cer(list(lines.values()), hyps) < 20, hyps  # measured 11 % when shipped


def test_default_model_val_cer(recognizer, shared_data):
    records, _ = scan_line_dirs(sorted((shared_data / "lines").glob("*/val")))
    pick = np.random.default_rng(0).choice(len(records), size=200, replace=False)
    chosen = [records[i] for i in sorted(pick)]
    preds = recognizer.predict_lines([recognizer.preprocess(load_line_image(r)) for r in chosen])
    assert cer([r.text for r in chosen], [p.text for p in preds]) < 12.5  # all val: 10.3 %
