"""Where downloaded checkpoints live, and what a folder holds of a registry entry.

Cache root: ``$SAM_EDGE_HOME``, else ``$XDG_CACHE_HOME/sam-edge``, else ``~/.cache/sam-edge``;
checkpoints go to its ``checkpoints/`` folder. A download in progress is ``<file>.part`` beside the
final file (kept after an interruption, so the next run resumes it).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from sam_edge.download.registry import Model
from sam_edge.runtime.errors import OutputPathError

PART_SUFFIX = ".part"


def cache_root() -> Path:
    """The sam-edge cache folder (not created here)."""
    home = os.environ.get("SAM_EDGE_HOME", "").strip()
    if home:
        return Path(home).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    if xdg:
        return Path(xdg).expanduser() / "sam-edge"
    try:
        return Path.home() / ".cache" / "sam-edge"
    except RuntimeError:  # no HOME and no password entry
        raise OutputPathError(
            "cannot find a home folder for the cache; set SAM_EDGE_HOME to a writable folder"
        ) from None


def checkpoints_dir(directory: str | Path | None = None) -> Path:
    """``directory`` if given, else the cache's ``checkpoints/`` folder."""
    return Path(directory) if directory is not None else cache_root() / "checkpoints"


def part_path(final_path: Path) -> Path:
    """The partial file a download of ``final_path`` writes to."""
    return final_path.with_name(final_path.name + PART_SUFFIX)


@dataclass(frozen=True)
class CacheState:
    """What ``folder`` holds of one model: the final file's size and the partial file's size (None: absent)."""

    path: Path
    size: int | None
    partial_size: int | None

    def describe(self, expected_size: int) -> str:
        """``yes (size ok)``, ``no``, ``partial 35%`` or ``wrong size (N bytes)``, as ``sam-edge models`` prints it."""
        if self.size == expected_size:
            return "yes (size ok)"
        if self.size is not None:
            return f"wrong size ({self.size} bytes)"
        if self.partial_size is not None:
            return f"partial {100 * self.partial_size // max(expected_size, 1)}%"
        return "no"


def cache_state(model: Model, directory: str | Path | None = None) -> CacheState:
    """The state of ``model``'s file in ``directory`` (default: the cache); reads sizes only, no hashing."""
    path = checkpoints_dir(directory) / model.file
    return CacheState(path, _size(path), _size(part_path(path)))


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size if path.is_file() else None
    except OSError:
        return None
