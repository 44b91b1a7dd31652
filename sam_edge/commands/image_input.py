"""The image a command was given, read with the runtime's load_image and the command's --max-pixels.

A bad file costs the user one line (the InvalidInputError the command prints): Pillow's own warnings
are dropped by load_image, and libtiff inside Pillow, which prints a line of its own to the process's
stderr for a damaged TIFF, is muted while the file is read.
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Iterator

import numpy as np


def read_image(path, max_pixels: int) -> np.ndarray:
    """HxWx3 uint8 RGB of the image file at ``path``; Pillow's own pixel limit follows ``max_pixels``."""
    from sam_edge.runtime.image_io import allow_pillow_pixels, load_image

    allow_pillow_pixels(max_pixels)
    with native_stderr_silenced():
        return load_image(path, max_pixels)


@contextlib.contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """File descriptor 2 goes to /dev/null inside the block (Python's sys.stderr is flushed first)."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
