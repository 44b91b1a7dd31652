"""Image embeddings as portable values: computed once, cached, saved and loaded anywhere.

An ImageEmbedding carries everything the decoder side needs besides the prompt, so the encoder can
run on one machine and the decoder on another (as SAM's web demo does).
"""

from __future__ import annotations

import hashlib
import lzma
import struct
import tokenize
import zipfile
import zlib
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sam_edge.runtime.atomic_write import atomic_output
from sam_edge.runtime.errors import InputFileError, InvalidInputError

EMBEDDING_FORMAT_VERSION = 1
HIGH_RES_FIELDS = ("high_res_feats_0", "high_res_feats_1")  # a SAM 2 embedding's two extra arrays
# An embedding file is a few MB (vit_h: 4 MiB); a member unpacking to more is refused before it is read.
_MAX_FIELD_BYTES = 256 << 20
# What reading a damaged or foreign .npz raises: zipfile's own errors, its decompressors' (zlib, lzma,
# bz2 as OSError), an encrypted member (RuntimeError), an unknown compression (NotImplementedError),
# numpy's header parsing (ValueError, struct.error, tokenize.TokenError for a version 1 header cut inside a
# bracket) and a header claiming an absurd shape (MemoryError).
_UNREADABLE = (
    OSError,
    ValueError,
    EOFError,
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    zlib.error,
    lzma.LZMAError,
    NotImplementedError,
    RuntimeError,
    struct.error,
    tokenize.TokenError,
    SyntaxError,
    OverflowError,
    MemoryError,
)


@dataclass(frozen=True)
class ImageEmbedding:
    """The encoder's output for one image.

    ``embeddings`` [1, 256, 64, 64] float32; ``original_size`` (H, W) of the loaded image;
    ``input_size`` (h, w) after resizing the longest side to the model's image_size; ``model_id``
    names the weights that made it (decoders of other weights refuse it). ``decoder_state`` holds
    what a split decoder computed from this embedding once (its image stage, ~14 MB), so later
    prompts on it skip that work (``SamPredictor.set_image`` clears it on the image it leaves, a
    server keeps it for every image it holds); it lives in memory only (``save`` skips it:
    recomputing takes milliseconds, storing it would make the file ~4x larger).

    A SAM 2 embedding (runtime/sam2_image.py) also holds ``high_res_features`` (high_res_feats_0
    [1, 32, 256, 256], high_res_feats_1 [1, 64, 128, 128] float32), saved with it; its ``input_size``
    is the squashed (1024, 1024). SAM's have None, and their files are unchanged.
    """

    embeddings: np.ndarray
    original_size: tuple[int, int]
    input_size: tuple[int, int]
    model_id: str
    model_type: str
    high_res_features: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False, compare=False)
    decoder_state: dict = field(default_factory=dict, repr=False, compare=False)

    def save(self, path: str | Path) -> Path:
        """Write an .npz atomically (a crash never leaves a half-written file under ``path``)."""
        path = Path(path)
        high_res = {}
        if self.high_res_features is not None:
            high_res = dict(zip(HIGH_RES_FIELDS, self.high_res_features))
        with atomic_output(path, suffix=".npz") as temp:
            np.savez(
                temp,
                embeddings=self.embeddings,
                original_size=np.array(self.original_size),
                input_size=np.array(self.input_size),
                model_id=np.str_(self.model_id),
                model_type=np.str_(self.model_type),
                format_version=np.int64(EMBEDDING_FORMAT_VERSION),
                **high_res,
            )
        return path

    @staticmethod
    def load(path: str | Path) -> "ImageEmbedding":
        """Read an .npz written by :meth:`save`; errors name what is missing or malformed."""
        path = Path(path)
        if not path.is_file():
            raise InputFileError(
                f"embedding file {path} {'is not a file' if path.exists() else 'does not exist'}; expected an .npz "
                "written by save"
            )
        fields = _read_npz_fields(path)
        required = ("embeddings", "original_size", "input_size", "model_id", "model_type")
        missing = [key for key in required if key not in fields]
        if missing:
            raise InvalidInputError(
                f"{path} lacks {', '.join(missing)}; expected a file written by save_embedding / --save-embedding"
            )
        embedding = fields["embeddings"]
        if embedding.dtype != np.float32 or embedding.ndim != 4 or embedding.shape[0] != 1 or 0 in embedding.shape:
            raise InvalidInputError(
                f"{path}: embeddings must be float32 [1, C, h, w]; got {embedding.dtype} {embedding.shape}"
            )
        if not np.isfinite(embedding).all():
            raise InvalidInputError(f"{path}: embeddings contain NaN or inf; an encoder never writes those")
        for key in ("original_size", "input_size"):
            size = fields[key]
            if size.shape != (2,) or size.dtype.kind not in "iu" or (size < 1).any():
                got = size.tolist() if size.size <= 4 else f"a {size.dtype} array of shape {size.shape}"
                raise InvalidInputError(f"{path}: {key} must be two positive integers (H, W); got {got}")
        for key in ("model_id", "model_type"):
            if fields[key].dtype.kind != "U" or fields[key].ndim != 0:
                got = f"a {fields[key].dtype} array of shape {fields[key].shape}"
                raise InvalidInputError(f"{path}: {key} must be a string; got {got}")
        return ImageEmbedding(
            embedding,
            tuple(int(v) for v in fields["original_size"]),
            tuple(int(v) for v in fields["input_size"]),
            str(fields["model_id"]),
            str(fields["model_type"]),
            _high_res_features(fields, path),
        )


def _high_res_features(fields: dict[str, np.ndarray], path: Path) -> tuple[np.ndarray, np.ndarray] | None:
    """A SAM 2 file's two high-res feature maps (float32 [1, C, h, w], finite), or None for SAM's files."""
    present = [key for key in HIGH_RES_FIELDS if key in fields]
    if not present:
        return None
    if len(present) == 1:
        missing = next(key for key in HIGH_RES_FIELDS if key not in fields)
        raise InvalidInputError(f"{path} holds {present[0]} but not {missing}; a SAM 2 embedding has both")
    for key in HIGH_RES_FIELDS:
        array = fields[key]
        if array.dtype != np.float32 or array.ndim != 4 or array.shape[0] != 1 or 0 in array.shape:
            raise InvalidInputError(f"{path}: {key} must be float32 [1, C, h, w]; got {array.dtype} {array.shape}")
        if not np.isfinite(array).all():
            raise InvalidInputError(f"{path}: {key} contains NaN or inf; an encoder never writes those")
    return fields[HIGH_RES_FIELDS[0]], fields[HIGH_RES_FIELDS[1]]


def _read_npz_fields(path: Path) -> dict[str, np.ndarray]:
    """Every array of the .npz at ``path`` (no pickles); anything else is one InvalidInputError.

    An archive member that is not an .npy file comes back from numpy as raw bytes: it is left out,
    so a field stored that way is reported missing.
    """
    try:
        data = np.load(path, allow_pickle=False)  # an .npz is opened lazily: no member is read yet
        if not isinstance(data, np.lib.npyio.NpzFile):
            raise ValueError("a single array, not an .npz archive")
        with data:
            too_large = [info.filename for info in data.zip.infolist() if info.file_size > _MAX_FIELD_BYTES]
            if too_large:
                raise ValueError(f"{too_large[0]} unpacks to more than {_MAX_FIELD_BYTES >> 20} MiB")
            fields = {key: data[key] for key in data.files}
            return {key: value for key, value in fields.items() if isinstance(value, np.ndarray)}
    except _UNREADABLE as error:
        raise InvalidInputError(f"{path} is not a sam-edge embedding .npz ({_unreadable_reason(error)})") from None


def _unreadable_reason(error: BaseException) -> str:
    """What numpy or zipfile said, in one line, without numpy's advice to load pickles unsafely."""
    if isinstance(error, (tokenize.TokenError, SyntaxError)):
        return "a damaged array header"
    text = (str(error).splitlines() or [type(error).__name__])[0]
    if "pickled" in text or "allow_pickle" in text:
        return "it holds pickled Python objects, which are never loaded"
    return text[:160]


def image_key(rgb: np.ndarray, model_id: str) -> str:
    """Content hash of an HxWx3 uint8 image plus the model: equal keys give equal embeddings."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(model_id.encode())
    digest.update(np.array(rgb.shape, dtype=np.int64).tobytes())
    digest.update(np.ascontiguousarray(rgb).data)
    return digest.hexdigest()


class EmbeddingCache:
    """A bounded least-recently-used map from image key to ImageEmbedding (``capacity`` 0 disables it)."""

    def __init__(self, capacity: int = 8) -> None:
        if capacity < 0:
            raise InvalidInputError(f"cache capacity must be >= 0; got {capacity}")
        self.capacity = capacity
        self._entries: OrderedDict[str, ImageEmbedding] = OrderedDict()

    def get(self, key: str) -> ImageEmbedding | None:
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
        return entry

    def put(self, key: str, embedding: ImageEmbedding) -> None:
        if self.capacity == 0:
            return
        self._entries[key] = embedding
        self._entries.move_to_end(key)
        while len(self._entries) > self.capacity:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)


def is_image_size(size) -> bool:
    """(height, width): two positive integers (an embedding's ``original_size`` or ``input_size``)."""
    return (
        isinstance(size, (tuple, list))
        and len(size) == 2
        and all(isinstance(side, (int, np.integer)) and not isinstance(side, bool) and side > 0 for side in size)
    )
