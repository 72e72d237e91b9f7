"""Adaptation on lines the tests draw: the split by page, the refusal of too few lines, the
before/after report, the charset extension, and the base model kept when nothing helps."""

import json

import cv2
import numpy as np
import pytest

from handwriting import artifacts
from handwriting.adapt import group_of, split_held_out
from handwriting.cli import main
from handwriting.config import Config
from handwriting.groundtruth import LineRecord, scan_line_dirs
from handwriting.train import train

from conftest import TINY, digit_texts, write_line_dir


def _documents(root, n_docs, per_doc, chars, seed, **kw):
    rng = np.random.default_rng(seed)
    for doc in range(n_docs):
        texts = ["".join(rng.choice(list(chars), size=rng.integers(2, 5))) for _ in range(per_doc)]
        write_line_dir(root, texts, prefix=f"letter{doc}_", **kw)
    return root


def test_lines_are_held_out_by_whole_documents(tmp_path):
    root = _documents(tmp_path / "gt", 7, 5, "0123", seed=0)
    records, _ = scan_line_dirs([root])
    assert group_of(records[0]) == str(root / "letter0")
    kept, held, how = split_held_out(records, 0.2, seed=1)
    assert len(kept) + len(held) == 35 and 5 <= len(held) <= 10
    assert not {group_of(r) for r in kept} & {group_of(r) for r in held}
    assert how == f"{len(held) // 5} of 7 pages or documents held out"
    assert split_held_out(records, 0.2, seed=1)[1] == held  # seeded
    page = LineRecord("l1", None, "12", source=tmp_path / "page.xml")
    assert group_of(page) == str(tmp_path / "page.xml")  # a page's lines stay together
    single = [LineRecord(f"x{i}", tmp_path / "scan.png", "1") for i in range(30)]
    kept, held, how = split_held_out(single, 0.2)
    assert len(held) == 6 and "one page or document only" in how


def test_too_few_lines_are_refused(tmp_path, model_dir, capsys):
    root = _documents(tmp_path / "gt", 3, 4, "0123", seed=0)
    code = main(
        ["adapt", str(root), "--out", str(tmp_path / "run"), "--from-model", str(model_dir)]
    )
    assert code == 2
    assert "only 12 line(s)" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """A tiny model that reads digits drawn in OpenCV's plain font."""
    root = tmp_path_factory.mktemp("base")
    tr = write_line_dir(root / "train", digit_texts(240, seed=0), scale=0.8)
    va = write_line_dir(root / "val", digit_texts(30, seed=1), scale=0.8)
    train([tr], [va], root / "model", Config.from_dict(TINY), epochs=12, progress=False)
    return root / "model"


@pytest.mark.slow
def test_adapting_to_another_hand_reports_before_and_after(base, tmp_path, capsys):
    # another "hand": a serif font, and a character the base model has never seen
    mine = _documents(tmp_path / "mine", 8, 6, "0123456789a", seed=5, font=cv2.FONT_HERSHEY_TRIPLEX)
    out = tmp_path / "adapted"
    argv = ["adapt", str(mine), "--out", str(out), "--from-model", str(base)]
    assert main([*argv, "--max-minutes", "1", "--learning-rate", "0.003", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["adaptation_lines"] + report["held_out_lines"] == 48
    assert report["held_out"] == "2 of 8 pages or documents held out"
    assert report["settings"]["freeze"] == "frontend"
    assert report["after"]["cer"] < report["before"]["cer"] - 10, report
    assert not report["kept_base_model"]
    adapted = artifacts.load(out)
    assert "a" in adapted.charset.to_list()  # extended with the new character
    assert adapted.meta["adaptation"]["before"] == report["before"]
    assert adapted.meta["metrics"]["held_out_cer"] == report["after"]["cer"]
    card = (out / "README.md").read_text()
    assert f"| base model | {report['before']['cer']:.2f} |" in card


@pytest.mark.slow
def test_the_base_model_is_kept_when_adaptation_does_not_help(base, tmp_path):
    from handwriting.adapt import adapt

    # the base model's own hand: nothing to gain, and a learning rate too small to move it
    mine = _documents(tmp_path / "mine", 6, 5, "0123456789", seed=7, scale=0.8)
    report = adapt(
        [mine],
        tmp_path / "same",
        from_model=base,
        max_minutes=1,
        learning_rate=1e-7,
        progress=False,
    )
    assert report["kept_base_model"] and report["after"] == report["before"]
    kept = artifacts.load(tmp_path / "same")
    for u, v in zip(kept.model.get_weights(), artifacts.load(base).model.get_weights()):
        np.testing.assert_array_equal(u, v)
    assert "holds the base model unchanged" in (tmp_path / "same" / "README.md").read_text()
