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
            raise ArtifactError(f"{path}: {what} format version {version!r} is not a number; "
                                f"the file is damaged ({redo})")
        newer = version > supported
        raise ArtifactError(
            f"{path}: {what} format version {version!r} is not supported by this handwriting "
            f"(which reads version {supported}); "
            + ("upgrade handwriting (pip install -U handwriting)" if newer else redo))
