"""Pure numpy / Pillow versions of SAM's image, prompt and mask transforms.

Frames and names used throughout:

- ``original_size`` = (H, W): the image as loaded (``image_io.load_image``), pixel (x, y) with
  x along W (columns) and y along H (rows).
- ``input_size`` = (h, w): the image resized so that its longest side is ``image_size`` (1024 for
  SAM), ``preprocess_shape(H, W, image_size)``. Prompts go to the decoder in this frame.
- ``image_size`` = S: the square, padded encoder input (S x S; padding is bottom/right).
- ``low_res_size`` = 256 (S / 4): the decoder's mask logits, covering the padded S x S square.

Each function reproduces the official code named in its docstring (segment_anything,
``utils/transforms.py`` and ``modeling/sam.py``); the tests compare against it.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from PIL import Image

from sam_edge.runtime.errors import InvalidInputError

PIXEL_MEAN = (123.675, 116.28, 103.53)
PIXEL_STD = (58.395, 57.12, 57.375)


def preprocess_shape(height: int, width: int, long_side: int) -> tuple[int, int]:
    """(new_h, new_w) with the longest side scaled to ``long_side``, rounded half up.

    Same arithmetic as ``ResizeLongestSide.get_preprocess_shape``:
    scale = long_side / max(h, w); new = int(old * scale + 0.5).
    """
    sides = (height, width, long_side)
    if not all(isinstance(side, (int, np.integer)) and not isinstance(side, bool) for side in sides) or min(sides) < 1:
        raise InvalidInputError(
            f"sizes must be positive integers, got height={height!r}, width={width!r}, long_side={long_side!r}"
        )
    scale = long_side * 1.0 / max(height, width)
    return int(height * scale + 0.5), int(width * scale + 0.5)


def resize_longest_side(rgb: np.ndarray, long_side: int) -> np.ndarray:
    """Resize an HxWx3 uint8 RGB image to ``preprocess_shape(H, W, long_side)``: h x w x 3 uint8.

    Equals ``ResizeLongestSide.apply_image`` (torchvision ``resize`` of a PIL image), which is
    Pillow's bilinear ``Image.resize((w, h))`` with its built-in antialiasing when shrinking.
    """
    _check_rgb_uint8(rgb)
    new_h, new_w = preprocess_shape(rgb.shape[0], rgb.shape[1], long_side)
    resized = Image.fromarray(np.ascontiguousarray(rgb)).resize((new_w, new_h), Image.BILINEAR)
    return np.array(resized, dtype=np.uint8)


def normalize_and_pad(
    resized: np.ndarray,
    image_size: int = 1024,
    pixel_mean: Sequence[float] = PIXEL_MEAN,
    pixel_std: Sequence[float] = PIXEL_STD,
) -> np.ndarray:
    """hxwx3 uint8 RGB (input frame) -> [1, 3, S, S] float32 encoder input, S = ``image_size``.

    As ``Sam.preprocess``: (x - mean) / std in float32, then zeros on the bottom/right, so the
    padding is 0 after normalisation (not the normalised value of a black pixel).
    """
    _check_rgb_uint8(resized)
    h, w = resized.shape[:2]
    if h > image_size or w > image_size:
        raise InvalidInputError(
            f"resized image is {h}x{w} (HxW), larger than image_size {image_size}; "
            "resize it with resize_longest_side(image, image_size) first"
        )
    mean = np.asarray(pixel_mean, dtype=np.float32).reshape(3, 1, 1)
    std = np.asarray(pixel_std, dtype=np.float32).reshape(3, 1, 1)
    out = np.zeros((1, 3, image_size, image_size), dtype=np.float32)
    image = out[0, :, :h, :w]
    # In place: float32 copies of the image would stay resident (freed into the heap) during the
    # encoder's peak. Same float32 operations as (x.astype(float32) - mean) / std, bit for bit.
    np.subtract(resized.transpose(2, 0, 1), mean, out=image)
    np.divide(image, std, out=image)
    return out


def to_input_frame(coords: np.ndarray, original_size: tuple[int, int], input_size: tuple[int, int]) -> np.ndarray:
    """Point coordinates [..., 2] as (x, y) in ``original_size`` pixels -> input frame, float32.

    As ``ResizeLongestSide.apply_coords``: x * (w / W), y * (h / H) in float64, then float32
    (the dtype the decoder is fed).
    """
    coords = np.asarray(coords)
    if coords.ndim == 0 or coords.shape[-1] != 2:
        raise InvalidInputError(f"point coordinates must have shape [..., 2] holding (x, y); got {coords.shape}")
    out = coords.astype(np.float64, copy=True)
    if not np.isfinite(out).all():
        raise InvalidInputError("point coordinates contain NaN or inf; give finite (x, y) pixels")
    (old_h, old_w), (new_h, new_w) = original_size, input_size
    out[..., 0] = out[..., 0] * (new_w / old_w)
    out[..., 1] = out[..., 1] * (new_h / old_h)
    return out.astype(np.float32)


def boxes_to_input_frame(boxes: np.ndarray, original_size: tuple[int, int], input_size: tuple[int, int]) -> np.ndarray:
    """Boxes [..., 4] as (x0, y0, x1, y1) in ``original_size`` pixels -> input frame, float32.

    As ``ResizeLongestSide.apply_boxes``: both corners through ``to_input_frame``.
    """
    boxes = np.asarray(boxes)
    if boxes.ndim == 0 or boxes.shape[-1] != 4:
        raise InvalidInputError(f"boxes must have shape [..., 4] holding (x0, y0, x1, y1); got {boxes.shape}")
    corners = to_input_frame(boxes.reshape(*boxes.shape[:-1], 2, 2), original_size, input_size)
    return corners.reshape(boxes.shape)


def bilinear_matrix(in_size: int, out_size: int) -> np.ndarray:
    """[out_size, in_size] float32 matrix M with y = M @ x resampling one axis of length in_size.

    The linear map of ``torch.nn.functional.interpolate(mode="bilinear", align_corners=False,
    antialias=False)`` along one axis (see ``_bilinear_matrix64``).
    """
    return _bilinear_matrix64(in_size, out_size).astype(np.float32)


def _bilinear_matrix64(in_size: int, out_size: int) -> np.ndarray:
    """float64 [out_size, in_size] bilinear map: row d has 1 - t at i0 and t at i1 = min(i0 + 1, in - 1).

    src = (d + 0.5) * in / out - 0.5 (clamped at 0), i0 = floor(src), t = src - i0. The source
    index and the two weights are rounded to float32 exactly as torch's CPU kernel computes them
    (float32 scale, one fused multiply-add, float32 ``1 - t``); an exact float64 index would differ
    from torch by up to ~3e-4 of the step between neighbouring inputs. The matrix is float64.
    """
    if in_size < 1 or out_size < 1:
        raise InvalidInputError(f"sizes must be positive, got in={in_size}, out={out_size}")
    src = _torch_source_index(in_size, out_size)
    i0 = np.floor(src).astype(np.int64)
    i1 = np.minimum(i0 + 1, in_size - 1)
    lam1 = src - i0.astype(np.float32)  # exact in float32
    lam0 = np.float32(1.0) - lam1
    matrix = np.zeros((out_size, in_size), dtype=np.float64)
    rows = np.arange(out_size)
    np.add.at(matrix, (rows, i0), lam0.astype(np.float64))
    np.add.at(matrix, (rows, i1), lam1.astype(np.float64))
    return matrix


def _torch_source_index(in_size: int, out_size: int) -> np.ndarray:
    """float32 source positions: fma(float32(in) / out, d + 0.5, -0.5) rounded once, clamped at 0.

    float32 * float32 is exact in float64 and subtracting 0.5 stays exact (< 53 bits), so one
    rounding to float32 reproduces the fused multiply-add of torch's compiled CPU kernels.
    """
    scale = np.float32(in_size) / np.float32(out_size)
    half_dst = np.arange(out_size, dtype=np.float32) + np.float32(0.5)
    src = (np.float64(scale) * half_dst.astype(np.float64) - 0.5).astype(np.float32)
    return np.maximum(src, np.float32(0.0))


def mask_upscale_matrices(
    original_size: tuple[int, int],
    input_size: tuple[int, int],
    image_size: int = 1024,
    low_res_size: int = 256,
) -> tuple[np.ndarray, np.ndarray]:
    """(rows [H, L], cols [W, L]) float32 so that ``masks = rows @ low_res @ cols.T``, L = low_res_size.

    Composes ``Sam.postprocess_masks`` per axis in float64: bilinear L -> S (S = image_size),
    crop to the input size (only the first h rows / w columns of that map are kept), then bilinear
    h -> H and w -> W (``original_size`` = (H, W), ``input_size`` = (h, w)).
    """
    (height, width), (in_h, in_w) = original_size, input_size
    if not (0 < in_h <= image_size and 0 < in_w <= image_size):
        raise InvalidInputError(f"input_size {input_size} must lie within 1..{image_size} on both sides")
    up = _bilinear_matrix64(low_res_size, image_size)
    rows = _bilinear_matrix64(in_h, height) @ up[:in_h]
    cols = _bilinear_matrix64(in_w, width) @ up[:in_w]
    return rows.astype(np.float32), cols.astype(np.float32)


def _check_rgb_uint8(rgb: np.ndarray) -> None:
    if not isinstance(rgb, np.ndarray) or rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        shape = getattr(rgb, "shape", None)
        dtype = getattr(rgb, "dtype", type(rgb).__name__)
        raise InvalidInputError(
            f"expected an HxWx3 uint8 RGB array (see image_io.load_image); got shape {shape}, {dtype}"
        )
    if rgb.shape[0] == 0 or rgb.shape[1] == 0:
        raise InvalidInputError(f"image is empty (shape {rgb.shape}); it needs at least 1x1 pixels")
