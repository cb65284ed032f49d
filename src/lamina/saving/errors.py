"""The errors of `lamina.saving` (the function serializer has its own, in `functions.py`)."""

from __future__ import annotations

__all__ = ["LoadError", "SaveError", "UnknownClassError", "WeightsMismatchError"]


class SaveError(ValueError):
    """A model cannot be saved; raised before anything is written."""


class LoadError(ValueError):
    """A file or config cannot be loaded: malformed, hostile, from a newer lamina, or not
    matching the model. The message always names the file (or says it is a config)."""


class UnknownClassError(LoadError):
    """A config names a layer class that is neither lamina's, registered, nor in
    `custom_objects`."""


class WeightsMismatchError(LoadError):
    """The weights in a file do not match the model: missing, unexpected, or of another
    shape or dtype."""
