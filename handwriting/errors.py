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
