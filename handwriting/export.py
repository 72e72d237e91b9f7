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
import tempfile
import uuid
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from . import artifacts
from ._keras import keras, tensorflow
from .errors import HandwritingError
from .fileio import check_writable, write_atomic
from .runtime import LITE_FORMAT_VERSION, METADATA_NAME

tf = tensorflow()
layers = keras.layers

log = logging.getLogger(__name__)

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
    attributes = {
        "api_implements": f"lstm_{uuid.uuid4()}",
        "api_preferred_device": "CPU",
        "time_major": False,
        "go_backwards": False,
    }

    @tf.function(experimental_attributes=attributes, autograph=False)
    def lstm(inputs, init_h, init_c, kernel, recurrent_kernel, bias):
        steps = tf.transpose(inputs, [1, 0, 2])  # time major for the scan
        hs, cs = tf.scan(
            _lstm_step(kernel, recurrent_kernel, bias), steps, initializer=(init_h, init_c)
        )
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
            setattr(
                self,
                f"{d}_kernel",
                self.add_weight(shape=(features, 4 * self.units), name=f"{d}_kernel"),
            )
            setattr(
                self,
                f"{d}_recurrent_kernel",
                self.add_weight(shape=(self.units, 4 * self.units), name=f"{d}_recurrent_kernel"),
            )
            setattr(
                self,
                f"{d}_bias",
                self.add_weight(shape=(4 * self.units,), name=f"{d}_bias", initializer="zeros"),
            )

    @classmethod
    def from_bidirectional(cls, bidirectional: layers.Bidirectional, name: str | None = None):
        """The fusable twin of a built ``Bidirectional(LSTM(return_sequences=True))`` with
        the default activations, no masking and merge mode ``concat``, holding its weights."""
        fw, bw = bidirectional.forward_layer, bidirectional.backward_layer
        if not isinstance(fw, layers.LSTM) or not isinstance(bw, layers.LSTM):
            raise HandwritingError(f"{bidirectional.name}: only Bidirectional(LSTM) can be fused")
        for lstm in (fw, bw):
            cell = lstm.cell
            if (
                not lstm.return_sequences
                or not cell.use_bias
                or cell.activation is not keras.activations.tanh
                or cell.recurrent_activation is not keras.activations.sigmoid
            ):
                raise HandwritingError(
                    f"{lstm.name}: only LSTMs with tanh/sigmoid activations, "
                    "a bias and return_sequences=True can be fused"
                )
        if bidirectional.merge_mode != "concat":
            raise HandwritingError(
                f"{bidirectional.name}: merge mode {bidirectional.merge_mode!r} "
                "cannot be fused (only 'concat')"
            )
        layer = cls(fw.units, name=name or bidirectional.name)
        features = fw.cell.kernel.shape[0]
        layer.build((1, None, features))
        layer.set_weights(
            [
                np.asarray(keras.ops.convert_to_numpy(w))
                for w in (
                    fw.cell.kernel,
                    fw.cell.recurrent_kernel,
                    fw.cell.bias,
                    bw.cell.kernel,
                    bw.cell.recurrent_kernel,
                    bw.cell.bias,
                )
            ]
        )
        return layer

    def _direction(self, d: str, x):
        batch = x.shape[0]
        if batch is None:
            raise HandwritingError("FusedBiLSTM needs a static batch size (export uses 1)")
        zeros = tf.zeros((batch, self.units), x.dtype)
        weights = [
            tf.convert_to_tensor(getattr(self, f"{d}{n}"))  # variables as tensors
            for n in ("_kernel", "_recurrent_kernel", "_bias")
        ]
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


# ---------------------------------------------------------------- calibration lines
def calibration_lines(
    dirs: str | Path | Sequence[str | Path], preprocess_config, limit: int = 100, seed: int = 0
) -> list[np.ndarray]:
    """Up to ``limit`` lines drawn (seeded) from line ground truth in ``dirs``, preprocessed
    with the model's own configuration: the representative data set of int8 calibration."""
    from .groundtruth import load_line_image, scan_line_dirs
    from .preprocessing import preprocess

    if isinstance(dirs, (str, Path)):
        dirs = [dirs]
    records, _ = scan_line_dirs(dirs)
    if not records:
        raise HandwritingError(
            f"no line images with transcriptions in {', '.join(map(str, dirs))}; "
            "int8 calibration needs a folder of line ground truth"
        )
    rng = np.random.default_rng(seed)
    pick = sorted(rng.choice(len(records), size=min(limit, len(records)), replace=False))
    lines = []
    for i in pick:
        try:
            lines.append(preprocess(load_line_image(records[i]), preprocess_config))
        except HandwritingError as exc:
            log.warning("calibration: skipped %s (%s)", records[i].image or records[i].id, exc)
    return lines


# ---------------------------------------------------------------- conversion
def _convert(model: keras.Model, height: int, quantize: str, lines) -> bytes:
    tf_log = logging.getLogger("tensorflow")
    level = tf_log.level
    tf_log.setLevel(max(level, logging.WARNING))  # quiet "Assets written to: <tmp dir>"
    try:
        return _convert_saved_model(model, height, quantize, lines)
    finally:
        tf_log.setLevel(level)


def _convert_saved_model(model: keras.Model, height: int, quantize: str, lines) -> bytes:
    with tempfile.TemporaryDirectory(prefix="handwriting-export-") as saved:
        # Keras 3's own LiteRT path: ExportArchive -> SavedModel -> converter (variables are
        # frozen on the way; from_concrete_functions leaves READ_VARIABLE ops in WHILE bodies)
        archive = keras.export.ExportArchive()
        archive.track(model)
        archive.add_endpoint(
            "serve",
            lambda image: model(image, training=False),
            input_signature=[keras.InputSpec(shape=(1, height, None, 1), dtype="float32")],
        )
        archive.write_out(saved, verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(saved)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        if quantize != "none":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if quantize == "float16":
            converter.target_spec.supported_types = [tf.float16]
        elif quantize == "int8":

            def representative():
                for line in lines:
                    yield [line[None, :, :, None].astype(np.float32)]

            converter.representative_dataset = representative
        import contextlib

        from .runtime import native_stderr_closed

        # the converter's C++ INFO lines ("fully_quantize: 0, ..."), kept for --debug
        quiet = (
            contextlib.nullcontext() if log.isEnabledFor(logging.DEBUG) else native_stderr_closed()
        )
        try:
            with quiet:
                return bytes(converter.convert())
        except Exception as exc:  # converter errors are long; keep the first line
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise HandwritingError(f"TFLite conversion failed ({quantize}): {first}") from exc


def _finish(data: bytes, meta: dict) -> bytes:
    """Remove the converter's cell clip from fused LSTMs and embed ``meta`` as metadata."""
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(data)
    lstm_codes = {
        i
        for i, code in enumerate(model.operatorCodes)
        if max(code.builtinCode, code.deprecatedBuiltinCode)
        == schema.BuiltinOperator.UNIDIRECTIONAL_SEQUENCE_LSTM
    }
    for subgraph in model.subgraphs:
        for op in subgraph.operators:
            if op.opcodeIndex in lstm_codes and op.builtinOptions is not None:
                op.builtinOptions.cellClip = 0.0  # Keras LSTMs do not clip the cell state
    buffer = schema.BufferT()
    buffer.data = np.frombuffer(json.dumps(meta, ensure_ascii=False).encode("utf-8"), np.uint8)
    model.buffers.append(buffer)
    entry = schema.MetadataT()
    entry.name = METADATA_NAME
    entry.buffer = len(model.buffers) - 1
    model.metadata = [
        m
        for m in (model.metadata or [])
        if (m.name.decode() if isinstance(m.name, bytes) else m.name) != METADATA_NAME
    ]
    model.metadata.append(entry)
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def export(
    model_dir: str | Path,
    out: str | Path,
    quantize: str = "dynamic",
    representative=None,
    fused: bool = True,
    calibration_limit: int = 100,
) -> Path:
    """Convert a model directory to one self-describing ``.tflite`` file (written atomically).

    Args:
        model_dir: a model directory, or ``"default"`` (see :mod:`handwriting.artifacts`).
        out: the ``.tflite`` file to write.
        quantize: ``"dynamic"`` (int8 weights, as the default model ships: a quarter of
            the size at the same CER), ``"none"`` (float32), ``"float16"`` or ``"int8"``.
        representative: for ``"int8"``: a folder (or folders) of line ground truth, or a list
            of preprocessed lines (float ``H x W``); ``calibration_limit`` lines are used.
        fused: convert the LSTMs to fused ``UNIDIRECTIONAL_SEQUENCE_LSTM`` ops (else they
            become ``WHILE`` loops; kept for comparison).

    Returns:
        ``out`` as a ``Path``.

    Example:
        >>> export("default", "default.tflite")
    """
    if quantize not in QUANTIZE_MODES:
        raise HandwritingError(
            f"unknown quantization {quantize!r}; choose one of {', '.join(QUANTIZE_MODES)}"
        )
    out = Path(out)
    if out.suffix != ".tflite":
        raise HandwritingError(f"{out}: the output file must end in .tflite")
    check_writable(out)  # before the conversion, not after it
    if keras.backend.backend() != "tensorflow":
        raise HandwritingError(
            "TFLite export needs the TensorFlow Keras backend (set KERAS_BACKEND=tensorflow)"
        )
    art = artifacts.load(model_dir)
    height = art.preprocess.height
    lines = None
    if quantize == "int8":
        if representative is None:
            raise HandwritingError(
                "int8 quantization needs representative lines: pass a folder of "
                "line ground truth (--calibration DIR, e.g. training lines)"
            )
        if isinstance(representative, (str, Path)) or (
            isinstance(representative, (list, tuple))
            and representative
            and isinstance(representative[0], (str, Path))
        ):
            lines = calibration_lines(representative, art.preprocess, calibration_limit)
        else:
            lines = [np.asarray(l, np.float32) for l in representative][:calibration_limit]
        if not lines:
            raise HandwritingError("int8 quantization: no representative lines could be read")
        bad = [l.shape for l in lines if l.ndim != 2 or l.shape[0] != height]
        if bad:
            raise HandwritingError(
                f"representative lines must be preprocessed (height {height} x W); got {bad[0]}"
            )
    graph = inference_model(art.model, height, fused=fused)
    data = _convert(graph, height, quantize, lines)
    from . import __version__

    source = art.meta
    meta = {
        "format": "handwriting-tflite",
        "format_version": LITE_FORMAT_VERSION,
        "handwriting_version": __version__,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "charset": art.charset.to_list(),
        "preprocess": art.preprocess.to_dict(),
        "model": art.model_config.to_dict(),
        "downsample": art.model_config.downsample,
        "input": {
            "shape": [1, height, -1, 1],
            "dtype": "float32",
            "layout": "one preprocessed line, ink 1 and paper 0, width free",
        },
        "output": {
            "shape": [1, -1, art.charset.n_classes],
            "dtype": "float32",
            "content": "softmax probabilities per frame, class 0 = CTC blank",
        },
        "quantize": quantize,
        "fused_lstm": bool(fused),
        "calibration_lines": len(lines) if lines else 0,
        "source": {
            "name": artifacts.resolve(model_dir).resolve().name,
            "format_version": source.get("format_version"),
            "created": source.get("created"),
            "parameters": source.get("parameters"),
            "metrics": source.get("metrics", {}),
        },
    }
    data = _finish(data, meta)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(out, data)
    log.debug("wrote %s (%.1f MB, %s)", out, len(data) / 1e6, quantize)
    return out


# ---------------------------------------------------------------- inspection
def list_ops(path: str | Path) -> list[str]:
    """The op of every operator in every subgraph of a ``.tflite`` file (``WHILE`` bodies
    included): builtin names such as ``"CONV_2D"``, or the custom code (``"Flex..."``)."""
    from ai_edge_litert import schema_py_generated as schema

    data = Path(path).read_bytes()
    model = schema.Model.GetRootAs(data, 0)
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    codes = []
    for i in range(model.OperatorCodesLength()):
        code = model.OperatorCodes(i)
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        if builtin == schema.BuiltinOperator.CUSTOM:
            custom = code.CustomCode()
            codes.append(custom.decode() if custom else "CUSTOM")
        else:
            codes.append(names.get(builtin, f"BUILTIN_{builtin}"))
    ops = []
    for s in range(model.SubgraphsLength()):
        subgraph = model.Subgraphs(s)
        for o in range(subgraph.OperatorsLength()):
            ops.append(codes[subgraph.Operators(o).OpcodeIndex()])
    return ops


def op_summary(path: str | Path) -> dict:
    """Op counts of a ``.tflite`` file, and whether Flex (TF select) or WHILE ops remain."""
    ops = list_ops(path)
    counts = Counter(ops)
    return {
        "ops": dict(counts.most_common()),
        "flex": sorted(k for k in counts if k.startswith("Flex")),
        "while": counts.get("WHILE", 0),
        "fused_lstm": counts.get("UNIDIRECTIONAL_SEQUENCE_LSTM", 0)
        + counts.get("BIDIRECTIONAL_SEQUENCE_LSTM", 0),
    }
