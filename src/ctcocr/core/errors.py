"""Exceptions of ctcocr. Each message names the file or value at fault and the fix.

The CLI prints `str(error)` on one line and exits non-zero; no traceback reaches the user.
"""

from __future__ import annotations


class CtcocrError(Exception):
    """Base class of every error ctcocr raises on purpose."""

    def __str__(self) -> str:
        # Raised in a DataLoader worker, an error comes back as "Caught X in DataLoader worker
        # ... Original Traceback ... ctcocr.core.errors.X: message": keep the message only.
        text = super().__str__()
        marker = f"\n{type(self).__module__}.{type(self).__qualname__}: "
        return text.rsplit(marker, 1)[1].rstrip() if marker in text else text


class CharsetError(CtcocrError, ValueError):
    """A label or charset holds a character the model cannot output, or is malformed."""


class LabelError(CtcocrError, ValueError):
    """A label is empty or too long for the model's time steps."""


class ImageError(CtcocrError, ValueError):
    """An image cannot be read: missing, truncated, or not an image."""


class NotAnImageError(ImageError):
    """The bytes are in no image format Pillow reads (the HTTP service answers 415)."""


class ImageTooLargeError(ImageError):
    """An image has more pixels than ctcocr opens: a decompression-bomb guard (HTTP 413)."""


class DataError(CtcocrError, ValueError):
    """A dataset path, manifest or folder is missing, empty or malformed."""


class ModelFileError(CtcocrError, ValueError):
    """A model or run folder is missing, incomplete, or from an incompatible version."""


class ConfigError(CtcocrError, ValueError):
    """A configuration value is out of range or inconsistent with another."""


class ExpressionError(CtcocrError, ValueError):
    """A text read for `--answer arithmetic` is not an arithmetic expression."""
