"""Reading needs only the base install (LiteRT, numpy, OpenCV): the default model ships inside
the package as a ``.tflite`` file, and no reading command imports TensorFlow, Keras or JAX."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from handwriting import artifacts
from handwriting.errors import ArtifactError, HandwritingError
from handwriting.metrics import cer
from handwriting.recognize import Recognizer, model_source

from conftest import render_line, write_line_dir

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples"
DEFAULT_TFLITE = artifacts.DEFAULT_MODEL_DIR / artifacts.DEFAULT_TFLITE

# runs the CLI with the [train] extra's packages made impossible to import, as in an install
# without them, and fails if any of them was imported all the same
BLOCKED = textwrap.dedent("""
    import sys
    EXTRA = ("tensorflow", "keras", "jax", "jaxlib", "matplotlib")

    class Missing:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in EXTRA:
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)

    sys.meta_path.insert(0, Missing())
    from handwriting.cli import main
    code = main(sys.argv[1:])
    assert not [m for m in sys.modules if m.split(".")[0] in EXTRA]
    sys.exit(code)
""")


def run_without_training_extra(args, cwd):
    return subprocess.run(
        [sys.executable, "-c", BLOCKED, *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def expected():
    return json.loads((SAMPLES / "expected.json").read_text(encoding="utf-8"))


def test_default_model_is_inside_the_package():
    import handwriting

    assert artifacts.DEFAULT_MODEL_DIR.parent.parent == Path(handwriting.__file__).resolve().parent
    if not DEFAULT_TFLITE.is_file():
        pytest.skip("no default.tflite in handwriting/models/default")
    assert artifacts.resolve("default") == artifacts.DEFAULT_MODEL_DIR
    assert model_source() == model_source("default") == (DEFAULT_TFLITE, "litert")
    assert model_source(artifacts.DEFAULT_MODEL_DIR) == (DEFAULT_TFLITE, "litert")
    assert model_source("default", "keras") == (artifacts.DEFAULT_MODEL_DIR, "keras")


def test_model_source_rules(model_dir, tmp_path, monkeypatch):
    assert model_source(model_dir) == (model_dir, "keras")  # a trained run: its weights
    with pytest.raises(ArtifactError, match="no .tflite file in this model directory"):
        model_source(model_dir, "litert")
    lite = tmp_path / "x.tflite"
    lite.write_bytes(b"")
    assert model_source(lite) == (lite, "litert")
    with pytest.raises(HandwritingError, match="needs a model directory"):
        model_source(lite, "keras")
    with pytest.raises(ArtifactError, match="model not found"):
        model_source(tmp_path / "nothing")
    with pytest.raises(HandwritingError, match="backend must be one of"):
        model_source(model_dir, "onnx")
    monkeypatch.setenv("HANDWRITING_MODEL", str(model_dir))
    assert model_source() == (model_dir, "keras")


def test_reading_without_tensorflow(tmp_path, expected):
    """From a folder outside the checkout, with TensorFlow, Keras and JAX not importable:
    the samples are read, ground truth is evaluated and checked; training says what to
    install, in one line."""
    if not DEFAULT_TFLITE.is_file():
        pytest.skip("no default.tflite in handwriting/models/default")
    lines = sorted(k for k in expected if k.startswith("line"))
    done = run_without_training_extra(["recognize", *[SAMPLES / k for k in lines]], tmp_path)
    assert done.returncode == 0, done.stderr
    rows = [r.split("\t") for r in done.stdout.splitlines()]
    assert [Path(r[0]).name for r in rows] == lines  # with several inputs: NAME<tab>TEXT
    assert cer([expected[k] for k in lines], [r[1] for r in rows]) < 20, rows
    assert done.stderr == ""  # nothing from native libraries

    gt = write_line_dir(tmp_path / "gt", ["Merci", "Tuesday"], scale=1.0)
    done = run_without_training_extra(["evaluate", gt, "--json"], tmp_path)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["overall"]["lines"] == 2 and result["decoding"]["backend"] == "litert"
    assert run_without_training_extra(["data", gt], tmp_path).returncode == 0

    for args in (
        ["train", "--train", gt, "--out", tmp_path / "run"],
        ["recognize", SAMPLES / "line1.png", "--backend", "keras"],
    ):
        done = run_without_training_extra(args, tmp_path)
        assert done.returncode == 2 and len(done.stderr.splitlines()) == 1, done.stderr
        assert 'pip install "handwriting[train]"' in done.stderr and "Traceback" not in done.stderr


def test_python_api_reads_without_tensorflow(tmp_path):
    if not DEFAULT_TFLITE.is_file():
        pytest.skip("no default.tflite in handwriting/models/default")
    code = textwrap.dedent(f"""
        import sys
        sys.modules.update(tensorflow=None, keras=None, jax=None)  # as if not installed
        from handwriting.recognize import Recognizer
        print(Recognizer().recognize([{str(SAMPLES / "line1.png")!r}])[0].prediction.text)
    """)
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert cer(["Please send the two parcels before Tuesday."], [done.stdout.strip()]) < 15


def test_parallel_interpreters_read_as_one():
    """Lines of a batch split over several LiteRT interpreters give the probabilities one
    interpreter gives, in the batch's order."""
    if not DEFAULT_TFLITE.is_file():
        pytest.skip("no default.tflite in handwriting/models/default")
    one, three = Recognizer(threads=1), Recognizer(threads=3)
    lines = [
        one.preprocess(render_line(t, height=60))
        for t in ("Merci", "Tuesday 14", "au revoir", "le 3 mai", "Dear Sir")
    ]
    width = max(l.shape[1] for l in lines)
    batch = np.zeros((len(lines), lines[0].shape[0], width, 1), np.float32)
    for k, l in enumerate(lines):
        batch[k, :, : l.shape[1], 0] = l
    np.testing.assert_array_equal(three.backend.predict(batch), one.backend.predict(batch))
    assert len(three.backend._interpreters) == 3 and len(one.backend._interpreters) == 1
    assert [p.text for p in three.predict_lines(lines)] == [
        p.text for p in one.predict_lines(lines)
    ]


@pytest.mark.slow
def test_library_is_quiet_and_training_shows_each_epoch(tmp_path):
    """Importing the package and reading with the Keras weights print nothing from
    TensorFlow's native libraries; ``train()`` called from Python, with logging left
    unconfigured, shows its per-epoch line (loss, val CER) on stderr."""
    from conftest import TINY, digit_texts

    tr = write_line_dir(tmp_path / "tr", digit_texts(24, seed=0), scale=0.8)
    va = write_line_dir(tmp_path / "va", digit_texts(6, seed=1), scale=0.8)
    code = textwrap.dedent(f"""
        import json, sys
        from handwriting.config import Config
        from handwriting.recognize import Recognizer
        from handwriting.train import train
        Recognizer("default", backend="keras").recognize([{str(tr / "l0000.png")!r}])
        print("READ", file=sys.stderr, flush=True)
        train([{str(tr)!r}], [{str(va)!r}], {str(tmp_path / "run")!r},
              Config.from_dict(json.loads({json.dumps(json.dumps(TINY))})), epochs=1)
    """)
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr
    before, _, after = done.stderr.partition("READ\n")
    assert before == "", before  # no native log lines, no warnings
    assert "epoch 1: loss" in after and "val CER" in after, after
