"""argparse value types and options shared by several commands."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from sam_edge.commands.parser import StoreOnce, add_note


def positive_int(text: str) -> int:
    """An integer >= 1 (argparse turns the error into a one-line usage message)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1; got {text!r}")
    return value


def available_cpus() -> int:
    """Logical CPUs this process may run on (its affinity mask where the OS has one), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


class ThreadCount(StoreOnce):
    """``--threads N`` (with ``type=positive_int``): capped to the CPUs here, with a note saying so.

    More threads than CPUs only makes the engines' workers wait for each other (many times slower).
    """

    def __call__(self, parser, namespace, values, option_string=None):
        cpus = available_cpus()
        if values > cpus:
            add_note(namespace, f"{option_string} {values} is more than the {cpus} CPUs here; using {cpus}")
            values = cpus
        super().__call__(parser, namespace, values, option_string)


def add_model_option(
    parser, help_text: str = "exported model directory or bundled model name (default: the bundled model)"
) -> None:
    """``--model DIR`` of every command that runs a model (``parser`` may be a mutually exclusive group)."""
    parser.add_argument("--model", type=model_directory, metavar="DIR", help=help_text)


def add_backend_option(parser: argparse.ArgumentParser) -> None:
    """``--backend``: the engines the runtime has (runtime.backends.BACKENDS)."""
    from sam_edge.runtime.backends import BACKENDS

    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        help="inference engine (default: per part, the one the model directory recorded as faster)",
    )


def add_max_pixels_option(parser: argparse.ArgumentParser) -> None:
    """``--max-pixels N`` of every command that reads an image (the runtime's limit, checked from the header)."""
    from sam_edge.runtime.image_io import DEFAULT_MAX_PIXELS

    parser.add_argument(
        "--max-pixels",
        type=positive_int,
        default=DEFAULT_MAX_PIXELS,
        metavar="N",
        help="refuse images of more than N pixels, read from the file header before decoding "
        f"(default: {DEFAULT_MAX_PIXELS})",
    )


def add_threads_option(
    parser: argparse.ArgumentParser, help_text: str = "CPU threads (default: physical cores)"
) -> None:
    """The ``--threads N`` option every command that runs a model has."""
    parser.add_argument("--threads", type=positive_int, action=ThreadCount, metavar="N", help=help_text)


def model_directory(text: str) -> Path:
    """``--model DIR`` / ``MODEL_DIR``: refuses a file at once (often one graph of the model), naming what is accepted.

    A path that does not exist is left to the runtime, which says so (or finds a bundled model by name).
    """
    path = Path(text)
    if path.is_file():
        raise argparse.ArgumentTypeError(
            f"{text} is a file, not a model directory; give the directory `sam-edge export` wrote "
            "(<model>.encoder.<precision>.onnx or .xml and its decoder graphs), or leave it out for the bundled model"
        )
    return path
