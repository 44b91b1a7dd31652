"""Official checkpoints, fetched only when asked (``sam-edge download NAME``): sam-edge never fetches on its own.

- ``registry.json`` is the table of known checkpoints: name, aliases, model type, URLs, sha256, size,
  licence and the public sources of each checksum (docs/download.md).
- ``download_model(name)`` / ``download_url(url, sha256)`` stream a file into the cache (or a given
  folder) with resume, retries and sha256 verification, and rename it into place only when verified.
- ``find_cached(name)`` is the path of an already downloaded checkpoint (``sam-edge export --checkpoint NAME``).

Standard library only: urllib honours ``http_proxy`` / ``https_proxy`` / ``no_proxy``.
"""

from sam_edge.download.api import Fetched, download_model, download_url, find_cached
from sam_edge.download.cache import cache_root, checkpoints_dir
from sam_edge.download.errors import ChecksumError, DownloadError
from sam_edge.download.registry import Model, find_model, load_registry

__all__ = [
    "ChecksumError",
    "DownloadError",
    "Fetched",
    "Model",
    "cache_root",
    "checkpoints_dir",
    "download_model",
    "download_url",
    "find_cached",
    "find_model",
    "load_registry",
]
