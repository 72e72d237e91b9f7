"""Keras (and TensorFlow), imported once and quietly, for the modules that build, train,
inspect or convert models: ``from ._keras import keras``.

Importing this module sets ``TF_CPP_MIN_LOG_LEVEL`` (unless set) and hides the INFO lines
TensorFlow's native libraries print while they load, which that variable does not silence.
Without the ``[train]`` extra it raises :class:`~handwriting.errors.MissingExtraError`
(one line with the install command). Reading with a ``.tflite`` model never imports it.
"""

from __future__ import annotations

import os

from .errors import missing_extra
from .runtime import native_stderr_closed


def _import_quietly(name: str):
    import importlib

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        with native_stderr_closed():
            return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        error = missing_extra(exc)
        if error is None:
            raise
        raise error from None


def tensorflow():
    """The ``tensorflow`` module, imported quietly (export needs it with any Keras backend)."""
    return _import_quietly("tensorflow")


def _tensorflow_installed() -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec("tensorflow") is not None
    except (ImportError, ValueError):
        return False


# TensorFlow first, so that its import-time logs are hidden too (Keras imports it for its
# data utilities under the other backends as well, when it is installed)
if os.environ.get("KERAS_BACKEND", "tensorflow") == "tensorflow" or _tensorflow_installed():
    tensorflow()
keras = _import_quietly("keras")
