"""Where the model comes from when the user names none: the model bundled inside the package."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from sam_edge.runtime.errors import ModelFileError

DEFAULT_MODEL = "nano"


def bundled_model_dir(name: str = DEFAULT_MODEL) -> Path:
    """The directory of a model shipped as package data (sam_edge/models/<name>)."""
    return Path(str(resources.files("sam_edge") / "models" / name))


def resolve_model_dir(model: str | Path | None) -> Path:
    """``model`` as given, else the bundled default; a clear error when neither exists."""
    if model is not None:
        return Path(model)
    directory = bundled_model_dir()
    if not directory.is_dir():
        raise ModelFileError(
            f"no --model given and the default model '{DEFAULT_MODEL}' is not bundled in this install; "
            "pass --model DIR (make one with `sam-edge export --checkpoint FILE --out DIR`)"
        )
    return directory
