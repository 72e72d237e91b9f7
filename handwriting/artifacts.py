"""One self-describing model directory: weights + charset + configs + format version + metrics.

Layout::

    MODEL_DIR/
      handwriting.json     format_version, charset, preprocess, model, training summary, metrics
      model.weights.h5     Keras weights (backend-independent)
      *.tflite             optional: its export for LiteRT (``handwriting export``)
      lm.json.gz           optional: its character language model (``--lm model``)

The default model is such a directory inside the package (:data:`DEFAULT_MODEL_DIR`); the
name ``"default"`` stands for it wherever a model is asked for (:func:`resolve`).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import shutil
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .charset import Charset
from .config import ModelConfig, PreprocessConfig
from .errors import ArtifactError, HandwritingError, check_format_version
from .fileio import check_free_space, os_reason, write_json_atomic

FORMAT_VERSION = 1
META_FILE = "handwriting.json"
WEIGHTS_FILE = "model.weights.h5"
DEFAULT_NAME = "default"
DEFAULT_MODEL_DIR = Path(__file__).resolve().parent / "models" / DEFAULT_NAME
DEFAULT_TFLITE = "default.tflite"


def resolve(model: str | Path | None = None) -> Path:
    """The path a model argument stands for: ``None`` means ``$HANDWRITING_MODEL`` if it is
    set, else ``"default"``; ``"default"`` means :data:`DEFAULT_MODEL_DIR` (the model shipped
    in the package); anything else is a path (a model directory or a ``.tflite`` file).
    The path is not checked here."""
    if model is None:
        model = os.environ.get("HANDWRITING_MODEL") or DEFAULT_NAME
    if isinstance(model, str) and model == DEFAULT_NAME:
        return DEFAULT_MODEL_DIR
    return Path(model)


def is_default(model: str | Path | None) -> bool:
    """Whether a model argument names the packaged default model (see :func:`resolve`)."""
    path = resolve(model)
    try:
        return path.resolve() == DEFAULT_MODEL_DIR
    except OSError:
        return False


def find_tflite(path: str | Path) -> Path:
    """The ``.tflite`` export inside a model directory (the packaged default's is
    ``default.tflite``); an :class:`ArtifactError` when it has none or several."""
    path = Path(path)
    found = sorted(p for p in path.glob("*.tflite") if p.is_file())
    if len(found) == 1:
        return found[0]
    if not found:
        raise ArtifactError(
            f"{path}: no .tflite file in this model directory; export one with "
            f"`handwriting export {path} --out {path / 'model.tflite'}`, or read "
            "it with --backend keras"
        )
    raise ArtifactError(
        f"{path}: holds {len(found)} .tflite files "
        f"({', '.join(p.name for p in found)}); name one with --model FILE.tflite"
    )


@dataclass
class Artifact:
    """A loaded model directory."""

    model: Any  # keras.Model
    charset: Charset
    preprocess: PreprocessConfig
    model_config: ModelConfig
    meta: dict = field(default_factory=dict)
    path: Path | None = None


def weights_bytes(model) -> int:
    """About how many bytes the model's weights file takes (its arrays, plus a tenth)."""
    return int(sum(w.nbytes for w in model.get_weights()) * 1.1)


def save(
    path: str | Path,
    model,
    charset: Charset,
    preprocess: PreprocessConfig,
    model_config: ModelConfig,
    training: dict | None = None,
    metrics: dict | None = None,
) -> Path:
    """Write the model directory atomically (a complete new directory replaces the old one);
    returns its path. Raises :class:`ArtifactError` when it cannot be written (the
    directory's previous model stays whole)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    check_free_space(path.parent, weights_bytes(model) + 2**20, "the model")
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}."))
    os.chmod(tmp, 0o755)  # mkdtemp makes it private; a model directory is meant to be shared
    try:
        model.save_weights(str(tmp / WEIGHTS_FILE))
        from . import __version__

        meta = {
            "format_version": FORMAT_VERSION,
            "handwriting_version": __version__,
            "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "charset": charset.to_list(),
            "preprocess": preprocess.to_dict(),
            "model": model_config.to_dict(),
            "parameters": int(model.count_params()),
            "training": training or {},
            "metrics": metrics or {},
        }
        write_json_atomic(tmp / META_FILE, meta)
        if path.exists():
            # keep whatever else the directory holds (checkpoints, logs): replace our two files
            for name in (WEIGHTS_FILE, META_FILE):
                os.replace(tmp / name, path / name)
            shutil.rmtree(tmp)
        else:
            os.replace(tmp, path)
    except OSError as exc:  # a full disk, a folder turned read-only: h5py or the system
        shutil.rmtree(tmp, ignore_errors=True)
        raise ArtifactError(f"{path}: cannot save the model ({os_reason(exc)})") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def read_meta(path: str | Path) -> dict:
    """Read and validate ``handwriting.json`` of a model directory (or ``"default"``)
    without building the model."""
    path = resolve(path)
    if not path.exists():
        raise ArtifactError(f"{path}: model directory not found")
    if not path.is_dir():
        what = "a .tflite file" if path.suffix.lower() == ".tflite" else "not a model directory"
        raise ArtifactError(
            f"{path}: {what}; this needs a model directory (a folder with "
            f"{META_FILE} and {WEIGHTS_FILE})"
        )
    meta_file = path / META_FILE
    if not meta_file.is_file():
        raise ArtifactError(f"{path}: no {META_FILE}; not a handwriting model directory")
    try:
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise ArtifactError(
            f"{meta_file}: unreadable ({exc}); the model directory is damaged"
        ) from None
    if not isinstance(meta, dict):
        raise ArtifactError(f"{meta_file}: not a JSON object; the model directory is damaged")
    check_format_version(
        path, meta.get("format_version"), FORMAT_VERSION, "model", "re-train or re-export the model"
    )
    missing = [k for k in ("charset", "preprocess", "model") if k not in meta]
    if missing:
        raise ArtifactError(
            f"{meta_file}: missing {', '.join(missing)}; the model directory is damaged"
        )
    return meta


def load(path: str | Path) -> Artifact:
    """Rebuild the recognizer from its directory (or ``"default"``): architecture, weights,
    charset, preprocessing. Needs Keras (the ``[train]`` extra)."""
    path = resolve(path)
    meta = read_meta(path)
    weights = path / WEIGHTS_FILE
    if not weights.is_file():
        raise ArtifactError(f"{path}: {WEIGHTS_FILE} is missing; the model directory is incomplete")
    with open(weights, "rb") as f:  # (an HDF5 file starts with its signature)
        if f.read(8) != b"\x89HDF\r\n\x1a\n":
            raise ArtifactError(
                f"{weights}: not a weights file (no HDF5 signature): the model "
                "directory is damaged; copy or download it again"
            )
    try:
        charset = Charset.from_list(meta["charset"])
        preprocess = PreprocessConfig.from_dict(meta["preprocess"])
        model_config = ModelConfig.from_dict(meta["model"])
    except HandwritingError as exc:
        raise ArtifactError(f"{path}: {exc}") from None
    except (TypeError, ValueError, AttributeError):
        raise ArtifactError(
            f"{path / META_FILE}: charset, preprocess or model has the wrong form; "
            "the model directory is damaged"
        ) from None
    from .model import build_model

    model = build_model(model_config, charset.n_classes, preprocess.height)
    try:
        with warnings.catch_warnings():  # Keras warns, then raises, on a mismatch: one message
            warnings.simplefilter("ignore")
            model.load_weights(str(weights))
    except Exception as exc:  # h5py / shape mismatch: the file does not fit the description
        reason = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        raise ArtifactError(
            f"{weights}: unreadable, or does not fit the model {META_FILE} "
            f"describes (its {charset.n_classes - 1} characters and architecture): "
            f"{reason}"
        ) from None
    return Artifact(model, charset, preprocess, model_config, meta, path)
