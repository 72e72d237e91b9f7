"""Hostile and unlucky inputs: each is refused in one line, or read, in bounded time and memory,
and the rest of a batch goes on."""

import json
import os
import subprocess
import sys
import threading
import time

import cv2
import numpy as np
import pytest

from handwriting import artifacts
from handwriting.cli import main
from handwriting.config import PreprocessConfig
from handwriting.data import prepare_lines
from handwriting.errors import ImageError
from handwriting.groundtruth import scan_line_dirs
from handwriting.images import load_image
from handwriting.preprocessing import preprocess

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


def test_labels_control_characters_and_utf16(tmp_path):
    gt = tmp_path / "gt"
    gt.mkdir()
    for stem, raw in (
        ("nul", b"ab\x00cd"),
        ("esc", b"ab\x1b[31mcd"),
        ("le", "Grüße".encode("utf-16-le")),  # no BOM, as some editors save
        ("bom", "été".encode("utf-16")),
    ):
        cv2.imwrite(str(gt / f"{stem}.png"), render_line("12"))
        (gt / f"{stem}.gt.txt").write_bytes(raw)
    records, problems = scan_line_dirs([gt])
    assert {r.id: r.text for r in records} == {"le": "Grüße", "bom": "été"}
    said = {p.path.name: p.message for p in problems}
    assert "U+0000" in said["nul.gt.txt"] and "U+001B" in said["esc.gt.txt"]


def test_xml_writers_never_fail_on_a_charset_character(tmp_path):
    from handwriting.document import Page, TextLine, Word
    from handwriting.formats import FORMATS, read_layout, serialize

    box = np.array([[0, 0], [99, 0], [99, 29], [0, 29]], np.int32)
    line = TextLine("l1", box, None, "a\x1bb c", 0.9, [Word("a\x1bb", (0, 0, 40, 30), 0.9),
                                                      Word("c", (50, 0, 90, 30), 0.8)])  # fmt: skip
    page = Page(tmp_path / "p\x01.png", 100, 30, [line])
    for fmt in FORMATS:
        data = serialize(page, fmt)
        assert b"\x1b" not in data or fmt == "json"
    (tmp_path / "p.xml").write_bytes(serialize(page, "page"))
    assert read_layout(tmp_path / "p.xml").lines[0].text == "ab c"


def test_a_nan_pixel_does_not_blank_a_float_image():
    from handwriting.images import to_gray

    image = np.ones((20, 40), np.float32)
    image[5:15, 10:30] = 0.1
    image[0, 0] = np.nan
    gray = to_gray(image)
    assert gray[10, 20] < 40 and gray[2, 2] == 255 and gray[0, 0] == 255


def test_layout_scaling_stays_inside_the_image():
    from handwriting.document import Page, TextLine
    from handwriting.pages import _fit_layout

    far = np.array([[0, 0], [9_000_000, 0], [9_000_000, 9_000_000], [0, 9_000_000]], np.int32)
    page = Page(None, 1, 1, [TextLine("l1", far, far[:2])])
    (line,) = _fit_layout(page, 1000, 500, "layout")
    assert line.polygon.max(0).tolist() == [1000, 500] and line.polygon.min() >= -1


def test_dtd_entities_are_refused_not_cut(tmp_path):
    from handwriting.errors import DataError
    from handwriting.formats import read_layout

    ns = "http://schema.primaresearch.org/PAGE/gts/pagecontent/2019-07-15"
    path = tmp_path / "p.xml"
    path.write_text(
        '<?xml version="1.0"?>\n<!DOCTYPE PcGts [<!ENTITY eacute "&#233;">]>\n'
        f'<PcGts xmlns="{ns}"><Page imageFilename="p.png" imageWidth="10" imageHeight="10">'
        '<TextRegion id="r"><TextLine id="l1"><Coords points="0,0 9,0 9,9 0,9"/>'
        "<TextEquiv><Unicode>caf&eacute; au lait</Unicode></TextEquiv></TextLine></TextRegion>"
        "</Page></PcGts>"
    )
    with pytest.raises(DataError, match="declares DTD entities"):
        read_layout(path)


def test_names_with_control_characters_are_escaped_in_errors(model_dir, tmp_path, capsys):
    name = tmp_path / "a\x1b[31mb\nc.png"
    assert main(["recognize", str(name), "--model", str(model_dir)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert (
        err[0].endswith("a\\x1b[31mb\\nc.png: file not found") and err[1] == "1 of 1 inputs failed"
    )
    assert len(err) == 2 and not any("\x1b" in line for line in err)


def test_a_state_of_the_wrong_types_is_damaged(tmp_path):
    from handwriting.errors import HandwritingError
    from handwriting.run_folder import RunFolder

    folder = RunFolder(tmp_path / "run")
    folder.checkpoint_dir.mkdir(parents=True)
    state = {"epoch": "four", "charset": ["a"], "weights": "w.h5", "optimizer": "o.npz"}
    folder.state_file.write_text(json.dumps(state))
    with pytest.raises(HandwritingError, match="state.json: damaged .*epoch 'four'"):
        folder.read_checkpoint()


def test_sigterm_while_writing_leaves_no_temporary_file(model_dir, tmp_path, monkeypatch, capsys):
    import signal

    import handwriting.fileio as fileio

    image = tmp_path / "line.png"
    cv2.imwrite(str(image), render_line("12"))
    out = tmp_path / "out"

    def terminated(fd):
        os.kill(os.getpid(), signal.SIGTERM)  # as `kill` would, in the middle of the write

    monkeypatch.setattr(fileio.os, "fsync", terminated)
    code = main(["recognize", str(image), "--model", str(model_dir), "--out", str(out)])
    assert code == 128 + signal.SIGTERM and "terminated" in capsys.readouterr().err
    assert list(out.iterdir()) == []  # neither the result nor a hidden .tmp
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # put back as it was


def test_undecodable_file_names_with_a_strict_ascii_terminal(model_dir, tmp_path):
    good = tmp_path / "été.png"
    cv2.imwrite(str(good), render_line("12"))
    odd = os.fsencode(str(tmp_path)) + b"/\xff\xfe.png"  # not UTF-8: a surrogate in Python
    with open(odd, "wb") as f:
        f.write(good.read_bytes())
    env = {**os.environ, "PYTHONIOENCODING": "ascii:strict"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "handwriting.cli",
            "recognize",
            str(good),
            os.fsdecode(odd),
            "--model",
            str(model_dir),
            "--format",
            "json",
        ],  # fmt: skip
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        cwd=tmp_path,  # fmt: skip
    )
    assert "Traceback" not in done.stderr, done.stderr
    items = json.loads(done.stdout)  # every input in the output, the names escaped
    assert len(items) == 2 and all("lines" in i or "error" in i for i in items)


def test_stderr_survives_threads_that_silence_native_logs():
    """Interpreters allocated in parallel threads silence descriptor 2 at the same time; it
    must be the terminal again when they are done (errors printed later must be seen)."""
    from handwriting.runtime import native_stderr_closed

    before = os.fstat(2)
    barrier = threading.Barrier(4)

    def work():
        with native_stderr_closed():
            barrier.wait(timeout=10)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    after = os.fstat(2)
    assert (after.st_dev, after.st_ino) == (before.st_dev, before.st_ino)


RESUME_RUN = """
import json, sys
from pathlib import Path
from handwriting.config import Config
from handwriting.train import train

gt, tmp, spec = Path(sys.argv[1]), Path(sys.argv[2]), json.loads(sys.argv[3])
config = Config.from_dict(spec)
train([gt], [], tmp / "whole", config, epochs=3, progress=False)
train([gt], [], tmp / "parts", config, epochs=1, progress=False)
train([gt], [], tmp / "parts", epochs=3, resume=True, progress=False)
"""


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_a_resumed_run_with_dropout_is_the_uninterrupted_run(tmp_path, backend):
    import importlib.util

    from conftest import TINY, digit_texts

    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} is not installed")
    gt = write_line_dir(tmp_path / "gt", digit_texts(48, seed=3), scale=0.8)
    spec = json.loads(json.dumps(TINY))
    spec["model"]["dropout"] = 0.25
    spec["train"]["augment"] = True
    proc = subprocess.run(
        [sys.executable, "-c", RESUME_RUN, str(gt), str(tmp_path), json.dumps(spec)],
        env={**os.environ, "KERAS_BACKEND": backend},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    losses = [
        [h["loss"] for h in json.loads((run / "history.json").read_text())]
        for run in (whole, parts)
    ]
    assert losses[1] == pytest.approx(losses[0], rel=1e-5)
    a, b = artifacts.load(whole).model, artifacts.load(parts).model
    for u, v in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(u, v, rtol=1e-4, atol=1e-6)


def _fill_disk_before_epoch_end(monkeypatch, at_epoch, fill):
    """Call ``fill()`` just before the end of epoch index ``at_epoch`` is saved."""
    from handwriting import train as training

    end = training.TrainingRun.end_epoch

    def end_epoch(self, epoch, logs, seconds):
        if epoch == at_epoch:
            fill()
        return end(self, epoch, logs, seconds)

    monkeypatch.setattr(training.TrainingRun, "end_epoch", end_epoch)


@pytest.mark.slow
def test_a_full_disk_while_saving_the_best_model_is_one_line_and_resumable(
    tmp_path, monkeypatch, capsys
):
    import shutil
    from collections import namedtuple

    from handwriting import fileio

    from conftest import TINY, digit_texts

    gt = write_line_dir(tmp_path / "gt", digit_texts(24, seed=4), scale=0.8)
    cfg, out = tmp_path / "tiny.json", tmp_path / "runs" / "run"
    cfg.write_text(json.dumps(TINY))
    real = shutil.disk_usage
    full = {"now": False}
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(
        fileio.shutil,
        "disk_usage",
        lambda p: usage(1 << 30, 1 << 30, 0) if full["now"] else real(p),
    )
    _fill_disk_before_epoch_end(monkeypatch, 1, lambda: full.update(now=True))
    argv = ["train", "--train", str(gt), "--out", str(out), "--config", str(cfg)]
    assert main([*argv, "--epochs", "3"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error: ") and "not enough free space to save the model" in err
    assert "--resume (it continues after epoch 1)" in err
    assert artifacts.load(out).meta["training"]["best_epoch"] == 1  # the best so far, whole
    assert sorted(p.name for p in out.parent.iterdir()) == ["run"]  # no half-written model
    full["now"] = False
    monkeypatch.undo()
    assert main([*argv, "--epochs", "3", "--resume"]) == 0
    hist = json.loads((out / "history.json").read_text())
    assert [h["epoch"] for h in hist] == [1, 2, 3]


FULL_DISK_RUN = """
import sys
from pathlib import Path
import handwriting.train as training
from handwriting.cli import main

gt, out, cfg, leave = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], int(sys.argv[4])
end = training.TrainingRun.end_epoch

def end_epoch(self, epoch, logs, seconds):
    if epoch == 1:  # the disk fills up while epoch 2 trains, all but `leave` bytes
        with open(out.parent / "filler", "wb") as f:
            try:
                while True:
                    f.write(bytes(65536))
                    f.flush()
            except OSError:
                pass
            f.truncate(max(0, f.tell() - leave))
    return end(self, epoch, logs, seconds)

training.TrainingRun.end_epoch = end_epoch
sys.exit(main(["train", "--train", str(gt), "--out", str(out), "--config", cfg, "--epochs", "3"]))
"""


@pytest.mark.slow
@pytest.mark.parametrize("leave", [0, 120_000])
def test_a_real_full_disk_while_training_is_one_line_and_resumable(tmp_path, leave):
    from conftest import TINY, digit_texts

    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(disk)], capture_output=True
    )
    if os.geteuid() != 0 or mounted.returncode != 0:
        pytest.skip("needs root and permission to mount a 4 MiB tmpfs (a disk that fills up)")
    try:
        gt = write_line_dir(tmp_path / "gt", digit_texts(24, seed=4), scale=0.8)
        cfg, out = tmp_path / "tiny.json", disk / "run"
        cfg.write_text(json.dumps(TINY))
        proc = subprocess.run(
            [sys.executable, "-c", FULL_DISK_RUN, str(gt), str(out), str(cfg), str(leave)],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert proc.returncode == 2, proc.stderr[-1500:]  # not a crash (-11: segfault)
        err = proc.stderr.strip().splitlines()[-1]
        assert err.startswith("error: ") and "free some space, then --resume" in err, err
        assert artifacts.load(out).meta["training"]["best_epoch"] == 1
        assert sorted(p.name for p in disk.iterdir()) == ["filler", "run"]
        (disk / "filler").unlink()
        assert (
            main(["train", "--train", str(gt), "--out", str(out), "--epochs", "3", "--resume"]) == 0
        )
        assert [h["epoch"] for h in json.loads((out / "history.json").read_text())] == [1, 2, 3]
    finally:
        subprocess.run(["umount", str(disk)], capture_output=True)


def test_damaged_images_print_our_one_line_and_nothing_from_the_native_libraries(tmp_path):
    line = render_line("native")
    inputs = []
    for ext in ("png", "jpg", "tif", "webp", "bmp"):
        data = cv2.imencode("." + ext, line)[1].tobytes()
        (tmp_path / f"cut.{ext}").write_bytes(data[: len(data) // 2])
        scrambled = bytearray(data)
        scrambled[40::97] = bytes(b ^ 0x5A for b in scrambled[40::97])
        (tmp_path / f"scrambled.{ext}").write_bytes(bytes(scrambled))
        inputs += [tmp_path / f"cut.{ext}", tmp_path / f"scrambled.{ext}"]
    good = tmp_path / "good.png"
    cv2.imwrite(str(good), line)
    proc = subprocess.run(
        [sys.executable, "-m", "handwriting.cli", "recognize", *map(str, inputs), str(good)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = proc.stderr.splitlines()
    # libpng's "PNG input buffer is incomplete", OpenCV's "[ERROR:0@...]" log lines and
    # Pillow's TIFF warnings used to appear among these
    assert lines[-1].endswith(f"of {len(inputs) + 1} inputs failed"), proc.stderr
    assert all(l.startswith("error: ") for l in lines[:-1]), proc.stderr
    failed = int(lines[-1].split()[0])
    assert len(lines) - 1 == failed >= len(inputs) // 2
    assert proc.stdout.splitlines()[-1].split("\t")[0].endswith("good.png")


def test_temporary_files_of_a_killed_run_are_removed_later(tmp_path, model_dir):
    out = tmp_path / "out"
    out.mkdir()
    old = [out / ".line1.txt.0123abcd.tmp", out / ".page.xml.deadbeef.tmp"]
    young = out / ".line2.txt.89abcdef.tmp"  # maybe another process's write in progress
    theirs = [out / ".notes.tmp", out / "draft.0123abcd.tmp"]  # not named as ours
    model = tmp_path / ".run.k2j4h_9x"  # a model directory half written into tmp_path
    model.mkdir()
    (model / "model.weights.h5").write_bytes(b"partial")
    for f in [*old, young, *theirs]:
        f.write_bytes(b"partial")
    hour_ago = time.time() - 3700
    for f in [*old, *theirs, model / "model.weights.h5", model]:
        os.utime(f, (hour_ago, hour_ago))
    line = tmp_path / "line1.png"
    cv2.imwrite(str(line), render_line("stale"))
    assert main(["recognize", str(line), "--model", str(model_dir), "--out", str(out)]) == 0
    left = sorted(p.name for p in out.iterdir())
    assert left == sorted([young.name, *(f.name for f in theirs), "line1.txt"])
    from handwriting.fileio import remove_stale_temps

    assert remove_stale_temps(tmp_path) == 1 and not model.exists()
