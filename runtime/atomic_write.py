"""Write files and directories so that an interrupted write never leaves one that looks complete.

``atomic_output`` stages one file beside its final path; ``staging_dir`` a hidden work directory
whose contents the caller renames into place only once all of it succeeded. Output locations are
checked first (``check_output_dir``), in one line, before any work.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

from sam_edge.runtime.errors import OutputPathError


def check_output_dir(directory: str | Path) -> Path:
    """Fail early (one line) if ``directory`` cannot hold output; creates nothing.

    An existing directory must be writable; a missing one needs its nearest existing parent to be.
    Permissions are checked for the effective user, the one the writes will run as.
    """
    directory = Path(directory)
    existing = next(path for path in (directory, *directory.absolute().parents) if _exists(path))
    if existing is directory and not directory.is_dir():
        raise OutputPathError(f"output {directory} is a file; expected a directory (existing or to be created)")
    if not existing.is_dir():
        raise OutputPathError(f"cannot create output directory {directory}: {existing} is a file")
    effective_ids = os.access in os.supports_effective_ids
    if not os.access(existing, os.W_OK | os.X_OK, effective_ids=effective_ids):
        where = "" if existing is directory else f" (cannot create it in {existing})"
        raise OutputPathError(f"output directory {directory} is not writable{where}; expected a writable directory")
    return directory


def existing_ancestor(path: str | Path) -> Path:
    """``path`` itself if it is a directory, else its nearest existing parent directory."""
    path = Path(path)
    return next(folder for folder in (path, *path.absolute().parents) if folder.is_dir())


def missing_folders(path: str | Path) -> list[Path]:
    """``path`` and those of its parents that do not exist yet, deepest first (to remove after a failure)."""
    missing = []
    for folder in (Path(path), *Path(path).absolute().parents):
        try:
            exists = folder.exists()
        except OSError:  # a folder we may not look into counts as existing
            exists = True
        if exists:
            break
        missing.append(folder)
    return missing


@contextlib.contextmanager
def staging_dir(beside: str | Path, name: str) -> Iterator[Path]:
    """A hidden ``.<name>.*.partial`` directory inside ``beside`` (an existing directory, on the same
    file system as the outputs so that renames are atomic), removed when the block ends either way."""
    directory = Path(tempfile.mkdtemp(prefix=f".{name}.", suffix=".partial", dir=beside))
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except OSError:  # e.g. a parent we may not search: then look further up
        return False


def prepare_output_dir(directory: str | Path) -> Path:
    """Create ``directory`` if needed; error (one line) if it is a file or not writable."""
    directory = check_output_dir(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputPathError(f"cannot create output directory {directory}: {error.strerror}") from None
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
    handle, temp_name = tempfile.mkstemp(
        prefix=f".{final_path.name}.", suffix=f".partial{suffix}", dir=final_path.parent
    )
    os.close(handle)
    temp_path = Path(temp_name)
    try:
        yield temp_path
        os.chmod(temp_path, 0o666 & ~_current_umask())  # mkstemp makes 0600; users expect umask rules
        os.replace(temp_path, final_path)
    finally:
        temp_path.unlink(missing_ok=True)


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
