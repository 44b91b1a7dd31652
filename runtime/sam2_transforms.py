"""SAM 2's image, prompt and mask frames in numpy / Pillow (SAM2ImagePredictor's SAM2Transforms).

Frames:
- ``original_size`` = (H, W): the image as loaded; prompts (x, y) come in this frame.
- the squashed frame S x S (S = image_size, 1024): the whole image resized to S x S, aspect NOT kept and
  nothing padded (SAM resizes the longest side and pads). The decoder takes prompts in this frame, so
  an embedding's ``input_size`` is (S, S).
- the low-res masks, 256 x 256, cover the squashed frame: they go straight to H x W (no crop).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from PIL import Image

from sam_edge.runtime.errors import InvalidInputError
from sam_edge.runtime.mask_upscale import MaskUpscaler

LOW_RES_SIDE = 256


def squash_and_normalize(
    rgb: np.ndarray, image_size: int, pixel_mean: Sequence[float], pixel_std: Sequence[float]
) -> np.ndarray:
    """HxWx3 uint8 RGB -> [1, 3, S, S] float32 encoder input, S = ``image_size``.

    As SAM2Transforms (ToTensor, Resize((S, S)), Normalize): pixels / 255 in float32, bilinear to S x S
    with antialiasing (Pillow's float resampling, which antialiases when shrinking as torchvision does;
    no resize when the image is already S x S), then (x - mean) / std with ``pixel_mean`` / ``pixel_std``
    given in 0..255 units (the metadata's; ImageNet's x 255) and divided by 255 here. Pillow accumulates
    in float64 where torch accumulates in float32: the results agree within ~2e-6 (docs/sam2.md).
    """
    if not isinstance(rgb, np.ndarray) or rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        shape, dtype = getattr(rgb, "shape", None), getattr(rgb, "dtype", type(rgb).__name__)
        raise InvalidInputError(f"expected an HxWx3 uint8 RGB array (see image_io.load_image); got {shape}, {dtype}")
    mean = (np.asarray(pixel_mean, dtype=np.float64) / 255).astype(np.float32).reshape(3, 1, 1)
    std = (np.asarray(pixel_std, dtype=np.float64) / 255).astype(np.float32).reshape(3, 1, 1)
    out = np.empty((1, 3, image_size, image_size), dtype=np.float32)
    for channel in range(3):
        plane = rgb[..., channel].astype(np.float32) / np.float32(255)
        if plane.shape != (image_size, image_size):
            resized = Image.fromarray(plane).resize((image_size, image_size), Image.BILINEAR)
            plane = np.asarray(resized, dtype=np.float32)
        out[0, channel] = plane
    out[0] -= mean
    out[0] /= std
    return out


def to_squashed_frame(coords: np.ndarray, original_size: tuple[int, int], image_size: int) -> np.ndarray:
    """[..., 2] original-frame (x, y) -> the squashed S x S frame, float32: x / W * S, y / H * S.

    In float32 and in that order, as SAM2Transforms.transform_coords (so the decoder sees the same bits).
    """
    height, width = original_size
    out = np.asarray(coords, dtype=np.float32).copy()
    out[..., 0] = out[..., 0] / np.float32(width)
    out[..., 1] = out[..., 1] / np.float32(height)
    return out * np.float32(image_size)


def direct_mask_upscaler(original_size: tuple[int, int], output_size: tuple[int, int] | None = None) -> MaskUpscaler:
    """Low-res logits [..., 256, 256] -> [..., H, W] bilinear in one step (SAM2Transforms.postprocess_masks:
    ``F.interpolate(masks, (H, W), mode="bilinear", align_corners=False)``), or to ``output_size``.

    MaskUpscaler's composed map with an identity first step: resampling 256 -> 256 is exactly the
    identity (source index d, weights 1 and 0), and a 256 x 256 "input size" crops nothing.
    """
    side = (LOW_RES_SIDE, LOW_RES_SIDE)
    return MaskUpscaler(original_size, side, LOW_RES_SIDE, LOW_RES_SIDE, output_size=output_size)
