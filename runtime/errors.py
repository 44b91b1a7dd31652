"""One family of exceptions for everything sam-edge rejects.

Every message says what was wrong and what is accepted. The CLI prints the message on one line and
exits with status 2; library callers can catch ``SamEdgeError`` (or the builtin base that fits).
"""


class SamEdgeError(Exception):
    """Base class of every error sam-edge raises on purpose."""


class InvalidInputError(SamEdgeError, ValueError):
    """An argument (image, prompt, array, option) has the wrong value, shape or dtype."""


class ModelFileError(SamEdgeError, FileNotFoundError):
    """A model file or directory is missing, unreadable or incomplete."""


class CheckpointError(SamEdgeError, ValueError):
    """A checkpoint is corrupt, not a state dict, or does not fit the requested architecture."""


class ModelMismatchError(SamEdgeError, ValueError):
    """Two artifacts (encoder/decoder, embedding/model) come from different models."""


class NoImageSetError(SamEdgeError, RuntimeError):
    """A prompt was given before an image (or an image embedding) was set."""


class OutputPathError(SamEdgeError, OSError):
    """An output location is a file, is not writable, or cannot be created."""


class InputFileError(SamEdgeError, FileNotFoundError):
    """An input file (image, embedding) does not exist or cannot be opened."""


class UnsupportedError(SamEdgeError, NotImplementedError):
    """An official segment_anything call that sam-edge deliberately lacks (torch tensors); the
    message names the one to use."""


class SamEdgeNote(UserWarning):
    """Something the user should know that does not stop the work (e.g. engines not measured on this
    CPU). Issued with ``warnings.warn``; the CLI prints it as one ``sam-edge CMD: note: ...`` line."""
