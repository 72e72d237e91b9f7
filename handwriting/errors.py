"""Exceptions with messages a user can act on."""


class HandwritingError(Exception):
    """Base class: the CLI prints the message on one line and exits non-zero."""


class ImageError(HandwritingError):
    """An input image is missing, unreadable, empty or not an image."""


class CharsetError(HandwritingError):
    """A label holds characters the model's charset does not know."""


class ArtifactError(HandwritingError):
    """A model directory is missing, incomplete or of an unknown format version."""


class DataError(HandwritingError):
    """Ground truth is missing, malformed or does not fit the model."""


def check_format_version(path, version, supported: int, what: str, redo: str) -> None:
    """Raise :class:`ArtifactError` unless ``version == supported``, saying what to do."""
    if version != supported:
        if not isinstance(version, int) or isinstance(version, bool):
            raise ArtifactError(
                f"{path}: {what} format version {version!r} is not a number; "
                f"the file is damaged ({redo})"
            )
        newer = version > supported
        raise ArtifactError(
            f"{path}: {what} format version {version!r} is not supported by this handwriting "
            f"(which reads version {supported}); "
            + ("upgrade handwriting (pip install -U handwriting)" if newer else redo)
        )


# the optional packages, by the extra that installs them, and what needs them
EXTRAS = {
    "tensorflow": ("train", "training, export, inspect, plots and --backend keras"),
    "keras": ("train", "training, export, inspect, plots and --backend keras"),
    "matplotlib": ("train", "plots and inspect figures"),
    "jax": ("jax", "KERAS_BACKEND=jax"),
    "fontTools": ("synth", "synth"),
    "ocrmypdf": ("pdf", "--format pdf"),
    "pikepdf": ("pdf", "--format pdf"),
    "starlette": ("serve", "handwriting serve"),
    "uvicorn": ("serve", "handwriting serve"),
    "multipart": ("serve", "handwriting serve"),
    "python_multipart": ("serve", "handwriting serve"),
    "ray": ("scale", "handwriting batch"),
    "pyarrow": ("scale", "handwriting batch"),
}


class MissingExtraError(HandwritingError):
    """A feature needs a package of an optional extra (``[train]``: TensorFlow, Keras,
    matplotlib; ``[synth]``: fontTools; ``[pdf]``: OCRmyPDF; ``[serve]``: Starlette, uvicorn) that this install lacks; reading
    never does."""


def missing_extra(exc: ModuleNotFoundError) -> MissingExtraError | None:
    """The :class:`MissingExtraError` that ``exc`` means, or None when ``exc`` is about a
    module outside the optional extras."""
    name = (exc.name or "").split(".")[0]
    if name not in EXTRAS:
        return None
    extra, users = EXTRAS[name]
    return MissingExtraError(
        f"this needs {name}, which is not installed ({users} use the [{extra}] extra): "
        f'pip install "handwriting[{extra}]" (from a checkout: pip install -e ".[{extra}]")'
    )
