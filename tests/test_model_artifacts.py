import json

import keras
import numpy as np
import pytest

from handwriting import artifacts
from handwriting.charset import Charset
from handwriting.config import ModelConfig, PreprocessConfig
from handwriting.errors import ArtifactError
from handwriting.model import build_model, logits_model, widen_lstm

from conftest import TINY

MC = ModelConfig.from_dict(TINY["model"])
PC = PreprocessConfig.from_dict(TINY["preprocess"])


def test_model_shapes_and_downsampling():
    m = build_model(MC, n_classes=11, height=PC.height)
    x = np.random.default_rng(0).random((2, PC.height, 96, 1)).astype("float32")
    y = np.asarray(m(x))
    assert y.shape == (2, 96 // MC.downsample, 11)
    assert np.allclose(y.sum(-1), 1.0, atol=1e-5)
    m2 = build_model(MC, 11, PC.height)
    assert np.asarray(m2(x[:, :, :40])).shape == (2, 40 // MC.downsample, 11)  # width is free


@pytest.mark.parametrize("trainable_seed", [None, 3])
def test_widen_lstm_keeps_the_outputs(trainable_seed):
    rng = np.random.default_rng(2)
    m = build_model(MC, n_classes=11, height=PC.height)
    for layer in m.layers:  # random biases too, so a misplaced weight shows in the output
        if layer.name.startswith("bilstm") or layer.name == "logits":
            layer.set_weights(
                [rng.normal(0, 0.3, w.shape).astype("float32") for w in layer.get_weights()]
            )
    x = rng.random((2, PC.height, 80, 1)).astype("float32")
    old, units = MC.lstm_units, MC.lstm_units + 5
    wide = widen_lstm(m, MC, units, n_classes=11, height=PC.height, trainable_seed=trainable_seed)
    assert wide.get_layer("bilstm1").forward_layer.units == units
    assert wide.count_params() > m.count_params()
    before, after = (np.asarray(logits_model(k)(x)) for k in (m, wide))
    assert np.isfinite(before).all() and before.std() > 0.1
    np.testing.assert_allclose(after, before, atol=1e-4)
    # the new units' states: zero when inert, alive (so fine-tuning trains them) otherwise
    top = keras.Model(wide.inputs, wide.get_layer(f"bilstm{MC.lstm_layers - 1}").output)
    new_units = np.asarray(top(x))[..., np.r_[old:units, units + old : 2 * units]]
    if trainable_seed is None:
        assert np.abs(new_units).max() == 0
    else:
        assert np.abs(new_units).mean() > 1e-3
    with pytest.raises(ValueError, match="units must be >="):
        widen_lstm(m, MC, MC.lstm_units - 1, n_classes=11, height=PC.height)


def test_save_load_parity(tmp_path):
    cs = Charset(list("0123456789"))
    m = build_model(MC, cs.n_classes, PC.height)
    x = np.random.default_rng(1).random((1, PC.height, 64, 1)).astype("float32")
    before = np.asarray(m(x))
    artifacts.save(
        tmp_path / "model", m, cs, PC, MC, training={"epochs": 0}, metrics={"val_cer": 1.0}
    )
    art = artifacts.load(tmp_path / "model")
    assert art.charset == cs and art.preprocess == PC and art.model_config == MC
    assert art.meta["metrics"]["val_cer"] == 1.0 and art.meta["parameters"] == m.count_params()
    np.testing.assert_allclose(np.asarray(art.model(x)), before, atol=1e-6)
    assert not [p for p in (tmp_path).iterdir() if p.name.startswith(".")]  # no temp dir left


def test_unknown_format_version_fails_clearly(tmp_path):
    cs = Charset(list("ab"))
    artifacts.save(tmp_path / "m", build_model(MC, cs.n_classes, PC.height), cs, PC, MC)
    meta_file = tmp_path / "m" / artifacts.META_FILE
    meta = json.loads(meta_file.read_text())
    meta["format_version"] = 99
    meta_file.write_text(json.dumps(meta))
    with pytest.raises(ArtifactError, match="version 99 is not supported.*upgrade"):
        artifacts.load(tmp_path / "m")
    meta_file.write_text(json.dumps({**meta, "format_version": "1"}))
    with pytest.raises(ArtifactError, match="version '1' is not a number; the file is damaged"):
        artifacts.load(tmp_path / "m")


def test_missing_or_wrong_model_dir(tmp_path):
    with pytest.raises(ArtifactError, match="not found"):
        artifacts.load(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ArtifactError, match="not a handwriting model directory"):
        artifacts.load(tmp_path / "empty")


def test_damaged_metadata_and_mismatched_weights_are_one_clear_error(tmp_path):
    cs = Charset(list("0123456789"))
    artifacts.save(tmp_path / "m", build_model(MC, cs.n_classes, PC.height), cs, PC, MC)
    meta_file = tmp_path / "m" / artifacts.META_FILE
    good = json.loads(meta_file.read_text())
    meta_file.write_text("[1, 2]")
    with pytest.raises(ArtifactError, match="not a JSON object"):
        artifacts.load(tmp_path / "m")
    meta_file.write_text(
        json.dumps({**good, "preprocess": {**good["preprocess"], "height": "abc"}})
    )
    with pytest.raises(ArtifactError, match="height must be an integer"):
        artifacts.load(tmp_path / "m")
    meta_file.write_text(json.dumps({**good, "charset": good["charset"][:5]}))  # weights for 10
    with pytest.raises(ArtifactError) as exc:
        artifacts.load(tmp_path / "m")
    assert "does not fit the model" in str(exc.value) and "\n" not in str(exc.value)
    meta_file.write_text(json.dumps(good))
    (tmp_path / "m" / artifacts.WEIGHTS_FILE).write_bytes(b"<html>not found</html>")
    with pytest.raises(ArtifactError, match="not a weights file .*damaged"):
        artifacts.load(tmp_path / "m")
