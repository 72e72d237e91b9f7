"""The recomputed LSTM states equal Keras' own layer outputs."""

import numpy as np
import pytest

from handwriting.artifacts import DEFAULT_MODEL_DIR as DEFAULT_MODEL
from handwriting.config import ModelConfig, PreprocessConfig
from handwriting.lstm_trace import layer_outputs, lstm_traces
from handwriting.model import build_model
from handwriting.preprocessing import preprocess
from handwriting.recognize import Recognizer

from conftest import TINY, render_line


def _check(model, line):
    traces = lstm_traces(model, line)
    outs = layer_outputs(model, line)
    assert len(outs) == len({k for k, _ in traces})
    for k, out in enumerate(outs):
        units = out.shape[1] // 2
        fw, bw = traces[(k, "forward")], traces[(k, "backward")]
        np.testing.assert_allclose(fw.hidden, out[:, :units], atol=1e-5)
        np.testing.assert_allclose(bw.hidden, out[:, units:], atol=1e-5)
        for t in (fw, bw):
            for gate in (t.input_gate, t.forget_gate, t.output_gate):
                assert gate.min() >= 0 and gate.max() <= 1
            assert np.abs(t.hidden).max() <= 1
            assert t.cell.shape == t.hidden.shape == (len(out), units)


def test_recomputed_states_match_random_model():
    pc = PreprocessConfig.from_dict(TINY["preprocess"])
    model = build_model(ModelConfig.from_dict(TINY["model"]), 12, pc.height)
    _check(model, preprocess(render_line("0123 4567"), pc))


def test_recomputed_states_match_trained_default_model():
    if not (DEFAULT_MODEL / "handwriting.json").is_file():
        pytest.skip("no default model in handwriting/models/default")
    rec = Recognizer(DEFAULT_MODEL, backend="keras")
    _check(rec.backend.model, rec.preprocess(render_line("Merci beaucoup")))
