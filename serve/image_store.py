"""Images a server keeps: their embeddings by image_id, a bounded number, and reading them from request bytes.

``image_id`` is the runtime's content key (``runtime.embedding.image_key``: a hash of the decoded
pixels and the model id), so the same image bytes always give the same id and hit the cache; a
registered embedding's id hashes its arrays the same way. The store is the runtime's
``EmbeddingCache`` (least recently used dropped beyond ``capacity``); it is used from the server's
event loop only, so it needs no lock.
"""

from __future__ import annotations

import hashlib
import io
import re
import tempfile
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from sam_edge.runtime.embedding import EmbeddingCache, ImageEmbedding
from sam_edge.runtime.errors import InvalidInputError, SamEdgeError
from sam_edge.runtime.image_io import load_image

IMAGE_FORMATS = ("PNG", "JPEG", "WEBP")


class ImageTooLarge(InvalidInputError):
    """An image (or frame) has more pixels than the server accepts (HTTP 413)."""


def decode_image_bytes(data: bytes, max_pixels: int, what: str = "image") -> np.ndarray:
    """The bytes of a PNG, JPEG or WebP file -> HxWx3 uint8 RGB (EXIF-upright), checked before decoding.

    The pixel count is read from the header and refused above ``max_pixels`` (ImageTooLarge), so a
    decompression bomb is never decoded; anything that is not such a file is one InvalidInputError.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=IMAGE_FORMATS)
    except Image.DecompressionBombError as error:  # above twice Pillow's own limit: refused while opening
        found = re.search(r"Image size \((\d+) pixels\)", str(error))
        pixels = f"{int(found.group(1)):,}" if found else "more"
        raise ImageTooLarge(
            f"the {what} is {pixels} pixels, above this server's limit of {max_pixels:,} "
            "(sam-edge serve --max-image-pixels)"
        ) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as error:
        raise InvalidInputError(
            f"the {what} is not a PNG, JPEG or WebP file ({type(error).__name__}); send the bytes of one"
        ) from None
    with image:
        width, height = image.size
        if width * height > max_pixels:
            raise ImageTooLarge(
                f"the {what} is {width}x{height} = {width * height:,} pixels, above this server's limit of "
                f"{max_pixels:,} (sam-edge serve --max-image-pixels)"
            )
        image.filename = f"<{what}>"  # what load_image's messages call it
        return load_image(image, max_pixels)


def embedding_id(embedding: ImageEmbedding) -> str:
    """Content key of a registered embedding: its arrays, sizes and model id (32 hex digits)."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(f"{embedding.model_id}|{tuple(embedding.original_size)}|{tuple(embedding.input_size)}|".encode())
    digest.update(np.ascontiguousarray(embedding.embeddings).data)
    return digest.hexdigest()


def embedding_to_bytes(embedding: ImageEmbedding) -> bytes:
    """The .npz file ``ImageEmbedding.save`` writes, as bytes (the format ``ImageEmbedding.load`` reads)."""
    with tempfile.TemporaryDirectory(prefix="sam-edge-serve-") as folder:
        return embedding.save(Path(folder) / "embedding.npz").read_bytes()


def embedding_from_bytes(data: bytes) -> ImageEmbedding:
    """An .npz's bytes -> ImageEmbedding, with ``ImageEmbedding.load``'s checks and messages."""
    with tempfile.TemporaryDirectory(prefix="sam-edge-serve-") as folder:
        path = Path(folder) / "embedding.npz"
        path.write_bytes(data)
        try:
            return ImageEmbedding.load(path)
        except SamEdgeError as error:
            raise InvalidInputError(str(error).replace(str(path), "the embedding")) from None


class ImageStore:
    """image_id -> ImageEmbedding, at most ``capacity`` of them (event-loop use only)."""

    def __init__(self, capacity: int) -> None:
        self._cache = EmbeddingCache(capacity)
        self.pending: dict[str, object] = {}  # image_id -> the upload being encoded (asyncio future)

    def get(self, image_id: str) -> ImageEmbedding | None:
        return self._cache.get(image_id) if isinstance(image_id, str) else None

    def put(self, image_id: str, embedding: ImageEmbedding) -> None:
        self._cache.put(image_id, embedding)

    def __len__(self) -> int:
        return len(self._cache)
