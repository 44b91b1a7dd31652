"""Scores, boxes, areas and COCO run-length encoding of masks (numpy only).

Masks are boolean [H, W] arrays in the ``original_size`` frame (row y, column x) unless stated
otherwise; logits are float32 with the mask being ``logits > 0.0`` (SAM's mask_threshold).
"""

from __future__ import annotations

import numpy as np

from sam_edge.runtime.errors import InvalidInputError
from sam_edge.runtime.rle import counts_to_string, mask_counts, string_to_counts


def stability_score(logits: np.ndarray, threshold: float = 0.0, offset: float = 1.0) -> np.ndarray:
    """IoU of the masks thresholded at ``threshold + offset`` and ``threshold - offset``.

    ``logits`` [..., H, W] float -> float32 [...] (a 0-d array for one mask). As SAM's
    ``calculate_stability_score``: count(logits > t + o) / count(logits > t - o) over the last two
    axes. One difference: where no pixel exceeds ``t - o`` SAM divides 0 by 0 (NaN); this returns 0.0.
    """
    logits = np.asarray(logits)
    if logits.ndim < 2:
        raise InvalidInputError(f"logits must have shape [..., H, W]; got {logits.shape}")
    intersections = _count(logits > (threshold + offset))
    unions = _count(logits > (threshold - offset))
    # float32 division of float32 counts, as torch's int32 / int32 true division.
    inter, union = intersections.astype(np.float32), unions.astype(np.float32)
    return np.divide(inter, union, out=np.zeros_like(union), where=union > 0)


def mask_area(mask: np.ndarray) -> int | np.ndarray:
    """Number of True pixels of a [H, W] mask (an int), or int64 [...] for masks [..., H, W]."""
    mask = _as_bool_masks(mask)
    areas = _count(mask)
    return int(areas) if mask.ndim == 2 else areas


def mask_bbox_xywh(mask: np.ndarray) -> tuple[int, int, int, int]:
    """Tight box (x, y, w, h) in pixels around the True pixels of a [H, W] mask; (0, 0, 0, 0) if empty.

    COCO convention (as ``pycocotools.mask.toBbox``): w = x_max - x_min + 1, so a one-pixel mask
    has w = h = 1. (SAM's automatic mask generator reports w = x_max - x_min instead.)
    """
    mask = _as_bool_masks(mask)
    if mask.ndim != 2:
        raise InvalidInputError(f"mask must have shape [H, W]; got {mask.shape}")
    cols = np.flatnonzero(mask.any(axis=0))
    if cols.size == 0:
        return (0, 0, 0, 0)
    rows = np.flatnonzero(mask.any(axis=1))
    x0, y0 = int(cols[0]), int(rows[0])
    return (x0, y0, int(cols[-1]) - x0 + 1, int(rows[-1]) - y0 + 1)


def encode_rle(mask: np.ndarray) -> dict:
    """COCO compressed RLE of a [H, W] mask: ``{"size": [H, W], "counts": str}``.

    Identical to ``pycocotools.mask.encode`` (whose counts are bytes; here ASCII str): runs of the
    column-major (Fortran order) pixels, starting with a run of zeros (possibly empty).
    """
    mask = _as_bool_masks(mask)
    if mask.ndim != 2:
        raise InvalidInputError(f"mask must have shape [H, W]; got {mask.shape}")
    height, width = mask.shape
    return {"size": [int(height), int(width)], "counts": counts_to_string(mask_counts(mask))}


def decode_rle(rle: dict) -> np.ndarray:
    """Inverse of ``encode_rle``: ``{"size": [H, W], "counts": str | bytes | list[int]}`` -> bool [H, W]."""
    try:
        height, width = (int(v) for v in rle["size"])
        counts = rle["counts"]
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidInputError('RLE must be a dict {"size": [H, W], "counts": str, bytes or list of ints}') from exc
    if isinstance(counts, (str, bytes)):
        runs = string_to_counts(counts)
    else:
        runs = np.asarray(counts, dtype=np.int64)
    if runs.ndim != 1 or (runs < 0).any() or int(runs.sum()) != height * width:
        raise InvalidInputError(
            f"RLE counts do not describe a {height}x{width} mask (runs must be >= 0 and sum to "
            f"{height * width}, got {int(runs.sum()) if runs.ndim == 1 else runs.shape})"
        )
    values = np.arange(runs.size) % 2 == 1
    flat = np.repeat(values, runs)
    return flat.reshape((height, width), order="F")


def _count(mask: np.ndarray) -> np.ndarray:
    """Number of True pixels over the last two axes (int64)."""
    return np.count_nonzero(mask, axis=(-2, -1)).astype(np.int64)


def _as_bool_masks(mask: np.ndarray) -> np.ndarray:
    mask = np.asarray(mask)
    if mask.ndim < 2:
        raise InvalidInputError(f"mask must have shape [H, W] (or [..., H, W]); got {mask.shape}")
    if mask.dtype != np.bool_:
        if not (np.issubdtype(mask.dtype, np.integer) or np.issubdtype(mask.dtype, np.floating)):
            raise InvalidInputError(f"mask must be bool (or 0/1 numbers); got dtype {mask.dtype}")
        mask = mask != 0
    return mask
