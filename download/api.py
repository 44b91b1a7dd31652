"""Downloading by registry name or by URL, and finding a downloaded checkpoint by name.

Every function raises a SamEdgeError with one line on bad input or failure (unknown name with the
nearest one, checksum mismatch with both digests, network, disk, refused redirect).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from sam_edge.download.cache import cache_state, checkpoints_dir
from sam_edge.download.fetch import Progress, RetryPolicy, fetch
from sam_edge.download.registry import SHA256_HEX, Model, find_model, get_model
from sam_edge.runtime.errors import InvalidInputError, ModelFileError

# What a --checkpoint value looks like when it is a file rather than a registry name.
CHECKPOINT_SUFFIXES = (".pth", ".pt", ".bin", ".ckpt", ".pkl", ".tar", ".safetensors")


@dataclass(frozen=True)
class Fetched:
    """A file in place and verified; ``status`` is "present", "downloaded" or "replaced" (see fetch.fetch)."""

    path: Path
    status: str
    size: int


def download_model(
    name: str,
    directory: str | Path | None = None,
    progress: Progress | None = None,
    policy: RetryPolicy | None = None,
) -> Fetched:
    """Registry model ``name`` (or alias) into ``directory`` (default: the cache's checkpoints/ folder)."""
    model = get_model(name)
    path = checkpoints_dir(directory) / model.file
    status = fetch(model.download_urls(), path, model.sha256, model.size, progress, policy)
    return Fetched(path, status, model.size)


def download_url(
    url: str,
    sha256: str,
    directory: str | Path | None = None,
    progress: Progress | None = None,
    policy: RetryPolicy | None = None,
) -> Fetched:
    """Any http(s) ``url`` whose sha256 is known, saved under the URL's file name."""
    sha256 = check_sha256(sha256)
    path = checkpoints_dir(directory) / url_file_name(url)
    status = fetch((url,), path, sha256, None, progress, policy)
    return Fetched(path, status, path.stat().st_size)


def check_sha256(value: str) -> str:
    """``value`` as 64 lowercase hex digits, or a one-line InvalidInputError."""
    digest = value.strip().lower()
    if not SHA256_HEX.match(digest):
        raise InvalidInputError(f"--sha256 {value!r} is not a sha256; expected 64 hex digits")
    return digest


def url_file_name(url: str) -> str:
    """The file name an http(s) URL's path ends in (``.../sam_vit_b_01ec64.pth`` -> ``sam_vit_b_01ec64.pth``)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InvalidInputError(f"--url {url!r} is not an http(s) URL; expected e.g. https://host/path/file.pth")
    name = unquote(parts.path.rsplit("/", 1)[-1])
    if name in ("", ".", "..") or "/" in name or "\\" in name or "\0" in name:
        raise InvalidInputError(f"--url {url!r} does not end in a file name; the file is saved under that name")
    return name


def find_cached(name: str, directory: str | Path | None = None) -> Path:
    """The downloaded file of registry model ``name``; a one-line error saying how to download it if absent."""
    model = get_model(name)
    state = cache_state(model, directory)
    if state.size == model.size:
        return state.path
    what = "is not downloaded" if state.size is None else f"in {state.path} has {state.size} bytes, not {model.size}"
    raise ModelFileError(f"checkpoint {name} {what}; download it with: sam-edge download {name}")


def export_checkpoint(
    value: str, download: bool, model_types: tuple[str, ...], progress: Progress | None = None
) -> Path:
    """The checkpoint file for ``export --checkpoint VALUE`` / ``--pretrained VALUE``.

    A value that names a file (or looks like one) is returned as is, for the loader to read or refuse.
    A registry name resolves to its cached file (``--checkpoint``) or is downloaded first (``--pretrained``);
    its model type must be one ``model_types`` lists, checked before any download. The loader still
    detects the variant from the keys; the sha256 already proved the file is the registry's.
    """
    if not download and (Path(value).exists() or _looks_like_path(value)):
        return Path(value)
    model = get_model(value)
    _check_exportable(model, model_types)
    if not download:
        return find_cached(value)
    return download_model(value, progress=progress).path


def _looks_like_path(value: str) -> bool:
    return "/" in value or "\\" in value or value.lower().endswith(CHECKPOINT_SUFFIXES)


def _check_exportable(model: Model, model_types: tuple[str, ...]) -> None:
    if model.model_type not in model_types:
        raise InvalidInputError(
            f"{model.name} is a {model.family} checkpoint ({model.model_type}); export handles "
            f"{', '.join(model_types)} (sam-edge download {model.name} still fetches it)"
        )


__all__ = ["Fetched", "download_model", "download_url", "export_checkpoint", "find_cached", "find_model"]
