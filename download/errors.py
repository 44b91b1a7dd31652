"""What a download refuses or fails with: one line each, saying what happened and what to do.

Both are SamEdgeErrors, so the CLI prints them as ``sam-edge download: error: ...`` and exits with 2.
"""

from __future__ import annotations

from sam_edge.runtime.errors import SamEdgeError


class DownloadError(SamEdgeError, OSError):
    """The transfer could not be completed: network, HTTP status, refused redirect, disk, lock."""


class ChecksumError(DownloadError):
    """The bytes received do not have the expected sha256 (the partial file has been deleted)."""
