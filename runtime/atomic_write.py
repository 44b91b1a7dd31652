"""Write files so that an interrupted write never leaves a file that looks complete."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator

from sam_edge.runtime.errors import OutputPathError


def prepare_output_dir(directory: str | Path) -> Path:
    """Create ``directory`` if needed; error (one line) if it is a file or not writable."""
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise OutputPathError(f"output {directory} is a file; expected a directory (existing or to be created)")
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputPathError(f"cannot create output directory {directory}: {error.strerror}") from None
    if not os.access(directory, os.W_OK | os.X_OK):
        raise OutputPathError(f"output directory {directory} is not writable")
    return directory


@contextlib.contextmanager
def atomic_output(final_path: str | Path, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``final_path``; rename it into place only if the block succeeds.

    ``suffix`` lets writers that pick a format from the extension (numpy, Pillow) see the right one.
    """
    final_path = Path(final_path)
    prepare_output_dir(final_path.parent)
    if final_path.is_dir():
        raise OutputPathError(f"output {final_path} is a directory; expected a file path")
    handle, temp_name = tempfile.mkstemp(prefix=f".{final_path.name}.", suffix=f".partial{suffix}", dir=final_path.parent)
    os.close(handle)
    temp_path = Path(temp_name)
    try:
        yield temp_path
        os.replace(temp_path, final_path)
    finally:
        temp_path.unlink(missing_ok=True)
