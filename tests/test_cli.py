import json
import os
import subprocess
import sys

import cv2
import pytest

from handwriting.cli import main

from conftest import render_line, write_line_dir, write_page


@pytest.fixture
def inputs(tmp_path):
    good = tmp_path / "good.jpg"
    cv2.imwrite(str(good), render_line("123"))
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "broken.jpg").write_bytes(good.read_bytes()[:60])
    return [str(tmp_path / n) for n in ("good.jpg", "missing.jpg", "notes.txt", "broken.jpg")]


def test_recognize_keeps_going_past_bad_inputs(model_dir, inputs, capsys):
    code = main(["recognize", *inputs, "--model", str(model_dir)])
    out, err = capsys.readouterr()
    assert code == 1
    assert [l.split("\t")[0] for l in out.splitlines()] == inputs  # one line each, in order
    assert [l.split("\t")[1] == "" for l in out.splitlines()] == [False, True, True, True]
    for name in ("missing.jpg", "notes.txt", "broken.jpg"):
        assert sum(name in line for line in err.splitlines()) == 1
    assert "good.jpg" not in err and "Traceback" not in err
    assert "3 of 4 inputs failed" in err


def test_recognize_json(model_dir, inputs, capsys):
    code = main(
        [
            "recognize",
            inputs[0],
            inputs[1],
            "--model",
            str(model_dir),
            "--format",
            "json",
            "--beam",
            "3",
        ]
    )
    data = json.loads(capsys.readouterr().out)
    assert code == 1
    # one schema for lines and pages: a line image is a one-line page
    assert set(data[0]) == {
        "version",
        "source",
        "kind",
        "text",
        "image",
        "width",
        "height",
        "lines",
    }
    assert data[0]["version"] == 1 and data[0]["kind"] == "line"
    (line,) = data[0]["lines"]
    assert set(line) == {"id", "polygon", "baseline", "text", "confidence", "words", "chars"}
    assert line["text"] == data[0]["text"] and 0 <= line["confidence"] <= 1
    assert len(line["chars"]) == len(line["text"])
    assert [w["text"] for w in line["words"]] == line["text"].split()
    h, w = cv2.imread(str(inputs[0]), cv2.IMREAD_GRAYSCALE).shape
    assert (data[0]["width"], data[0]["height"]) == (w, h)
    assert all(
        0 <= b["box"][0] < b["box"][2] <= w and 0 <= b["box"][1] < b["box"][3] <= h
        for b in line["words"]
    )
    assert set(data[1]) == {"version", "source", "error"} and "not found" in data[1]["error"]


def test_evaluate_json_shape(model_dir, tmp_path, capsys):
    a = write_line_dir(tmp_path / "a", ["12", "345"])
    b = write_line_dir(tmp_path / "b", ["6789"])
    assert main(["evaluate", str(a), str(b), "--model", str(model_dir), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["overall"]["lines"] == 3 and set(data["overall"]) == {"lines", "cer", "wer"}
    assert [s["path"] for s in data["sets"]] == [str(a), str(b)]
    assert [s["lines"] for s in data["sets"]] == [2, 1]
    assert all(0 <= s["cer"] <= 100 * 10 for s in data["sets"])
    assert "confusions" not in data
    assert data["decoding"] == {
        "model": str(model_dir),
        "backend": "keras",
        "beam": 0,
        "lm": None,
    }  # greedy
    assert (
        main(["evaluate", str(a), str(b), "--model", str(model_dir), "--json", "--report", "1000"])
        == 0
    )
    data = json.loads(capsys.readouterr().out)
    edits = sum(c["count"] for c in data["confusions"])  # every error, listed once
    assert edits == round(data["overall"]["cer"] * 9 / 100)  # 9 characters in the truth
    worst = data["worst"]
    assert len(worst) == 3 and [w["cer"] for w in worst] == sorted(
        (w["cer"] for w in worst), reverse=True
    )
    assert sorted(w["truth"] for w in worst) == ["12", "345", "6789"]
    assert main(["evaluate", str(a), "--model", str(model_dir), "--report", "2"]) == 0
    out = capsys.readouterr().out
    assert "most frequent errors" in out and "worst lines" in out and "truth: " in out
    assert "\ndecoding: greedy\n" in out


def test_data_report(tmp_path, capsys):
    d = write_line_dir(tmp_path / "gt", ["ab", "abc"])
    (d / "orphan.png").write_bytes((d / "l0000.png").read_bytes())
    assert main(["data", str(d)]) == 1  # the orphan is a problem: listed, exit code 1
    out = capsys.readouterr().out
    assert "lines: 2" in out and "characters: 5" in out and "charset: 3" in out
    assert "a U+0061 2" in out and "orphan.png" in out
    (d / "orphan.png").unlink()
    assert main(["data", str(d)]) == 0
    capsys.readouterr()
    (d / "bad.png").write_bytes(b"")  # an unreadable line is a problem, not a line
    (d / "bad.gt.txt").write_text("zz")
    assert main(["data", str(d), "--json"]) == 1
    rep = json.loads(capsys.readouterr().out)
    assert rep["lines"] == 2 and "z" not in rep["charset"]
    assert f"{d / 'bad.png'}: empty file" in rep["problems"]
    (tmp_path / "empty").mkdir()
    assert main(["data", str(tmp_path / "empty")]) == 1
    assert capsys.readouterr().err.splitlines()[-1].startswith("error: no labelled lines found in")


def test_data_checks_the_page_image_of_a_layout_once(tmp_path, capsys):
    import numpy as np

    from handwriting.document import Page, TextLine

    from conftest import write_page_xml

    lines = [
        TextLine(
            f"l{k}",
            np.array(
                [[10, 10 + 50 * k], [390, 10 + 50 * k], [390, 50 + 50 * k], [10, 50 + 50 * k]],
                np.int32,
            ),
            None,
            "12",
        )
        for k in range(3)
    ]
    write_page_xml(Page(tmp_path / "scan.png", 400, 160, lines), tmp_path / "scan.xml")
    (tmp_path / "scan.png").write_bytes(b"")
    assert main(["data", str(tmp_path), "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["problems"] == [  # (the XML names the image)
        f"{tmp_path / 'scan.xml'}: {tmp_path / 'scan.png'}: empty file"
    ]


def test_missing_model_is_one_line_without_traceback(tmp_path, inputs, capsys):
    code = main(["recognize", inputs[0], "--model", str(tmp_path / "nope")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "model not found" in err


def test_console_script_exit_code_and_debug(tmp_path):
    cmd = [
        sys.executable,
        "-m",
        "handwriting.cli",
        "evaluate",
        str(tmp_path),
        "--model",
        str(tmp_path / "x"),
    ]
    p = subprocess.run(cmd, capture_output=True, text=True)
    assert p.returncode == 2 and "Traceback" not in p.stderr and "model not found" in p.stderr
    # one line: no INFO lines from TensorFlow's native libraries either
    assert p.stderr.count("\n") == 1, p.stderr
    p = subprocess.run(cmd[:3] + ["--debug"] + cmd[3:], capture_output=True, text=True)
    assert p.returncode != 0 and "Traceback" in p.stderr


def _page(tmp_path, texts):
    return write_page(tmp_path / "page.png", texts)


def test_recognize_page_alto_round_trip(model_dir, tmp_path, capsys):
    from lxml import etree

    from handwriting.formats import read_alto

    page = _page(tmp_path, ["12345 678", "90 1234", "5678 90"])
    out = tmp_path / "out"
    assert (
        main(
            [
                "recognize",
                str(page),
                "--model",
                str(model_dir),
                "--format",
                "alto",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    alto = read_alto(out / "page.xml")
    assert etree.parse(str(out / "page.xml")).getroot().get("SCHEMAVERSION") == "4.2"
    assert main(["recognize", str(page), "--model", str(model_dir), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)[0]
    assert len(alto.lines) == len(data["lines"]) == 3
    assert [l.text or "" for l in alto.lines] == [l["text"] for l in data["lines"]]
    assert all(len(l["polygon"]) >= 4 for l in data["lines"])
    assert not [p for p in out.iterdir() if p.name.startswith(".")]
    assert (
        main(
            [
                "recognize",
                str(page),
                "--model",
                str(model_dir),
                "--format",
                "hocr",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    hocr = etree.parse(str(out / "page.hocr")).getroot()
    lines = hocr.findall(".//*[@class='ocr_line']")
    assert ["".join(l.itertext()) for l in lines] == [l["text"] for l in data["lines"]]
    words = hocr.findall(".//*[@class='ocrx_word']")
    assert [w.text for w in words] == " ".join(l["text"] for l in data["lines"]).split()
    assert all(w.get("title").startswith("bbox ") for w in words)


def test_recognize_segments_a_page_once(model_dir, tmp_path, capsys, monkeypatch):
    """The lines found deciding that an image is a page are the lines read."""
    import handwriting.pages
    import handwriting.segment

    page = _page(tmp_path, ["12345 678", "90 1234", "5678 90"])
    calls = []

    def counted(*args, **kwargs):
        calls.append(1)
        return segment(*args, **kwargs)

    segment = handwriting.segment.segment
    monkeypatch.setattr(handwriting.segment, "segment", counted)
    monkeypatch.setattr(handwriting.pages, "segment", counted)
    assert main(["recognize", str(page), "--model", str(model_dir), "--format", "json"]) == 0
    assert len(json.loads(capsys.readouterr().out)[0]["lines"]) == 3 and len(calls) == 1


def test_recognize_line_forced_and_layout_needs_one_image(model_dir, tmp_path, capsys):
    page = _page(tmp_path, ["12", "34"])
    assert (
        main(["recognize", str(page), "--line", "--model", str(model_dir), "--format", "json"]) == 0
    )
    item = json.loads(capsys.readouterr().out)[0]
    assert item["kind"] == "line" and "chars" in item["lines"][0]  # one line, not a page
    assert (
        main(["recognize", str(page), str(page), "--layout", "x.xml", "--model", str(model_dir)])
        == 2
    )
    assert "exactly one IMAGE" in capsys.readouterr().err


def test_recognize_directory_and_output_name_clash(model_dir, tmp_path, capsys):
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
        cv2.imwrite(str(tmp_path / sub / "x.png"), render_line("12"))
    cv2.imwrite(str(tmp_path / "a" / "y.png"), render_line("34"))
    (tmp_path / "a" / "notes.txt").write_text("not an image")
    (tmp_path / "a" / "._x.png").write_bytes(b"macOS resource fork")  # hidden: left out
    assert (
        main(["recognize", str(tmp_path / "a"), "--model", str(model_dir), "--format", "json"]) == 0
    )
    data = json.loads(capsys.readouterr().out)
    assert [d["source"] for d in data] == [
        str(tmp_path / "a" / "x.png"),
        str(tmp_path / "a" / "y.png"),
    ]
    out = tmp_path / "out"
    code = main(
        [
            "recognize",
            str(tmp_path / "a"),
            str(tmp_path / "b"),
            "--model",
            str(model_dir),
            "--out",
            str(out),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "would both be written to" in err
    assert not out.exists()  # refused before anything was written
    cv2.imwrite(
        str(tmp_path / "b" / "Y.png"), render_line("5")
    )  # y.txt and Y.txt: one file on macOS
    assert (
        main(
            [
                "recognize",
                str(tmp_path / "a" / "y.png"),
                str(tmp_path / "b" / "Y.png"),
                "--model",
                str(model_dir),
                "--out",
                str(out),
            ]
        )
        == 2
    )
    assert "would both be written to" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()  # a failed input: the others are still read
    assert (
        main(
            [
                "recognize",
                str(tmp_path / "empty"),
                str(tmp_path / "a" / "y.png"),
                "--model",
                str(model_dir),
            ]
        )
        == 1
    )
    out, err = capsys.readouterr()
    assert "empty: no images in this directory" in err and "1 of 2 inputs failed" in err
    assert out.splitlines()[0] == f"{tmp_path / 'empty'}\t" and len(out.splitlines()) == 2


def test_version(capsys):
    from handwriting import __version__

    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0 and capsys.readouterr().out.strip() == f"handwriting {__version__}"


def test_evaluate_without_labelled_lines(model_dir, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    a = write_line_dir(tmp_path / "a", ["12", "345"])
    assert (
        main(
            [
                "evaluate",
                str(tmp_path / "missing"),
                str(tmp_path / "empty"),
                "--model",
                str(model_dir),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err.splitlines()[-1]  # one line (after the progress bars)
    assert err.startswith("error: no labelled lines read from")
    assert err.endswith("missing: directory not found (and 1 more)")
    # what can be read is measured; the rest is listed at the end and fails the run (exit 1)
    (a / "bad.png").write_bytes(b"")
    (a / "bad.gt.txt").write_text("7")
    assert (
        main(["evaluate", str(a), str(tmp_path / "empty"), "--model", str(model_dir), "--json"])
        == 1
    )
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    assert result["sets"][0]["lines"] == 2 and result["sets"][0]["cer"] is not None
    assert result["sets"][1] == {
        "path": str(tmp_path / "empty"),
        "lines": 0,
        "cer": None,
        "wer": None,
    }
    assert result["problems"] == [
        f"{a / 'bad.png'}: empty file",
        f"{tmp_path / 'empty'}: no readable labelled lines",
    ]
    assert captured.err.splitlines()[-3:] == [f"skipped {p}" for p in result["problems"]] + [
        "error: 2 problem(s) above; the rates leave them out"
    ]


def test_train_on_folders_without_lines_leaves_no_run_behind(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["train", "--train", str(tmp_path / "empty"), "--out", str(tmp_path / "run")]) == 2
    assert "no labelled lines found" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_evaluate_warns_about_characters_the_model_cannot_output(model_dir, tmp_path, capsys):
    a = write_line_dir(tmp_path / "a", ["12", "3x4", "56"])  # the test model reads digits only
    assert main(["evaluate", str(a), "--model", str(model_dir), "--json"]) == 0
    err = capsys.readouterr().err
    assert "1 of 3 lines have characters the model cannot output (counted as errors): x" in err


def test_an_unexpected_failure_costs_only_its_input(
    model_dir, tmp_path, inputs, monkeypatch, capsys
):
    import handwriting.pages

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(handwriting.pages, "recognize_page", broken)
    page = _page(tmp_path, ["12", "34"])
    code = main(["recognize", str(page), inputs[0], "--model", str(model_dir)])
    out, err = capsys.readouterr()
    assert code == 1 and len(out.splitlines()) == 2  # one line per input: the line was read
    assert f"{page}: internal error (RuntimeError('boom'))" in err and "Traceback" not in err
    assert "good.jpg" not in err and "1 of 2 inputs failed" in err
    with pytest.raises(RuntimeError):
        main(["--debug", "recognize", str(page), "--model", str(model_dir)])


def test_text_output_names_the_input_of_every_line(model_dir, tmp_path, inputs, capsys):
    page = _page(tmp_path, ["12", "34"])
    assert main(["recognize", str(page), "--model", str(model_dir)]) == 0
    alone = capsys.readouterr().out.splitlines()  # one input: its text alone
    assert len(alone) == 2 and not any("\t" in l for l in alone)
    assert main(["recognize", str(page), inputs[0], str(page), "--model", str(model_dir)]) == 0
    rows = [l.split("\t") for l in capsys.readouterr().out.splitlines()]
    assert [r[0] for r in rows] == [str(page)] * 2 + [inputs[0]] + [str(page)] * 2
    assert [r[1] for r in rows[:2]] == alone == [r[1] for r in rows[3:]]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["recognize", "x.png", "--batch-size", "0"], "--batch-size must be >= 1, got 0"),
        (["recognize", "x.png", "--beam", "-3"], "--beam must be >= 0, got -3"),
        (["recognize", "x.png", "--lm", "model", "--lm-weight", "-1"], "--lm-weight must be >= 0"),
        (["evaluate", "gt", "--report", "-1"], "--report must be >= 0, got -1"),
        (["train", "--train", "gt", "--out", "run", "--epochs", "0"], "--epochs must be >= 1"),
        (["synth", "--out", "s", "--digits", "2"], "--digits must be 0..1, got 2.0"),
        (
            ["export", "m", "--out", "m.tflite", "--calibration-lines", "0"],
            "--calibration-lines must be >= 1",
        ),
        (
            ["lm", "--wordfreq", "en", "--order", "13", "--out", "x.lm.json.gz"],
            "--order must be 1..12",
        ),
    ],
)
def test_numeric_options_out_of_range_are_one_line_errors(
    argv, message, tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {message}") and err.count("\n") == 1
    assert not any(tmp_path.iterdir())  # nothing started, nothing written


def test_an_output_never_replaces_an_input(model_dir, tmp_path, capsys):
    """recognize --out into the folder of the input layout, lm --out on its own text,
    inspect --out on the image: refused before any work, the input intact."""
    img = tmp_path / "p.png"
    cv2.imwrite(str(img), render_line("123"))
    layout = tmp_path / "p.xml"
    layout.write_text("<ground truth/>")
    assert (
        main(
            [
                "recognize",
                str(img),
                "--layout",
                str(layout),
                "--format",
                "alto",
                "--out",
                str(tmp_path),
                "--model",
                str(model_dir),
            ]
        )
        == 2
    )
    assert "would overwrite the input" in capsys.readouterr().err
    assert layout.read_text() == "<ground truth/>"
    text = tmp_path / "corpus.txt"
    text.write_text("some text\n")
    assert main(["lm", str(text), "--out", str(text)]) == 2
    assert (
        "would overwrite the input" in capsys.readouterr().err and text.read_text() == "some text\n"
    )
    assert main(["inspect", str(img), "--out", str(img), "--model", str(model_dir)]) == 2
    assert "would overwrite the input" in capsys.readouterr().err


def test_recognize_keeps_xml_it_did_not_write_unless_told(model_dir, tmp_path, capsys):
    """Ground truth beside its image (as eScriptorium and Transkribus export it) is not
    replaced by a reading; the tool's own ALTO / PAGE / hOCR output is."""
    from handwriting.formats import written_here

    img = tmp_path / "p.png"
    cv2.imwrite(str(img), render_line("123"))
    gt = tmp_path / "p.xml"
    gt.write_text("<alto>ground truth</alto>")
    run = ["recognize", str(img), "--out", str(tmp_path), "--model", str(model_dir), "--format"]
    assert main(run + ["alto"]) == 2
    err = capsys.readouterr().err
    assert "p.xml exists and was not written by handwriting" in err and "--overwrite" in err
    assert gt.read_text() == "<alto>ground truth</alto>"
    assert main(run + ["alto", "--overwrite"]) == 0 and written_here(gt)
    for fmt in ("alto", "page", "hocr", "hocr"):  # each writer signs what it writes
        assert main(run + [fmt]) == 0, capsys.readouterr().err
    assert written_here(gt) and written_here(tmp_path / "p.hocr")


def test_recognize_goes_on_past_a_folder_it_cannot_read(model_dir, tmp_path, capsys, monkeypatch):
    import pathlib

    cv2.imwrite(str(tmp_path / "a.png"), render_line("45"))
    (tmp_path / "locked").mkdir()
    iterdir = pathlib.Path.iterdir

    def refused(self):
        if self.name == "locked":
            raise PermissionError(13, "Permission denied", str(self))
        return iterdir(self)

    monkeypatch.setattr(pathlib.Path, "iterdir", refused)
    assert (
        main(
            [
                "recognize",
                str(tmp_path / "a.png"),
                str(tmp_path / "locked"),
                "--model",
                str(model_dir),
            ]
        )
        == 1
    )
    captured = capsys.readouterr()
    assert len(captured.out.splitlines()) == 2  # a's text, and an empty line for the folder
    assert "locked: cannot read it (Permission denied)" in captured.err
    assert "1 of 2 inputs failed" in captured.err and "Traceback" not in captured.err


def test_recognize_reports_an_output_it_cannot_write_and_writes_the_rest(
    model_dir, tmp_path, capsys
):
    for name in ("a", "b"):
        cv2.imwrite(str(tmp_path / f"{name}.png"), render_line("45"))
    out = tmp_path / "out"
    (out / "a.txt").mkdir(parents=True)  # a folder where a's text would go
    assert (
        main(
            [
                "recognize",
                str(tmp_path / "a.png"),
                str(tmp_path / "b.png"),
                "--out",
                str(out),
                "--model",
                str(model_dir),
            ]
        )
        == 1
    )
    err = capsys.readouterr().err
    assert (
        "a.txt: is a directory" in err and "1 of 2 inputs failed" in err and "Traceback" not in err
    )
    assert (out / "b.txt").is_file()


def test_recognize_an_out_folder_that_cannot_be_made_is_one_line(model_dir, tmp_path, capsys):
    (tmp_path / "taken").write_text("a file")
    cv2.imwrite(str(tmp_path / "a.png"), render_line("45"))
    out = tmp_path / "taken" / "sub"
    assert (
        main(["recognize", str(tmp_path / "a.png"), "--out", str(out), "--model", str(model_dir)])
        == 2
    )
    assert capsys.readouterr().err == (
        f"error: --out {out}: cannot create this folder (Not a "
        "directory); give a folder you can write to\n"
    )


def test_an_output_that_cannot_be_written_is_said_before_the_work(
    model_dir, tmp_path, capsys, monkeypatch
):
    (tmp_path / "taken").write_text("a file")
    out = tmp_path / "taken" / "sub" / "m.tflite"
    assert main(["export", str(model_dir), "--out", str(out)]) == 2
    assert capsys.readouterr().err == (
        f"error: --out {out}: {tmp_path / 'taken'} is a file, not a "
        "folder; give a path in a folder you can write to\n"
    )
    gt = write_line_dir(tmp_path / "gt", ["12", "34"])
    assert main(["train", "--train", str(gt), "--out", str(tmp_path / "taken" / "run")]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err
    access = os.access  # (root may write anywhere: a folder it may not write to, simulated)
    monkeypatch.setattr(
        os, "access", lambda p, mode: os.fspath(p) != str(tmp_path / "ro") and access(p, mode)
    )
    (tmp_path / "ro").mkdir()
    assert main(["train", "--train", str(gt), "--out", str(tmp_path / "ro" / "sub" / "run")]) == 2
    assert capsys.readouterr().err == (
        f"error: --out {tmp_path / 'ro' / 'sub' / 'run'}: the "
        f"folder {tmp_path / 'ro'} is not writable; give a path in "
        "a folder you can write to\n"
    )
    assert not (tmp_path / "ro" / "sub").exists()


def test_debug_goes_before_or_after_the_command():
    from handwriting.cli import build_parser

    parse = build_parser().parse_args
    assert parse(["data", "d"]).debug is False
    assert parse(["--debug", "data", "d"]).debug is True
    assert parse(["data", "d", "--debug"]).debug is True
    assert parse(["export", "m", "--out", "x.tflite", "--debug"]).debug is True


def test_an_unreadable_ground_truth_folder_is_a_problem(tmp_path, monkeypatch):
    from handwriting.groundtruth import scan_line_dirs

    gt = write_line_dir(tmp_path / "gt", ["12"])
    locked = gt / "locked"
    locked.mkdir()
    scandir = os.scandir

    def refused(path="."):  # (chmod 0 would not stop root)
        if os.fspath(path) == str(locked):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return scandir(path)

    monkeypatch.setattr(os, "scandir", refused)
    records, problems = scan_line_dirs([gt])
    assert len(records) == 1
    assert [(p.path, p.message) for p in problems] == [
        (locked, "cannot read this folder (Permission denied)")
    ]
    from handwriting.pages import find_pages

    assert find_pages([gt]) == ([], [f"{locked}: cannot read this folder (Permission denied)"])


def test_train_refuses_to_write_over_a_model_directory(model_dir, tmp_path, capsys):
    import shutil

    victim = tmp_path / "victim"
    shutil.copytree(model_dir, victim)
    before = {p.name: p.read_bytes() for p in victim.iterdir() if p.is_file()}
    gt = write_line_dir(tmp_path / "gt", ["12"])
    assert main(["train", "--train", str(gt), "--out", str(victim)]) == 2
    assert "is a model directory" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in victim.iterdir() if p.is_file()} == before
    assert main(["train", "--train", str(tmp_path / "nope"), "--out", str(tmp_path / "run")]) == 2
    assert "nope: ground-truth folder not found" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
    from handwriting.errors import HandwritingError
    from handwriting.train import train

    with pytest.raises(HandwritingError, match="not found"):  # the API's val_dirs=None
        train([tmp_path / "nope"], None, tmp_path / "run2")


def test_a_file_system_refusal_is_one_line(tmp_path, capsys):
    (tmp_path / "taken").write_text("a file")
    (tmp_path / "t.txt").write_text("some text\n")
    assert (
        main(
            [
                "lm",
                str(tmp_path / "t.txt"),
                "--out",
                str(tmp_path / "taken" / "x.lm.json.gz"),
                "--order",
                "2",
            ]
        )
        == 2
    )  # the system's refusal (not a directory)
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "taken" in err and err.count("\n") == 1
    assert main(["synth", "--out", str(tmp_path / "taken"), "--count", "1"]) == 2
    assert (
        capsys.readouterr().err
        == f"error: --out {tmp_path / 'taken'} is a file; give a folder for the line pairs\n"
    )


def test_a_layout_of_another_image_is_read_with_a_warning(model_dir, tmp_path, capsys):
    import numpy as np

    from handwriting.document import Page, TextLine

    from conftest import write_page_xml

    img = tmp_path / "scan2.png"
    cv2.imwrite(str(img), np.full((120, 400), 255, np.uint8))
    line = TextLine("l1", np.array([[10, 10], [390, 10], [390, 60], [10, 60]], np.int32), None, "1")
    write_page_xml(Page(tmp_path / "scan1.png", 400, 120, [line]), tmp_path / "scan1.xml")
    assert (
        main(
            [
                "recognize",
                str(img),
                "--layout",
                str(tmp_path / "scan1.xml"),
                "--model",
                str(model_dir),
            ]
        )
        == 0
    )
    assert "describes scan1.png, not scan2.png" in capsys.readouterr().err
    write_page_xml(Page(tmp_path / "scan2.tif", 400, 120, [line]), tmp_path / "scan2.xml")
    assert (
        main(
            [
                "recognize",
                str(img),
                "--layout",
                str(tmp_path / "scan2.xml"),
                "--model",
                str(model_dir),
            ]
        )
        == 0
    )  # the same scan in another format: no warning
    assert "describes" not in capsys.readouterr().err
    write_page_xml(Page(tmp_path / "scan2.png", 800, 240, [line]), tmp_path / "big.xml")
    assert (
        main(
            [
                "recognize",
                str(img),
                "--layout",
                str(tmp_path / "big.xml"),
                "--model",
                str(model_dir),
            ]
        )
        == 0
    )  # drawn on a copy at twice the size
    err = capsys.readouterr().err  # one line naming the layout file (not the parsed page)
    assert (
        err
        == f"{tmp_path / 'big.xml'}: page is 800 x 240, the image 400 x 120: coordinates scaled\n"
    )


def test_api_recognize_takes_one_path_as_one_input(model_dir, tmp_path):
    from handwriting.recognize import Recognizer

    img = tmp_path / "line.png"
    cv2.imwrite(str(img), render_line("12"))
    rec = Recognizer(model_dir)
    assert [r.ok for r in rec.recognize(str(img))] == [True]  # not one result per character
    assert [r.source for r in rec.recognize(img)] == [str(img)]
    assert (
        len(rec.recognize(cv2.imread(str(img), cv2.IMREAD_GRAYSCALE))) == 1
    )  # one array: one line
    with pytest.raises(ValueError, match="beam >= 0"):
        Recognizer(model_dir, beam=-1)


def test_inspect_refuses_a_page_and_the_api_a_channels_first_array(model_dir, tmp_path, capsys):
    from pathlib import Path

    import numpy as np

    from handwriting.errors import ImageError
    from handwriting.images import to_gray

    page = Path(__file__).resolve().parents[1] / "data" / "samples" / "page1.png"
    assert (
        main(["inspect", str(page), "--out", str(tmp_path / "f.png"), "--model", str(model_dir)])
        == 2
    )
    assert "looks like a page" in capsys.readouterr().err and not (tmp_path / "f.png").exists()
    with pytest.raises(ImageError, match="channels last"):
        to_gray(np.zeros((3, 40, 200), np.uint8))


def test_lm_from_ground_truth_says_which_transcriptions_it_left_out(tmp_path, capsys, caplog):
    gt = write_line_dir(tmp_path / "gt", ["12", "345"])
    (gt / "l0001.gt.txt").write_bytes(b"bad \xff\xfe")  # not UTF-8
    assert main(["lm", str(gt), "--out", str(tmp_path / "x.lm.json.gz"), "--order", "2"]) == 0
    assert "1 problem(s), those files left out" in capsys.readouterr().err + caplog.text


def test_synth_refuses_a_text_it_would_write_over(tmp_path, capsys):
    out = tmp_path / "syn"
    out.mkdir()
    (out / "synth_000000.gt.txt").write_text("one two three four\n")
    for text in (out / "synth_000000.gt.txt", out):  # its own label file, or its folder
        assert main(["synth", "--out", str(out), "--count", "1", "--text", str(text)]) == 2
        assert "synth would write over it" in capsys.readouterr().err
    assert (out / "synth_000000.gt.txt").read_text() == "one two three four\n"


@pytest.mark.parametrize(
    "argv, message",
    [
        (["recognize", "x.png", "--lm", "model", "--lm-weight", "nan"], "--lm-weight"),
        (["recognize", "x.png", "--lm", "model", "--lm-weight", "inf"], "--lm-weight"),
        (["recognize", "x.png", "--lm", "model", "--lm-bonus", "nan"], "--lm-bonus"),
        (["evaluate", "d", "--lm", "model", "--lm-bonus=-inf"], "--lm-bonus"),
        (["lm", "t.txt", "--out", "x.lm.json.gz", "--bonus", "nan"], "--bonus"),
    ],
)
def test_nan_and_infinity_are_refused(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {message} must be a finite number") and err.count("\n") == 1


def test_lm_never_writes_over_a_file_that_is_not_a_language_model(tmp_path, capsys):
    """Not a label inside a folder it reads (an input only through its folder), nor a PDF."""
    gt = write_line_dir(tmp_path / "gt", ["12", "345"])
    label = next(gt.glob("*.gt.txt"))
    before = label.read_bytes()
    for argv in (["lm", str(gt)], ["lm", str(gt), "--val", str(gt)]):
        assert main([*argv, "--out", str(label), "--order", "2"]) == 2
        assert "exists and is not a language model" in capsys.readouterr().err
    assert label.read_bytes() == before
    lm = tmp_path / "a.lm.json.gz"  # an LM is rebuilt in place
    for _ in range(2):
        assert main(["lm", str(gt), "--out", str(lm), "--order", "2"]) == 0
    pdf = tmp_path / "doc.pdf"
    pdf.write_bytes(b"%PDF-1.4\ntrailer<<>>\n%%EOF\n")
    assert main(["lm", str(pdf), "--out", str(tmp_path / "b.lm.json.gz")]) == 2
    assert "is a PDF, not a text file" in capsys.readouterr().err
