"""The recognizer network: CNN front end -> per-column features -> stacked BiLSTM -> softmax.

Every layer has a fixed name, so weights saved under one Keras backend (JAX on a GPU, say)
load by name under another (TensorFlow on a CPU).
"""

from __future__ import annotations

from ._keras import keras
from .config import ModelConfig

layers, ops = keras.layers, keras.ops


def build_model(config: ModelConfig, n_classes: int, height: int) -> keras.Model:
    """Build the inference model.

    Args:
        config: the architecture.
        n_classes: charset size + 1 (the CTC blank is class 0).
        height: input height in pixels (``PreprocessConfig.height``).

    Returns:
        A model mapping ``(batch, height, width, 1)`` images (ink 1, paper 0; width free) to
        ``(batch, width // config.downsample, n_classes)`` probabilities. The layer named
        ``"logits"`` holds the pre-softmax scores that training feeds to the CTC loss.

    Example:
        >>> m = build_model(ModelConfig(), n_classes=80, height=48)
        >>> m.output_shape
        (None, None, 80)
    """
    inputs = keras.Input((height, None, 1), name="image")
    x = inputs
    h = height
    for i, (filters, pool) in enumerate(zip(config.conv_filters, config.pools)):
        if config.separable and i > 0:
            x = layers.SeparableConv2D(filters, 3, padding="same", use_bias=False, name=f"conv{i}")(
                x
            )
        else:
            x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"conv{i}")(x)
        x = layers.BatchNormalization(name=f"bn{i}")(x)
        x = layers.ReLU(name=f"relu{i}")(x)
        if tuple(pool) != (1, 1):
            x = layers.MaxPooling2D(tuple(pool), name=f"pool{i}")(x)
            h //= pool[0]
    if h < 1:
        raise ValueError(f"the pools reduce height {height} below 1 pixel")
    if config.column_pool == "max":  # (B, h, W', C) -> (B, 1, W', C): the height's maximum
        x = layers.MaxPooling2D((h, 1), name="height_max")(x)
        h = 1
    # (B, h, W', C) -> (B, W', h * C): one feature vector per column
    x = layers.Permute((2, 1, 3), name="columns")(x)
    x = layers.Reshape((-1, h * config.conv_filters[-1]), name="collapse")(x)
    if config.projection:
        x = layers.Dense(config.projection, activation="relu", name="project")(x)
    for i in range(config.lstm_layers):
        x = layers.Dropout(config.dropout, name=f"drop{i}")(x)
        x = layers.Bidirectional(
            layers.LSTM(config.lstm_units, return_sequences=True, name=f"lstm{i}"),
            name=f"bilstm{i}",
        )(x)
    x = layers.Dropout(config.dropout, name="drop_out")(x)
    logits = layers.Dense(n_classes, name="logits")(x)
    probs = layers.Activation("softmax", name="probs")(logits)
    return keras.Model(inputs, probs, name="handwriting")


SHORTCUT = "shortcut"


def logits_model(model: keras.Model, shortcut: bool = False) -> keras.Model:
    """The training view of ``model``: same weights, pre-softmax output.

    With ``shortcut``, a 1-D convolution (kernel 3, layer ``"shortcut"``) also reads the
    CNN columns (layer ``"collapse"``) into class scores, and the output is the main logits and
    the shortcut's concatenated on the last axis (``2 * n_classes``), for
    :func:`make_ctc_loss`. The shortcut's weights belong to this view only.
    """
    logits = model.get_layer("logits").output
    if not shortcut:
        return keras.Model(model.input, logits, name="handwriting_logits")
    n_classes = logits.shape[-1]
    side = layers.Conv1D(n_classes, 3, padding="same", name=SHORTCUT)(
        model.get_layer("collapse").output
    )
    both = layers.Concatenate(name="logits_and_shortcut")([logits, side])
    return keras.Model(model.input, both, name="handwriting_logits_shortcut")


def ctc_loss(y_true, y_pred):
    """CTC loss for ``fit``: ``y_true[:, 0]`` is the number of valid frames of each line and
    ``y_true[:, 1:]`` its labels padded with 0 (the blank, never a label); ``y_pred`` are logits."""
    y_true = ops.cast(y_true, "int32")
    frames = y_true[:, 0]
    labels = y_true[:, 1:]
    label_lengths = ops.sum(ops.cast(labels > 0, "int32"), axis=1)
    return ops.ctc_loss(labels, y_pred, label_lengths, frames, mask_index=0)


def make_ctc_loss(shortcut: float = 0.0):
    """The loss for a :func:`logits_model` view: :func:`ctc_loss`, plus ``shortcut`` times
    the CTC loss of the shortcut head when the view has one (its output is twice as wide)."""
    if not shortcut:
        return ctc_loss

    def ctc_with_shortcut(y_true, y_pred):
        main, side = ops.split(y_pred, 2, axis=-1)
        return ctc_loss(y_true, main) + shortcut * ctc_loss(y_true, side)

    return ctc_with_shortcut


def widen_lstm(
    model: keras.Model,
    config: ModelConfig,
    units: int,
    n_classes: int,
    height: int,
    trainable_seed: int | None = None,
) -> keras.Model:
    """The same network with ``units`` LSTM units per direction instead of
    ``config.lstm_units``; the outputs do not change (up to float rounding).

    By default the new units get zero weights, so they stay at zero: some layer widths run
    much slower than their neighbours on some CPUs (see the model card), and this trades a
    few inert units for speed without retraining. With ``trainable_seed`` the weights *into* the new units are drawn at random
    (Glorot uniform, forget-gate bias 1) while every weight *from* a new unit stays zero: the
    outputs are still unchanged, but fine-tuning now trains the new units (more capacity for
    a model that underfits). Units that were already inert (zero-padded) stay inert: widen
    the unpadded weights.

    Args:
        model: a model built by :func:`build_model` from ``config``.
        config: its architecture.
        units: the new number of units (>= ``config.lstm_units``).
        n_classes, height: as for :func:`build_model`.
        trainable_seed: None for inert zero units, else the seed of the new units' weights.

    Returns:
        The widened model (its config: ``dataclasses.replace(config, lstm_units=units)``).

    Example:
        >>> wide = widen_lstm(m, cfg, 264, n_classes=150, height=40)
    """
    import dataclasses

    import numpy as np

    old = config.lstm_units
    if units < old:
        raise ValueError(f"units must be >= the model's {old} LSTM units, got {units}")
    wide = build_model(dataclasses.replace(config, lstm_units=units), n_classes, height)

    rng = np.random.default_rng(trainable_seed)

    def gates(w, axis):  # (..., 4 * old) -> (..., 4 * units), a block of new units per gate
        new = []
        for g, block in enumerate(np.split(w, 4, axis=axis)):  # gates i, f, c, o
            shape = list(block.shape)
            shape[axis] = units - old
            if trainable_seed is None:
                fill = np.zeros(shape, w.dtype)
            elif w.ndim == 1:  # bias
                fill = np.full(shape, 1.0 if g == 1 else 0.0, w.dtype)
            else:
                limit = np.sqrt(6 / (w.shape[0] + 4 * units))
                fill = rng.uniform(-limit, limit, shape).astype(w.dtype)
            new.append(np.concatenate([block, fill], axis=axis))
        return np.concatenate(new, axis=axis)

    def rows(w):  # inputs [forward (old), backward (old)] -> [forward (units), backward (units)]
        zeros = np.zeros((units - old,) + w.shape[1:], w.dtype)
        return np.concatenate([w[:old], zeros, w[old:], zeros])

    for layer in model.layers:
        weights = layer.get_weights()
        if layer.name.startswith("bilstm"):
            padded = []
            for kernel, recurrent, bias in (weights[:3], weights[3:]):  # forward, backward
                if layer.name != "bilstm0":  # its inputs come from the BiLSTM below
                    kernel = rows(kernel)
                recurrent = np.pad(recurrent, ((0, units - old), (0, 0)))
                # rows (inputs) from new units are zero in the old units' columns; the new
                # units' columns (all rows) are filled by gates()
                padded += [gates(kernel, 1), gates(recurrent, 1), gates(bias, 0)]
            weights = padded
        elif layer.name == "logits":
            weights = [rows(weights[0]), weights[1]]
        wide.get_layer(layer.name).set_weights(weights)
    return wide
