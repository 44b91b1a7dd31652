"""Image files made by code for the tests and the fuzz seed corpus: headers that claim huge sizes, tiny valid files."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_header_bytes(width: int, height: int) -> bytes:
    """A PNG whose IHDR claims width x height (8-bit RGB) but that holds no pixel data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", b"")


def png_header_only(path: Path, width: int, height: int) -> Path:
    path.write_bytes(png_header_bytes(width, height))
    return path


def encoded_images() -> dict[str, bytes]:
    """A few-pixel image in each common format and mode Pillow writes (seeds for the image fuzzer)."""
    rgb = np.arange(4 * 6 * 3, dtype=np.uint8).reshape(4, 6, 3) * 3
    images = {
        "rgb": Image.fromarray(rgb),
        "gray": Image.fromarray(rgb[..., 0]),
        "rgba": Image.fromarray(np.dstack([rgb, rgb[..., :1]])),
        "i16": Image.fromarray(rgb[..., 0].astype(np.uint16) * 257),
    }
    images["palette"] = images["rgb"].convert("P")
    formats = {
        "png": ("rgb", "gray", "rgba", "palette", "i16"),
        "jpeg": ("rgb", "gray"),
        "bmp": ("rgb", "palette"),
        "gif": ("palette",),
        "tiff": ("rgb", "rgba", "i16"),
        "webp": ("rgb", "rgba"),
        "ppm": ("rgb", "gray"),
        "ico": ("rgba",),
        "tga": ("rgb",),
    }
    encoded = {}
    for fmt, modes in formats.items():
        for mode in modes:
            buffer = io.BytesIO()
            images[mode].save(buffer, format=fmt)
            encoded[f"{mode}.{fmt}"] = buffer.getvalue()
    encoded["huge-header.png"] = png_header_bytes(20000, 10000)
    encoded["damaged-deflate.tiff"] = damaged_deflate_tiff()
    return encoded


def damaged_deflate_tiff() -> bytes:
    """A deflate-compressed TIFF with a garbled header region: libtiff prints its own error line to stderr."""
    rgb = (np.arange(16 * 16 * 3) % 251).astype(np.uint8).reshape(16, 16, 3)
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="TIFF", compression="tiff_deflate")
    data = bytearray(buffer.getvalue())
    for index in range(8, 40):
        data[index] ^= 0x5A
    return bytes(data)
