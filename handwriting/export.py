"""Keras model directory -> one self-describing TFLite file (builtin ops only).

The exported graph takes one preprocessed line ``(1, height, width, 1)`` (float32, ink 1,
paper 0; the width is free at run time: LiteRT resizes it) and returns the softmax
probabilities ``(1, width // downsample, n_classes)``. CTC decoding stays on the host
(:mod:`handwriting.decode`), as for the Keras model.

The model's description (format version, charset, preprocessing, architecture with its
down-sampling factor, the source model's metrics) travels inside the file as a TFLite
metadata entry named ``"handwriting"`` holding UTF-8 JSON, so the ``.tflite`` alone is enough
to read lines (see :mod:`handwriting.runtime`).

Fused LSTMs: Keras 3 LSTMs convert to ``WHILE`` loops. With ``fused=True`` each
``Bidirectional(LSTM)`` is replaced by :class:`FusedBiLSTM`, which runs the same weights
through a ``tf.function`` the converter recognizes as a Keras LSTM composite
(``api_implements="lstm_<uuid>"``) and turns into one ``UNIDIRECTIONAL_SEQUENCE_LSTM`` op per
direction. The converter sets a cell clip of 10 on that op; Keras does not clip, so the
clip is removed from the written file (cell states of a trained model can exceed 10).

Quantization (``quantize``):

- ``"none"``: float32.
- ``"float16"``: float16 weights, float32 compute.
- ``"dynamic"``: int8 weights, activations quantized on the fly (hybrid kernels).
- ``"int8"``: weights and activations int8, calibrated on representative lines; the input
  and output stay float32 (the graph quantizes/dequantizes at its ends), so the runtime and
  the decoder are the same for every mode. Ops without an int8 kernel stay float.
"""
from __future__ import annotations

import datetime as _dt
import json
import logging
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import keras
import tensorflow as tf
from keras import layers

from . import artifacts
from .errors import HandwritingError
from .fileio import write_atomic

log = logging.getLogger(__name__)

LITE_FORMAT_VERSION = 1
METADATA_NAME = "handwriting"
QUANTIZE_MODES = ("none", "float16", "dynamic", "int8")


# ---------------------------------------------------------------- fusable LSTM
def _lstm_step(kernel, recurrent_kernel, bias):
    def step(state, x_t):
        h, c = state
        z = tf.matmul(x_t, kernel) + tf.matmul(h, recurrent_kernel) + bias
        i, f, g, o = tf.split(z, 4, axis=1)  # Keras gate order: input, forget, cell, output
        c = tf.sigmoid(f) * c + tf.sigmoid(i) * tf.tanh(g)
        h = tf.sigmoid(o) * tf.tanh(c)
        return h, c
    return step


def fusable_lstm() -> tf.types.experimental.GenericFunction:
    """A new ``tf.function`` computing a Keras LSTM (tanh, sigmoid gates, no mask, batch
    major) in the form the TFLite converter fuses into ``UNIDIRECTIONAL_SEQUENCE_LSTM``.

    Signature ``(inputs (B, T, F), init_h (B, U), init_c (B, U), kernel (F, 4U),
    recurrent_kernel (U, 4U), bias (4U,)) -> (last_output, outputs (B, T, U), h, c, runtime)``
    as in tf_keras' ``standard_lstm``; ``B`` must be static for the converter. Each call of
    this factory makes a function with its own ``api_implements`` name.

    Example:
        >>> lstm = fusable_lstm()
        >>> outputs = lstm(x, h0, c0, kernel, recurrent_kernel, bias)[1]
    """
    attributes = {"api_implements": f"lstm_{uuid.uuid4()}", "api_preferred_device": "CPU",
                  "time_major": False, "go_backwards": False}

    @tf.function(experimental_attributes=attributes, autograph=False)
    def lstm(inputs, init_h, init_c, kernel, recurrent_kernel, bias):
        steps = tf.transpose(inputs, [1, 0, 2])  # time major for the scan
        hs, cs = tf.scan(_lstm_step(kernel, recurrent_kernel, bias), steps,
                         initializer=(init_h, init_c))
        outputs = tf.transpose(hs, [1, 0, 2])
        last_h = tf.ensure_shape(hs[-1], init_h.shape)
        last_c = tf.ensure_shape(cs[-1], init_c.shape)
        # `runtime` must be a float scalar (a string makes conversion fail)
        return last_h, outputs, last_h, last_c, tf.constant(0.0)

    return lstm


@keras.saving.register_keras_serializable(package="handwriting")
class FusedBiLSTM(layers.Layer):
    """A bidirectional LSTM (concatenated outputs, full sequences) whose two directions
    convert to fused TFLite ``UNIDIRECTIONAL_SEQUENCE_LSTM`` ops. TensorFlow backend only;
    the batch size must be static (export uses 1).

    Args:
        units: units per direction.
        **kwargs: passed to ``keras.layers.Layer``.

    Example:
        >>> layer = FusedBiLSTM.from_bidirectional(model.get_layer("bilstm0"))
        >>> y = layer(x)  # (1, T, 2 * units), equal to the Bidirectional layer's output
    """

    DIRECTIONS = ("forward", "backward")

    def __init__(self, units: int, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        features = input_shape[-1]
        for d in self.DIRECTIONS:
            setattr(self, f"{d}_kernel", self.add_weight(
                shape=(features, 4 * self.units), name=f"{d}_kernel"))
            setattr(self, f"{d}_recurrent_kernel", self.add_weight(
                shape=(self.units, 4 * self.units), name=f"{d}_recurrent_kernel"))
            setattr(self, f"{d}_bias", self.add_weight(
                shape=(4 * self.units,), name=f"{d}_bias", initializer="zeros"))

    @classmethod
    def from_bidirectional(cls, bidirectional: layers.Bidirectional, name: str | None = None):
        """The fusable twin of a built ``Bidirectional(LSTM(return_sequences=True))`` with
        the default activations, no masking and merge mode ``concat``, holding its weights."""
        fw, bw = bidirectional.forward_layer, bidirectional.backward_layer
        if not isinstance(fw, layers.LSTM) or not isinstance(bw, layers.LSTM):
            raise HandwritingError(f"{bidirectional.name}: only Bidirectional(LSTM) can be fused")
        for lstm in (fw, bw):
            cell = lstm.cell
            if (not lstm.return_sequences or not cell.use_bias
                    or cell.activation is not keras.activations.tanh
                    or cell.recurrent_activation is not keras.activations.sigmoid):
                raise HandwritingError(f"{lstm.name}: only LSTMs with tanh/sigmoid activations, "
                                       "a bias and return_sequences=True can be fused")
        if bidirectional.merge_mode != "concat":
            raise HandwritingError(f"{bidirectional.name}: merge mode {bidirectional.merge_mode!r} "
                                   "cannot be fused (only 'concat')")
        layer = cls(fw.units, name=name or bidirectional.name)
        features = fw.cell.kernel.shape[0]
        layer.build((1, None, features))
        layer.set_weights([np.asarray(keras.ops.convert_to_numpy(w)) for w in
                           (fw.cell.kernel, fw.cell.recurrent_kernel, fw.cell.bias,
                            bw.cell.kernel, bw.cell.recurrent_kernel, bw.cell.bias)])
        return layer

    def _direction(self, d: str, x):
        batch = x.shape[0]
        if batch is None:
            raise HandwritingError("FusedBiLSTM needs a static batch size (export uses 1)")
        zeros = tf.zeros((batch, self.units), x.dtype)
        weights = [tf.convert_to_tensor(getattr(self, f"{d}{n}"))  # variables as tensors
                   for n in ("_kernel", "_recurrent_kernel", "_bias")]
        return fusable_lstm()(x, zeros, zeros, *weights)[1]

    def call(self, inputs):
        forward = self._direction("forward", inputs)
        backward = tf.reverse(self._direction("backward", tf.reverse(inputs, [1])), [1])
        return tf.concat([forward, backward], axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], 2 * self.units)

    def get_config(self):
        return {**super().get_config(), "units": self.units}


# ---------------------------------------------------------------- inference graph
def inference_model(model: keras.Model, height: int, fused: bool = True) -> keras.Model:
    """The graph to export: ``model``'s layers (shared weights) on a ``(1, height, None, 1)``
    input, without dropout, with fusable LSTMs if ``fused``; output: the probabilities."""
    inputs = keras.Input(batch_shape=(1, height, None, 1), name="image")
    x = inputs
    for layer in model.layers:
        if isinstance(layer, (layers.InputLayer, layers.Dropout)):
            continue
        if fused and isinstance(layer, layers.Bidirectional):
            layer = FusedBiLSTM.from_bidirectional(layer)
        x = layer(x)
    return keras.Model(inputs, x, name="handwriting_lite")
