"""TFLite export: builtin ops only, fused LSTMs, parity with Keras, metadata inside the file,
and a runtime that never imports TensorFlow or Keras."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import cv2
import numpy as np
import pytest

from handwriting import artifacts
from handwriting.artifacts import DEFAULT_MODEL_DIR
from handwriting.charset import Charset
from handwriting.cli import main
from handwriting.config import ModelConfig, PreprocessConfig
from handwriting.errors import ArtifactError, HandwritingError
from handwriting.export import export, op_summary
from handwriting.model import build_model
from handwriting.recognize import Recognizer
from handwriting.runtime import LiteBackend, read_metadata

from conftest import TINY, render_line, write_line_dir

MC = ModelConfig.from_dict(TINY["model"])
PC = PreprocessConfig.from_dict(TINY["preprocess"])
CS = Charset(list("0123456789"))
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A tiny random model directory and its exports: {"keras": dir, mode: .tflite}."""
    root = tmp_path_factory.mktemp("export")
    model = build_model(MC, CS.n_classes, PC.height)
    model_dir = artifacts.save(root / "model", model, CS, PC, MC, metrics={"val_cer": 42.0})
    files = {"keras": model_dir}
    for mode in ("none", "float16", "dynamic"):
        files[mode] = export(model_dir, root / f"{mode}.tflite", quantize=mode)
    files["while"] = export(model_dir, root / "while.tflite", fused=False)
    return files


def test_builtin_ops_only_and_fused_lstm(exported):
    for mode in ("none", "float16", "dynamic"):
        s = op_summary(exported[mode])
        assert not s["flex"] and not any(op.startswith("CUSTOM") for op in s["ops"]), s
        assert s["fused_lstm"] == 2 * MC.lstm_layers and s["while"] == 0, s
    unfused = op_summary(exported["while"])
    assert not unfused["flex"] and unfused["while"] > 0 and unfused["fused_lstm"] == 0
    # written atomically: no temporary file left beside the outputs
    assert not [p for p in exported["none"].parent.iterdir() if p.name.startswith(".")]


def test_metadata_travels_in_the_file(exported):
    backend = LiteBackend(exported["none"])
    assert backend.charset == CS and backend.preprocess_config == PC
    assert backend.downsample == MC.downsample
    assert backend.meta["quantize"] == "none" and backend.meta["fused_lstm"] is True
    assert backend.meta["source"]["metrics"]["val_cer"] == 42.0
    assert ModelConfig.from_dict(backend.meta["model"]) == MC
    assert not list(exported["none"].parent.glob("*.json"))  # no sidecar needed


@pytest.mark.parametrize(
    "mode,tol", [("none", 1e-4), ("while", 1e-4), ("float16", 2e-2), ("dynamic", 5e-2)]
)
def test_parity_with_keras(exported, mode, tol):
    keras_rec = Recognizer(exported["keras"])
    lite_rec = Recognizer(exported[mode])
    rng = np.random.default_rng(3)
    for width in (64, 200, 64):  # resizing back and forth; LSTM state must not carry over
        line = rng.random((PC.height, width)).astype("float32")
        ref = keras_rec.probabilities(line)
        got = lite_rec.probabilities(line)
        assert got.shape == ref.shape == (width // MC.downsample, CS.n_classes)
        assert np.abs(got - ref).max() < tol
    # a padded batch through the shared decode path: the same text as Keras
    images = [render_line(t) for t in ("123", "40586", "7")]
    if mode in ("none", "while"):
        assert [r.prediction.text for r in lite_rec.recognize(images)] == [
            r.prediction.text for r in keras_rec.recognize(images)
        ]


def test_int8_needs_and_uses_calibration_lines(exported, tmp_path, capfd):
    with pytest.raises(HandwritingError, match="representative lines"):
        export(exported["keras"], tmp_path / "q.tflite", quantize="int8")
    lines = write_line_dir(tmp_path / "calib", ["12", "345", "6789", "0"] * 3)
    capfd.readouterr()
    path = export(exported["keras"], tmp_path / "q.tflite", quantize="int8", representative=lines)
    assert "fully_quantize" not in capfd.readouterr().err  # the converter's C++ INFO line
    assert not op_summary(path)["flex"]
    backend = LiteBackend(path)
    assert backend.meta["calibration_lines"] == 12
    probs = backend.predict(np.zeros((1, PC.height, 48, 1), np.float32))
    assert probs.shape == (1, 48 // MC.downsample, CS.n_classes)
    assert np.allclose(probs.sum(-1), 1.0, atol=0.05)


def test_runtime_never_imports_tensorflow_or_keras(exported, tmp_path):
    from handwriting.lm import CharLM

    image = tmp_path / "line.png"
    cv2.imwrite(str(image), render_line("2468"))
    lm = CharLM.train(["2468", "1357", "2468 90"], order=3).save(tmp_path / "d.lm.json.gz")
    child = textwrap.dedent(f"""
        import sys

        class Refuse:  # a device has only ai-edge-litert, numpy and OpenCV: anything else fails
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("tensorflow", "keras", "tf_keras", "jax", "rapidfuzz",
                                          "lxml", "tqdm", "matplotlib", "PIL"):
                    raise ImportError("blocked: " + name)

        sys.meta_path.insert(0, Refuse())
        import numpy as np
        from handwriting.runtime import LiteBackend, read_line
        backend = LiteBackend({str(exported["dynamic"])!r})
        probs = backend.predict(np.zeros((2, backend.preprocess_config.height, 40, 1), np.float32))
        text = read_line({str(image)!r}, {str(exported["none"])!r})
        with_lm = read_line({str(image)!r}, {str(exported["none"])!r}, lm={str(lm)!r})
        assert isinstance(with_lm, str) and set(with_lm) <= set("0123456789 "), with_lm
        heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras"))
        print(probs.shape, repr(text), heavy)
        assert not heavy, heavy
    """)
    out = subprocess.run(
        [sys.executable, "-c", child], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "(2, 20, 11)" in out.stdout and out.stdout.strip().endswith("[]")


def test_bad_files_fail_clearly(tmp_path, exported):
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"not a model at all")
    with pytest.raises(ArtifactError, match="not a readable TFLite model"):
        read_metadata(junk)
    with pytest.raises(ArtifactError, match="not found"):
        LiteBackend(tmp_path / "missing.tflite")
    with pytest.raises(HandwritingError, match="unknown quantization"):
        export(exported["keras"], tmp_path / "x.tflite", quantize="int4")


def test_cli_export(exported, tmp_path, capsys):
    out = tmp_path / "cli.tflite"
    assert main(["export", str(exported["keras"]), "--out", str(out), "--quantize", "float16"]) == 0
    printed = capsys.readouterr().out
    assert "UNIDIRECTIONAL_SEQUENCE_LSTM" in printed and "Flex ops: none" in printed
    assert "WHILE loops: 0" in printed and out.is_file()
    assert main(["export", str(exported["keras"]), "--out", str(tmp_path / "d.tflite")]) == 0
    assert "quantize dynamic" in capsys.readouterr().out  # the default: as the model ships
    assert read_metadata(tmp_path / "d.tflite")["quantize"] == "dynamic"
    assert (
        main(
            [
                "export",
                str(exported["keras"]),
                "--out",
                str(tmp_path / "q.tflite"),
                "--quantize",
                "int8",
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert err.startswith("error:") and "--calibration" in err and len(err.splitlines()) == 1
    data = json.loads(json.dumps(read_metadata(out)))  # JSON-clean metadata
    assert data["quantize"] == "float16"


def test_shipped_tflite_reads_the_samples():
    """Regression of handwriting/models/default/default.tflite (skipped when not shipped)."""
    from handwriting.metrics import cer

    path = DEFAULT_MODEL_DIR / "default.tflite"
    if not path.is_file():
        pytest.skip("no handwriting/models/default/default.tflite")
    samples = ROOT / "data" / "samples"
    expected = json.loads((samples / "expected.json").read_text(encoding="utf-8"))
    lines = {k: v for k, v in expected.items() if k.startswith("line")}
    results = Recognizer(path).recognize([samples / k for k in lines])
    assert all(r.ok for r in results)
    assert cer(list(lines.values()), [r.prediction.text for r in results]) < 20


def test_read_line_feeds_the_model_what_recognize_feeds_it(monkeypatch):
    """The device path pads a line to its width bucket as `handwriting recognize` does (the
    LSTM reads the padding: unpadded, 30 of 100 val lines read differently)."""
    from handwriting import runtime
    from handwriting.images import load_image
    from handwriting.preprocessing import bucket, preprocess

    path = DEFAULT_MODEL_DIR / "default.tflite"
    if not path.is_file():
        pytest.skip("no handwriting/models/default/default.tflite")
    image = ROOT / "data" / "samples" / "line3.png"
    fed, predict = [], runtime.LiteBackend.predict
    monkeypatch.setattr(
        runtime.LiteBackend, "predict", lambda self, x: fed.append(x.shape) or predict(self, x)
    )
    text = runtime.read_line(image, path)
    width = preprocess(load_image(image), runtime.LiteBackend(path).preprocess_config).shape[1]
    assert width % 64 and fed == [(1, 40, bucket(width), 1)]
    assert text == Recognizer(path).recognize([image])[0].prediction.text
    with pytest.raises(HandwritingError, match="threads must be an integer >= 1"):
        runtime.read_line(image, path, threads=0)


def test_max_column_pool_exports_with_builtins_and_parity(tmp_path):
    mc = MC.replace(column_pool="max")
    model_dir = artifacts.save(
        tmp_path / "model", build_model(mc, CS.n_classes, PC.height), CS, PC, mc
    )
    lite = export(model_dir, tmp_path / "max.tflite", quantize="none")
    s = op_summary(lite)
    assert not s["flex"] and s["fused_lstm"] == 2 * mc.lstm_layers, s
    line = np.random.default_rng(4).random((PC.height, 96)).astype("float32")
    ref = Recognizer(model_dir).probabilities(line)
    assert np.abs(Recognizer(lite).probabilities(line) - ref).max() < 1e-4
