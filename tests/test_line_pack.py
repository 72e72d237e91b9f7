"""Line packs: ground truth packed into one file reads back as the same lines, and trains."""

import json
import zipfile

import cv2
import numpy as np
import pytest

from handwriting.cli import main
from handwriting.config import PreprocessConfig
from handwriting.errors import DataError
from handwriting.groundtruth import prepare_line, scan_line_dirs
from handwriting.line_pack import read_pack, write_pack

from conftest import TINY, digit_texts, write_line_dir


@pytest.fixture(scope="module")
def lines(tmp_path_factory):
    root = tmp_path_factory.mktemp("pack")
    tr = write_line_dir(root / "train", digit_texts(40, seed=0), scale=2.0)
    va = write_line_dir(root / "val", digit_texts(6, seed=1), prefix="v", scale=2.0)
    (tr / "broken.png").write_bytes(b"not a png")
    (tr / "broken.gt.txt").write_text("123", encoding="utf-8")
    return tr, va


def test_a_pack_reads_back_the_lines_it_was_given(lines, tmp_path):
    tr, va = lines
    out = tmp_path / "lines.npz"
    counts, problems = write_pack({"train": [tr], "val": [va]}, out, progress=False)
    assert counts == {"train": 40, "val": 6}
    assert [p.path.name for p in problems] == ["broken.png"]
    with np.load(out, allow_pickle=False) as z:  # plain arrays only: loading runs no code
        assert sorted(z.files) == [
            "meta",
            "train_bytes",
            "train_offsets",
            "val_bytes",
            "val_offsets",
        ]
    config = PreprocessConfig(height=40)
    train, val = read_pack(out, config, progress=False)
    records = {r.id: r for r in scan_line_dirs([tr, va])[0]}
    assert len(train) == 40 and len(val) == 6
    for s in train + val:
        r = records[s.id]
        assert s.text == r.text
        direct, err = prepare_line(r, config)
        assert not err and s.line.shape[0] == 40
        # downscaled to 48 px and WebP-encoded, the line preprocesses to nearly the same
        # pixels: correlation 0.94 or more here, where two different lines reach at most 0.9
        assert abs(s.line.shape[1] - direct.shape[1]) <= 0.05 * direct.shape[1]
        assert _correlation(s.line, direct) > 0.92, s.id
    few, _ = read_pack(out, config, max_lines=5, progress=False)
    assert [s.id for s in few] == [train[i].id for i in np.linspace(0, 39, 5).astype(int)]


def _correlation(a, b):
    b = cv2.resize(b, (a.shape[1], a.shape[0]), interpolation=cv2.INTER_AREA)
    return np.corrcoef(a.ravel().astype(float), b.ravel().astype(float))[0, 1]


def test_a_file_that_is_not_a_pack_is_named(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"PK\x03\x04 not a zip")
    with pytest.raises(DataError, match="bad.npz: not a line pack"):
        read_pack(bad, PreprocessConfig())
    with pytest.raises(DataError, match="line pack not found"):
        read_pack(tmp_path / "missing.npz", PreprocessConfig())
    other = tmp_path / "other.npz"
    np.savez(other, meta=np.frombuffer(json.dumps({"version": 99}).encode(), np.uint8))
    with pytest.raises(DataError, match="unknown line pack version"):
        read_pack(other, PreprocessConfig())
    assert zipfile.is_zipfile(other)


def test_pack_then_train_from_the_pack(lines, tmp_path, capsys):
    tr, va = lines
    pack, run, cfg = tmp_path / "lines.npz", tmp_path / "run", tmp_path / "tiny.json"
    cfg.write_text(json.dumps(TINY))
    assert main(["pack", "--train", str(tr), "--val", str(va), "--out", str(pack)]) == 0
    printed = capsys.readouterr().out
    assert "40 train and 6 val lines" in printed and "broken.png" in printed
    argv = ["train", "--packed", str(pack), "--out", str(run), "--config", str(cfg)]
    assert main([*argv, "--epochs", "1"]) == 0
    assert main([*argv, "--epochs", "2", "--resume"]) == 0
    hist = json.loads((run / "history.json").read_text())
    assert [h["epoch"] for h in hist] == [1, 2]
    assert all(h["val_lines"] == 6 for h in hist)  # the pack's val lines are scored


def test_train_needs_exactly_one_source_of_lines(lines, tmp_path, capsys):
    tr, va = lines
    assert main(["train", "--out", str(tmp_path / "r")]) == 2
    assert "--train DIR... or --packed FILE" in capsys.readouterr().err
    argv = ["train", "--packed", str(tmp_path / "p.npz"), "--val", str(va)]
    assert main([*argv, "--out", str(tmp_path / "r")]) == 2
    assert "leave out --val" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()
