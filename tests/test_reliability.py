"""Hostile and unlucky inputs: each is refused in one line, or read, in bounded time and memory,
and the rest of a batch goes on."""

import json
import os
import subprocess
import sys
import threading

import cv2
import numpy as np
import pytest

from handwriting import artifacts
from handwriting.cli import main
from handwriting.config import PreprocessConfig
from handwriting.data import prepare_lines
from handwriting.errors import ImageError
from handwriting.groundtruth import scan_line_dirs
from handwriting.preprocessing import load_image, preprocess

from conftest import render_line, write_line_dir

DEFAULT_TFLITE = artifacts.DEFAULT_MODEL_DIR / artifacts.DEFAULT_TFLITE


def run_cli(args, cwd, timeout=120):
    """The CLI in a fresh process that must end within ``timeout`` seconds."""
    return subprocess.run(
        [sys.executable, "-m", "handwriting.cli", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes on this system")
def test_pipes_and_devices_are_refused_not_read(model_dir, tmp_path):
    good = tmp_path / "good.png"
    cv2.imwrite(str(good), render_line("12"))
    os.mkfifo(tmp_path / "pipe.png")
    (tmp_path / "zero.png").symlink_to("/dev/zero")
    done = run_cli(
        ["recognize", good, tmp_path / "pipe.png", tmp_path / "zero.png", "--model", model_dir],
        tmp_path,
    )
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "pipe.png: is a named pipe, not a regular file" in done.stderr
    assert "zero.png: is a device, not a regular file" in done.stderr
    assert "2 of 3 inputs failed" in done.stderr and done.stdout.startswith(f"{good}\t")
    # inside ground truth: listed as problems, the other lines still read
    gt = write_line_dir(tmp_path / "gt", ["12", "34"])
    os.mkfifo(gt / "l9000.png")
    (gt / "l9000.gt.txt").write_text("56")
    os.mkfifo(gt / "l9001.gt.txt")
    cv2.imwrite(str(gt / "l9001.png"), render_line("78"))
    (gt / "l9002.png").symlink_to("/dev/zero")
    (gt / "l9002.gt.txt").write_text("90")
    os.mkfifo(gt / "page.xml")
    done = run_cli(["data", gt, "--json"], tmp_path)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    report = json.loads(done.stdout)
    assert report["lines"] == 2
    problems = "\n".join(report["problems"])
    for name in ("l9000.png", "l9001.gt.txt", "l9002.png", "page.xml"):
        assert name in problems, (name, problems)


def test_formats_whose_size_cannot_be_read_first_are_refused(tmp_path):
    hdr = tmp_path / "scan.hdr"  # Radiance HDR: OpenCV decodes it, Pillow cannot size it
    assert cv2.imwrite(str(hdr), np.ones((20, 30, 3), np.float32))
    with pytest.raises(ImageError, match="size cannot be read before decoding.*PNG"):
        load_image(hdr)


@pytest.mark.parametrize("shape", [(1, 20000), (10000, 1), (3, 4000)])
def test_degenerate_shapes_are_refused_quickly(shape, tmp_path):
    image = np.full(shape, 255, np.uint8)
    image[shape[0] // 2, :] = 0
    image[:, shape[1] // 2] = 0
    with pytest.raises(ImageError, match="too thin to hold a line"):
        preprocess(image, PreprocessConfig())


def test_a_hair_line_too_long_for_its_height_is_refused():
    image = np.full((40, 14000), 255, np.uint8)  # 350:1 is allowed, a 2 px stroke is not a line
    image[19:21, 50:13950] = 0
    with pytest.raises(ImageError, match="too long for its height to be one line"):
        preprocess(image, PreprocessConfig())


def test_training_cache_holds_no_code_and_is_rebuilt_when_damaged(tmp_path, caplog):
    gt = write_line_dir(tmp_path / "gt", ["12", "345", "6"])
    records, _ = scan_line_dirs([gt])
    cfg = PreprocessConfig(height=24)
    first, _ = prepare_lines(records, cfg, cache_dir=tmp_path / "cache", progress=False)
    (cache,) = (tmp_path / "cache").iterdir()
    assert cache.suffix == ".npz"
    again, _ = prepare_lines(records, cfg, cache_dir=tmp_path / "cache", progress=False)
    assert [s.text for s in again] == [s.text for s in first]
    assert all(np.array_equal(a.line, b.line) for a, b in zip(first, again))
    planted = tmp_path / "planted"
    for body in (b"garbage", None):
        if body is None:  # an array of Python objects: loading it would unpickle
            np.savez(cache, pixels=np.array([planted], dtype=object), widths=np.array([1]))
        else:
            cache.write_bytes(body)
        rebuilt, _ = prepare_lines(records, cfg, cache_dir=tmp_path / "cache", progress=False)
        assert [s.text for s in rebuilt] == [s.text for s in first]
        assert "unreadable cache" in caplog.text
        caplog.clear()
    assert not planted.exists()


@pytest.mark.skipif(not DEFAULT_TFLITE.is_file(), reason="no default.tflite in the package")
def test_one_litert_recognizer_serves_eight_threads():
    from handwriting.recognize import Recognizer

    rec = Recognizer()
    lines = [render_line(t, height=60) for t in ("fox dog", "Merci", "le 3 mai", "Tuesday")]
    expected = [r.prediction.text for r in rec.recognize(lines)]
    got, errors = {}, []

    def work(k):
        try:
            got[k] = [r.prediction.text for r in rec.recognize(lines)]
        except Exception as exc:  # noqa: BLE001 - collected and asserted on below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors and len(got) == 8
    assert all(texts == expected for texts in got.values())


@pytest.mark.parametrize(
    "spec, message",
    [
        ({"train": {"seed": 2**33}}, "train.seed must be 0..4294967295"),
        ({"train": {"learning_rate": float("inf")}}, "learning_rate must be a number"),
        ({"model": {"lstm_layers": 100000}}, "lstm_layers must be 1..12"),
        ({"model": {"lstm_units": 10**7}}, "lstm_units must be 1..4096"),
        ({"train": {"bucket_width": 10**9}}, "bucket_width must be 1..4096"),
    ],
)
def test_hostile_configs_are_one_clear_error(spec, message, tmp_path, capsys):
    from handwriting.config import Config
    from handwriting.errors import HandwritingError

    with pytest.raises(HandwritingError, match=message):
        Config.from_dict(spec)
    path = tmp_path / "c.json"
    path.write_text(json.dumps(spec))
    assert main(["train", "--train", str(tmp_path), "--out", str(tmp_path / "r"),
                 "--config", str(path)]) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert message.split()[0] in err and len(err.splitlines()) == 1


def test_deeply_nested_json_is_one_clear_error(tmp_path):
    from handwriting.config import Config
    from handwriting.errors import HandwritingError

    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(HandwritingError, match="deep.json"):
        Config.from_file(path)


def test_language_model_bombs_and_bad_fields_are_refused(tmp_path, monkeypatch):
    import gzip

    from handwriting import lm
    from handwriting.errors import ArtifactError

    good = {"kind": "handwriting character LM", "format_version": lm.FORMAT_VERSION,
            "order": 3, "counts": {}, "weight": 0.3}  # fmt: skip
    path = tmp_path / "x.lm.json.gz"
    path.write_bytes(gzip.compress(json.dumps({**good, "weight": "0.3"}).encode()))
    with pytest.raises(ArtifactError, match="weight '0.3' is not a number"):
        lm.CharLM.load(path)
    path.write_bytes(gzip.compress(json.dumps({**good, "pad": " " * 5000}).encode()))
    monkeypatch.setattr(lm, "MAX_LM_BYTES", 4000)  # a small bomb against a small bound
    with pytest.raises(ArtifactError, match="expands to over"):
        lm.CharLM.load(path)


def test_a_bad_image_does_not_stop_evaluate_or_training(model_dir, tmp_path, monkeypatch, capsys):
    import handwriting.groundtruth as groundtruth

    gt = write_line_dir(tmp_path / "gt", ["12", "345", "6"])
    real = groundtruth.load_image

    def cv_failure(path):
        if str(path).endswith("l0001.png"):
            raise cv2.error("OpenCV(5.0) error: (-215:Assertion failed) in function 'imdecode'")
        return real(path)

    monkeypatch.setattr(groundtruth, "load_image", cv_failure)
    assert main(["evaluate", str(gt), "--model", str(model_dir), "--json"]) == 1
    captured = capsys.readouterr()
    assert json.loads(captured.out)["overall"]["lines"] == 2
    assert "l0001.png: could not be read" in captured.err and "Traceback" not in captured.err
    records, _ = scan_line_dirs([gt])
    samples, problems = prepare_lines(records, PreprocessConfig(height=24), progress=False)
    assert len(samples) == 2 and "l0001.png" in str(problems[0].path)


@pytest.mark.slow
def test_a_diverged_epoch_saves_nothing(tmp_path, monkeypatch):
    import handwriting.train as training
    from handwriting.config import Config
    from handwriting.errors import HandwritingError

    from conftest import TINY

    gt = write_line_dir(tmp_path / "gt", ["12", "34", "56"], scale=0.8)
    original = training._EpochEnd.on_epoch_end

    def nan_loss(self, epoch, logs=None):
        return original(self, epoch, {**(logs or {}), "loss": float("nan")})

    monkeypatch.setattr(training._EpochEnd, "on_epoch_end", nan_loss)
    with pytest.raises(HandwritingError, match="epoch 1: the training loss is nan"):
        training.train([gt], [], tmp_path / "run", Config.from_dict(TINY), epochs=1,
                       progress=False)  # fmt: skip
    assert not (tmp_path / "run" / "handwriting.json").exists()
    assert not (tmp_path / "run" / "checkpoint" / "state.json").exists()
