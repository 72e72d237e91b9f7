"""On-device inference: a ``.tflite`` file from ``handwriting export`` run by LiteRT.

Needs only ``ai-edge-litert``, ``numpy`` and ``opencv-python-headless``: this module never
imports TensorFlow or Keras. The file describes itself (charset, preprocessing, down-sampling
in its ``"handwriting"`` metadata entry), so it is all a device needs::

    from handwriting.runtime import read_line
    print(read_line("line.png", "default.tflite"))

The same preprocessing (:mod:`handwriting.preprocessing`) and CTC decoding
(:mod:`handwriting.decode`) as training and the Keras backend are used.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import threading
from pathlib import Path

import numpy as np

from .charset import Charset
from .config import PreprocessConfig
from .decode import beam_decode, greedy_decode
from .errors import ArtifactError, HandwritingError, check_format_version

# the .tflite format: the metadata entry export.py writes and this module reads, and its version
LITE_FORMAT_VERSION = 1
METADATA_NAME = "handwriting"


def read_metadata(path: str | Path) -> dict:
    """The ``"handwriting"`` metadata entry of a ``.tflite`` file (validated JSON)."""
    from ai_edge_litert import schema_py_generated as schema

    path = Path(path)
    if not path.is_file():
        raise ArtifactError(f"{path}: model file not found")
    data = path.read_bytes()
    try:
        if len(data) < 8 or data[4:8] != b"TFL3":
            raise ValueError("no TFL3 identifier")
        model = schema.Model.GetRootAs(data, 0)
        raw = None
        for i in range(model.MetadataLength()):
            entry = model.Metadata(i)
            if entry.Name() == METADATA_NAME.encode():
                buffer = model.Buffers(entry.Buffer())
                if buffer.Offset():  # large models keep buffers after the flatbuffer
                    raw = data[buffer.Offset() : buffer.Offset() + buffer.Size()]
                else:
                    raw = buffer.DataAsNumpy().tobytes()
    except Exception as exc:  # a truncated or foreign file: flatbuffers raises anything
        raise ArtifactError(
            f"{path}: not a readable TFLite model ({exc}); it may be truncated: "
            "copy it again, or export it again (`handwriting export`)"
        ) from None
    if raw is None:
        raise ArtifactError(
            f"{path}: no handwriting metadata in this TFLite file; export it "
            "with `handwriting export MODEL_DIR --out FILE.tflite`"
        )
    try:
        meta = json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise ArtifactError(f"{path}: unreadable handwriting metadata ({exc})") from None
    check_format_version(
        path, meta.get("format_version"), LITE_FORMAT_VERSION, "TFLite model", "re-export the model"
    )
    missing = [k for k in ("charset", "preprocess", "downsample") if k not in meta]
    if missing:
        raise ArtifactError(f"{path}: handwriting metadata lacks {', '.join(missing)}; re-export")
    return meta


_STDERR_LOCK = threading.Lock()
_stderr_closed = {
    "depth": 0,
    "saved": -1,
}  # threads nest: the first in closes, the last out restores


@contextlib.contextmanager
def native_stderr_closed():
    """Send what native libraries write to file descriptor 2 to /dev/null for a moment.

    TensorFlow and LiteRT print INFO lines from C++ (absl, oneDNN, "Created TensorFlow Lite
    XNNPACK delegate") that no setting silences; errors still reach the user as exceptions.
    Safe with threads: descriptor 2 is restored when the last thread inside leaves.
    """
    with _STDERR_LOCK:
        if _stderr_closed["depth"] == 0:
            sys.stderr.flush()
            _stderr_closed["saved"] = os.dup(2)
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 2)
            os.close(devnull)
        _stderr_closed["depth"] += 1
    try:
        yield
    finally:
        with _STDERR_LOCK:
            _stderr_closed["depth"] -= 1
            if _stderr_closed["depth"] == 0:
                os.dup2(_stderr_closed["saved"], 2)
                os.close(_stderr_closed["saved"])


def available_cores() -> int:
    """The CPU cores this process may run on (its affinity mask where the system has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


class _Interpreter:
    """One LiteRT interpreter with its tensors allocated for one line width at a time."""

    def __init__(self, path: Path, height: int, xnnpack: bool):
        from ai_edge_litert.interpreter import Interpreter, OpResolverType

        resolver = (
            OpResolverType.AUTO if xnnpack else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        )
        try:
            with native_stderr_closed():
                self.interpreter = Interpreter(
                    model_path=str(path), num_threads=1, experimental_op_resolver_type=resolver
                )
        except (ValueError, RuntimeError) as exc:
            raise ArtifactError(f"{path}: LiteRT cannot load it ({exc})") from None
        self.height = height
        self.input = self.interpreter.get_input_details()[0]["index"]
        self.output = self.interpreter.get_output_details()[0]["index"]
        self.width: int | None = None

    def run(self, line: np.ndarray) -> np.ndarray:
        """``(1, H, W, 1)`` float32 -> ``(1, T, C)``."""
        width = line.shape[2]
        if width != self.width:
            self.interpreter.resize_tensor_input(self.input, [1, self.height, width, 1])
            with native_stderr_closed():  # the XNNPACK delegate announces itself here
                self.interpreter.allocate_tensors()
            self.width = width
        # fused LSTMs keep their final state in variable tensors: start each line from zero
        self.interpreter.reset_all_variables()
        self.interpreter.set_tensor(self.input, np.ascontiguousarray(line, np.float32))
        self.interpreter.invoke()  # releases the GIL: interpreters in threads run in parallel
        return self.interpreter.get_tensor(self.output)


class LiteBackend:
    """A ``.tflite`` recognizer: ``predict((B, H, W, 1)) -> (B, T, C)`` probabilities.

    The exported graph has batch 1 and a free width, so the lines of a batch are split over
    ``threads`` interpreters (one CPU thread each) that run in parallel; interpreters are
    made when a batch first needs them.

    Args:
        path: the ``.tflite`` file.
        threads: interpreters run in parallel (default: :func:`available_cores`, at most 8).
        xnnpack: apply LiteRT's default XNNPACK CPU delegate (as LiteRT does by default);
            False runs the builtin kernels only (for comparisons).

    Example:
        >>> backend = LiteBackend("default.tflite")
        >>> probs = backend.predict(lines)  # lines: (B, H, W, 1) float32, ink 1, paper 0
    """

    def __init__(self, path: str | Path, threads: int | None = None, xnnpack: bool = True):
        if threads is not None and (
            isinstance(threads, bool) or not isinstance(threads, int) or threads < 1
        ):
            raise HandwritingError(f"threads must be an integer >= 1, got {threads!r}")
        self.path = Path(path)
        self.meta = read_metadata(self.path)
        try:
            self.charset = Charset.from_list(self.meta["charset"])
            self.preprocess_config = PreprocessConfig.from_dict(self.meta["preprocess"])
            self.downsample = int(self.meta["downsample"])
        except HandwritingError as exc:
            raise ArtifactError(f"{self.path}: {exc}") from None
        self.threads = threads or min(8, available_cores())
        self.xnnpack = xnnpack
        self._interpreters = [self._new_interpreter()]  # a model LiteRT cannot load fails here
        self._pool = None
        self._lock = threading.Lock()  # interpreters are not thread-safe: one call at a time

    def _new_interpreter(self) -> _Interpreter:
        return _Interpreter(self.path, self.preprocess_config.height, self.xnnpack)

    def predict_one(self, line: np.ndarray) -> np.ndarray:
        """``(1, H, W, 1)`` -> ``(1, T, C)``."""
        with self._lock:
            return self._interpreters[0].run(line)

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """``(B, H, W, 1)`` -> ``(B, T, C)``. Safe to call from several threads at once: one
        call at a time uses the interpreters (each runs its share of the batch)."""
        with self._lock:
            return self._predict(batch)

    def _predict(self, batch: np.ndarray) -> np.ndarray:
        batch = np.asarray(batch, np.float32)
        if (
            batch.ndim != 4
            or batch.shape[1] != self.preprocess_config.height
            or batch.shape[3] != 1
        ):
            raise HandwritingError(
                f"expected lines of shape (B, {self.preprocess_config.height}, "
                f"W, 1), got {batch.shape}"
            )
        n = min(self.threads, len(batch))
        if n <= 1:
            first = self._interpreters[0]
            return np.concatenate([first.run(batch[i : i + 1]) for i in range(len(batch))])
        while len(self._interpreters) < n:
            self._interpreters.append(self._new_interpreter())
        if self._pool is None:
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="litert")
        # interpreter k reads rows k, k + n, k + 2n, ...: one thread per interpreter
        parts = list(
            self._pool.map(
                lambda k: [
                    self._interpreters[k].run(batch[i : i + 1]) for i in range(k, len(batch), n)
                ],
                range(n),
            )
        )
        out = [None] * len(batch)
        for k, rows in enumerate(parts):
            out[k::n] = rows
        return np.concatenate(out)

    def close(self) -> None:
        """Stop the worker threads (also done when the backend is garbage-collected)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def __del__(self):
        pool = getattr(self, "_pool", None)
        if pool is not None:
            pool.shutdown(wait=False)


def read_line(
    image_path: str | Path,
    model_path: str | Path,
    beam: int = 0,
    threads: int | None = None,
    lm: str | Path | None = None,
) -> str:
    """Read one line image with a ``.tflite`` model: the minimal device path (load, the
    model's own preprocessing, LiteRT, CTC decoding; with an ``lm`` file from
    ``handwriting lm``, or ``"model"`` for the one beside the model, beam search with that
    language model, of width ``beam`` if it is a beam (> 1), else 10)."""
    from .images import load_image
    from .preprocessing import pad_to_bucket, preprocess

    backend = LiteBackend(model_path, threads=threads)
    line = preprocess(load_image(image_path), backend.preprocess_config)
    # padded to its width bucket as `handwriting recognize` pads it: the same text
    probs = backend.predict(pad_to_bucket(line)[None, :, :, None])[0]
    frames = min(line.shape[1] // backend.downsample, len(probs))
    fusion = None
    if lm is not None:
        from .lm import load_fusion

        fusion, beam = load_fusion(lm, backend.charset.chars, beam, model=model_path)
    decoded = (
        beam_decode(probs, beam, frames, fusion=fusion)
        if beam > 1
        else greedy_decode(probs, frames)
    )
    return backend.charset.decode(decoded.labels)
