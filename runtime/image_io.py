"""Load any supported image into the one form the runtime uses: an HxWx3 uint8 RGB array.

Accepted inputs (``load_image``):

- a path (``str`` or ``os.PathLike``) to any file Pillow can read;
- a ``PIL.Image.Image`` of any mode (1, L, LA, P, PA, RGB, RGBA, RGBX, CMYK, YCbCr, I;16*, I, F, ...);
- a ``numpy.ndarray`` shaped HxW, HxWx1, HxWx3 (RGB) or HxWx4 (RGBA; alpha is dropped).

Pixel values are mapped to uint8 as follows:

- uint8: kept; bool: False -> 0, True -> 255;
- uint16 (and Pillow's 16-bit modes): ``round(x / 257)``, so 65535 -> 255;
- float (and Pillow mode F): must be finite and within [0, 1]; ``round(x * 255)``;
- any other integer type (and Pillow mode I): must be within 0..255.

Files and PIL images have their EXIF orientation applied (``ImageOps.exif_transpose``), so the
array is upright as a viewer shows it; ``original_size`` downstream is this array's (H, W).
The pixel count is checked against ``max_pixels`` from the header, before any pixel is decoded;
that check replaces Pillow's DecompressionBombWarning. Pillow's warnings while reading (a tag it
skipped, corrupt EXIF) are not shown: the result is the image Pillow decoded, or one InvalidInputError.
"""

from __future__ import annotations

import contextlib
import os
import re
import struct
import warnings
import zlib
from typing import Iterator, Union

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from sam_edge.runtime.errors import InputFileError, InvalidInputError

ImageLike = Union[str, os.PathLike, Image.Image, np.ndarray]

DEFAULT_MAX_PIXELS = 50_000_000

ACCEPTED_TYPES = "a file path (str or os.PathLike), a PIL.Image.Image or a numpy array"
ACCEPTED_SHAPES = "HxW, HxWx1, HxWx3 (RGB) or HxWx4 (RGBA)"
ACCEPTED_DTYPES = (
    "uint8, uint16 (scaled by 1/257), bool, float in [0, 1] (scaled by 255) or other integers within 0..255"
)

# Everything Pillow may raise while identifying or decoding a damaged file. TypeError too: a TIFF
# tag of an unexpected type reaches Pillow's code as bytes where it wants an int (a StripOffsets of
# type UNDEFINED, found by the fuzz target). Only Pillow's calls run under these excepts.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError, struct.error, zlib.error)

# Pillow modes that Image.convert("RGB") would clip or cannot handle; they go through numpy instead.
_NUMPY_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I", "F")

# The pixel count in Pillow's DecompressionBombError message.
_BOMB_PIXELS = re.compile(r"Image size \((\d+) pixels\)")


def load_image(image: ImageLike, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Return ``image`` as a new C-contiguous HxWx3 uint8 RGB array (H rows, W columns).

    ``max_pixels`` caps H*W (``None`` disables the cap). Raises ``InputFileError`` for a missing or
    unreadable file and ``InvalidInputError`` for anything that is not a usable image.
    """
    if max_pixels is not None and (not isinstance(max_pixels, int) or max_pixels < 1):
        raise InvalidInputError(f"max_pixels must be a positive int or None, got {max_pixels!r}")
    if isinstance(image, (str, os.PathLike)):
        with _pillow_warnings_silenced():
            return _load_file(os.fspath(image), max_pixels)
    if isinstance(image, Image.Image):
        name = getattr(image, "filename", "") or "the PIL image"
        with _pillow_warnings_silenced():
            return _load_pil(image, name, max_pixels)
    if isinstance(image, np.ndarray):
        if image.ndim in (2, 3):
            _check_pixels(image.shape[:2], max_pixels, "the array")
        return array_to_rgb(image)
    raise InvalidInputError(f"image must be {ACCEPTED_TYPES}; got {type(image).__name__}")


def array_to_rgb(array: np.ndarray) -> np.ndarray:
    """Convert an HxW / HxWx1 / HxWx3 / HxWx4 array of a supported dtype to HxWx3 uint8 RGB."""
    array = _native_byte_order(np.asarray(array))  # np.matrix and friends become plain arrays
    if array.ndim == 3 and array.shape[2] in (1, 3, 4):
        array = array[..., :3] if array.shape[2] >= 3 else array[..., 0]
    elif array.ndim != 2:
        raise InvalidInputError(f"image array must be {ACCEPTED_SHAPES}; got shape {array.shape}")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise InvalidInputError(f"image is empty (shape {array.shape}); it needs at least 1x1 pixels")
    pixels = _to_uint8(array)
    if pixels.ndim == 2:
        pixels = np.repeat(pixels[:, :, None], 3, axis=2)
    return np.array(pixels, dtype=np.uint8, order="C", copy=True)


def _native_byte_order(array: np.ndarray) -> np.ndarray:
    """A big-endian uint16 array (e.g. from a raw or FITS file) is uint16 too: same values, native order."""
    if array.dtype.byteorder in ("=", "|") or array.dtype.fields is not None:
        return array
    return array.astype(array.dtype.newbyteorder("="))


def _to_uint8(array: np.ndarray) -> np.ndarray:
    """Map pixel values of any supported dtype to uint8 (same shape)."""
    dtype = array.dtype
    if dtype == np.uint8:
        return array
    if dtype == np.bool_:
        return array.astype(np.uint8) * np.uint8(255)
    if dtype == np.uint16:
        return np.rint(array / 257.0).astype(np.uint8)
    if dtype.kind == "f":
        return _float_to_uint8(array)
    if dtype.kind in "iu":  # not np.issubdtype(.., np.integer): timedelta64 is one
        lo, hi = int(array.min()), int(array.max())
        if lo < 0 or hi > 255:
            raise InvalidInputError(
                f"{dtype} image values must lie within 0..255, got {lo}..{hi}; accepted dtypes: {ACCEPTED_DTYPES}"
            )
        return array.astype(np.uint8)
    raise InvalidInputError(f"image dtype {dtype} is not supported; accepted dtypes: {ACCEPTED_DTYPES}")


def _float_to_uint8(array: np.ndarray) -> np.ndarray:
    """Floats in [0, 1] -> round(x * 255); NaN, inf or values outside [0, 1] are rejected."""
    if not np.isfinite(array).all():
        raise InvalidInputError(
            f"{array.dtype} image contains NaN or inf; float images must be finite and within [0, 1]"
        )
    lo, hi = float(array.min()), float(array.max())
    if lo < 0.0 or hi > 1.0:
        raise InvalidInputError(
            f"{array.dtype} image values must lie within [0, 1], got {lo:g}..{hi:g}; "
            "scale them to [0, 1] or pass uint8 (0..255)"
        )
    return np.rint(array.astype(np.float64) * 255.0).astype(np.uint8)


def _check_pixels(size_hw: tuple[int, int], max_pixels: int | None, name: str) -> None:
    """Reject empty images and images with more than ``max_pixels`` pixels (size is (H, W))."""
    height, width = int(size_hw[0]), int(size_hw[1])
    if height == 0 or width == 0:
        raise InvalidInputError(f"{name} is empty ({width}x{height} pixels); it needs at least 1x1")
    if max_pixels is not None and height * width > max_pixels:
        raise _too_large_error(name, f"{width}x{height} = {height * width:,}", max_pixels)


def _too_large_error(name: str, pixels: str, max_pixels: int) -> InvalidInputError:
    return InvalidInputError(
        f"{name} is {pixels} pixels, above the limit of {max_pixels:,} pixels; to load it pass a larger "
        "max_pixels= (or max_pixels=None; CLI: --max-pixels N)"
    )


def allow_pillow_pixels(max_pixels: int | None) -> None:
    """Raise Pillow's process-wide decompression-bomb limit to ``max_pixels`` when it is lower.

    For a command line whose user asked for ``--max-pixels`` above Pillow's default (~179 MP):
    load_image's own check then is the only limit. A library never needs this unless it wants
    images that large.
    """
    limit = Image.MAX_IMAGE_PIXELS
    if limit is not None and (max_pixels is None or max_pixels > limit):
        Image.MAX_IMAGE_PIXELS = max_pixels


@contextlib.contextmanager
def _pillow_warnings_silenced() -> Iterator[None]:
    """Drop the warnings Pillow's own modules raise (see the module docstring); others pass."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", module=r"PIL(\.|$)")
        yield


def _load_file(path: str, max_pixels: int | None) -> np.ndarray:
    """Open ``path`` lazily, check its header size, then decode it to RGB."""
    image = _open_file(path, max_pixels)
    with image:
        return _load_pil(image, repr(path), max_pixels)


def _open_file(path: str, max_pixels: int | None) -> Image.Image:
    """Image.open (reads the header only), with every failure turned into a one-line SamEdgeError."""
    try:
        return Image.open(path)
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError) as exc:
        raise InputFileError(
            f"cannot open image file {path!r}: {exc.strerror or exc}; "
            "give the path of an existing, readable image file (PNG, JPEG, TIFF, BMP, WebP, ...)"
        ) from exc
    except Image.DecompressionBombError as exc:
        raise _bomb_error(repr(path), exc, max_pixels) from exc
    except UnidentifiedImageError as exc:
        raise InvalidInputError(
            f"{path!r} is not an image Pillow can read; accepted are image files such as PNG, JPEG, TIFF, BMP or WebP"
        ) from exc
    except _DECODE_ERRORS as exc:
        raise _corrupt_error(repr(path), exc) from exc


def _load_pil(image: Image.Image, name: str, max_pixels: int | None) -> np.ndarray:
    """Check the size, decode, apply EXIF orientation and convert any mode to HxWx3 uint8."""
    width, height = image.size
    _check_pixels((height, width), max_pixels, name)
    try:
        image.load()
        upright = ImageOps.exif_transpose(image)
        if upright.mode not in _NUMPY_MODES:
            return np.array(upright.convert("RGB"), dtype=np.uint8, order="C", copy=True)
        wide = _pil_to_array(upright)
    except Image.DecompressionBombError as exc:
        raise _bomb_error(name, exc, max_pixels) from exc
    except _DECODE_ERRORS as exc:
        raise _corrupt_error(name, exc) from exc
    return array_to_rgb(wide)  # our own conversion, outside the excepts meant for Pillow's errors


def _pil_to_array(image: Image.Image) -> np.ndarray:
    """Pillow's 16-bit, 32-bit int and float modes as uint16 / int32 / float32 arrays (no clipping)."""
    array = np.asarray(image)
    if image.mode.startswith("I;16"):
        return array.astype(np.uint16)
    return array.astype(np.float32 if image.mode == "F" else np.int32)


def _corrupt_error(name: str, exc: BaseException) -> InvalidInputError:
    return InvalidInputError(
        f"image file {name} is corrupt or truncated ({type(exc).__name__}: {exc}); "
        "give a complete image file Pillow can decode (PNG, JPEG, TIFF, BMP, WebP, ...)"
    )


def _bomb_error(name: str, exc: BaseException, max_pixels: int | None) -> InvalidInputError:
    """Above max_pixels too: the usual too-large error; else Pillow's own limit is the one to raise."""
    found = _BOMB_PIXELS.search(str(exc))
    if found and max_pixels is not None and int(found.group(1)) > max_pixels:
        return _too_large_error(name, f"{int(found.group(1)):,}", max_pixels)
    return InvalidInputError(
        f"image {name} exceeds Pillow's decompression-bomb limit ({exc}); raise PIL.Image.MAX_IMAGE_PIXELS "
        "as well as max_pixels to load it (the CLI's --max-pixels raises both)"
    )
