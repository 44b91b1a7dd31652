"""Where the model comes from: a directory the user names, a model bundled inside the package, or the default."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from sam_edge.runtime.errors import InvalidInputError, ModelFileError

DEFAULT_MODEL = "nano"
ACCEPTED_MODELS = "a directory written by `sam-edge export`, a bundled model name, or encoder= / decoder= graph files"


def bundled_model_dir(name: str = DEFAULT_MODEL) -> Path:
    """The directory of a model shipped as package data (sam_edge/models/<name>)."""
    return _bundled_root() / name


def bundled_model_names() -> tuple[str, ...]:
    """The names of the models shipped inside this install (folders of sam_edge/models), sorted."""
    root = _bundled_root()
    if not root.is_dir():
        return ()
    return tuple(sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))))


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


def find_model_dir(model: str | os.PathLike | None = None) -> Path:
    """The model directory ``SamPredictor(model)`` opens.

    ``model`` is a directory path (it wins over a bundled model of the same name), else the name of
    a bundled model (``bundled_model_names()``, e.g. "nano"); None is the bundled default model.
    """
    if model is None:
        return resolve_model_dir(None)
    if not isinstance(model, (str, os.PathLike)):
        raise InvalidInputError(
            f"model must be {ACCEPTED_MODELS}; got {type(model).__name__} "
            "(a PyTorch SAM model is exported first: `sam-edge export --checkpoint FILE --out DIR`)"
        )
    path = Path(model)
    if path.is_dir():
        return path
    if os.fspath(model) in bundled_model_names():  # also Path("nano"), as the CLI passes --model
        return bundled_model_dir(os.fspath(model))
    if path.is_file():
        raise ModelFileError(
            f"model {str(model)!r} is a file, not a model directory; pass its directory, "
            "or the graph itself as encoder= / decoder="
        )
    bundled = ", ".join(bundled_model_names()) or "none in this install"
    raise ModelFileError(
        f"model {str(model)!r} does not exist: it is neither a directory nor a bundled model "
        f"(bundled: {bundled}); pass {ACCEPTED_MODELS}"
    )


def _bundled_root() -> Path:
    return Path(str(resources.files("sam_edge") / "models"))
