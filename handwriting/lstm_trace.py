"""Look inside the LSTMs: gates, cell and hidden states recomputed from the layers' own weights.

For a line and a model, :func:`lstm_traces` returns, per bidirectional LSTM layer and direction,
the input gate i, forget gate f, candidate g, output gate o, cell state c and hidden state h at
every time step, from the standard equations (Keras gate order i, f, c, o)::

    z = x_t W + h_{t-1} U + b;  i, f, g, o = σ(z_i), σ(z_f), tanh(z_g), σ(z_o)
    c_t = f * c_{t-1} + i * g;  h_t = o * tanh(c_t)

The backward direction reads the line right to left; its arrays are returned aligned to the
line's columns (index t = frame t of the line), like the Bidirectional layer's output.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class LSTMTrace:
    layer: str
    direction: str  # "forward" or "backward"
    input_gate: np.ndarray  # (T, units)
    forget_gate: np.ndarray
    candidate: np.ndarray
    output_gate: np.ndarray
    cell: np.ndarray
    hidden: np.ndarray


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def run_lstm(
    x: np.ndarray,
    kernel: np.ndarray,
    recurrent: np.ndarray,
    bias: np.ndarray,
    reverse: bool = False,
) -> dict[str, np.ndarray]:
    """The LSTM recurrence in float64 over ``x`` (T, D); returns the per-step arrays."""
    x = np.asarray(x, np.float64)
    kernel, recurrent, bias = (np.asarray(a, np.float64) for a in (kernel, recurrent, bias))
    units = recurrent.shape[0]
    steps = range(len(x) - 1, -1, -1) if reverse else range(len(x))
    out = {k: np.zeros((len(x), units)) for k in ("i", "f", "g", "o", "c", "h")}
    h = np.zeros(units)
    c = np.zeros(units)
    xw = x @ kernel + bias
    for t in steps:
        z = xw[t] + h @ recurrent
        i, f = _sigmoid(z[:units]), _sigmoid(z[units : 2 * units])
        g, o = np.tanh(z[2 * units : 3 * units]), _sigmoid(z[3 * units :])
        c = f * c + i * g
        h = o * np.tanh(c)
        for k, v in zip("ifgoch", (i, f, g, o, c, h)):
            out[k][t] = v
    return out


def lstm_layers(model) -> list:
    """The model's Bidirectional LSTM layers, in order."""
    return [l for l in model.layers if l.__class__.__name__ == "Bidirectional"]


def lstm_traces(
    model, line: np.ndarray, frames: int | None = None
) -> dict[tuple[int, str], LSTMTrace]:
    """Gate activations and states of every LSTM layer for one preprocessed line (H x W);
    ``frames``: keep only the first ones (a line read padded, cut back to its own frames).

    Returns ``{(layer_index, "forward"|"backward"): LSTMTrace}``.
    """
    from ._keras import keras

    bidis = lstm_layers(model)
    probe = keras.Model(model.input, [b.input for b in bidis])
    inputs = probe(line[None, :, :, None].astype(np.float32), training=False)
    if len(bidis) == 1:
        inputs = [inputs]
    traces = {}
    for k, (b, x) in enumerate(zip(bidis, inputs)):
        x = keras.ops.convert_to_numpy(x)[0]
        for direction, rnn in (("forward", b.forward_layer), ("backward", b.backward_layer)):
            cell = rnn.cell
            s = run_lstm(
                x,
                keras.ops.convert_to_numpy(cell.kernel),
                keras.ops.convert_to_numpy(cell.recurrent_kernel),
                keras.ops.convert_to_numpy(cell.bias),
                reverse=direction == "backward",
            )
            s = {key: v[:frames] for key, v in s.items()}
            traces[(k, direction)] = LSTMTrace(
                b.name, direction, s["i"], s["f"], s["g"], s["o"], s["c"], s["h"]
            )
    return traces


def layer_outputs(model, line: np.ndarray) -> list[np.ndarray]:
    """Keras' own outputs of the Bidirectional layers for one line (T, 2 * units) each."""
    from ._keras import keras

    bidis = lstm_layers(model)
    probe = keras.Model(model.input, [b.output for b in bidis])
    outs = probe(line[None, :, :, None].astype(np.float32), training=False)
    outs = outs if isinstance(outs, (list, tuple)) else [outs]
    return [keras.ops.convert_to_numpy(o)[0] for o in outs]
