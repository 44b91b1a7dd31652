"""Masks kept as their tight window, and their stability / box computed from windowed logits.

The automatic mask generator handles thousands of candidate masks per image; most cover a small part
of it. A ``WindowMask`` is a bool [h, w] array placed at (``top``, ``left``) of an [H, W] frame (zeros
elsewhere): boxes, areas, RLE and small-region clean-up work on the window, and a full-frame array
is built only when a caller asks for one (``output_mode="binary_mask"``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sam_edge.runtime.mask_upscale import MaskUpscaler
from sam_edge.runtime.rle import window_counts

# The window for a threshold t covers every logit > t - WINDOW_MARGIN: float rounding of a convex
# combination of values <= t can land a hair above t, never by this much.
WINDOW_MARGIN = 1e-3


@dataclass(frozen=True)
class WindowMask:
    """bool ``mask`` [h, w] at rows [top, top + h), columns [left, left + w) of an ``image_size`` (H, W) frame."""

    mask: np.ndarray
    top: int
    left: int
    image_size: tuple[int, int]

    @property
    def area(self) -> int:
        return int(np.count_nonzero(self.mask))

    def box_half_open(self) -> tuple[int, int, int, int]:
        """(y0, y1, x0, x1) of the True pixels in the frame, half-open; (0, 0, 0, 0) when empty."""
        rows, cols = np.flatnonzero(self.mask.any(axis=1)), np.flatnonzero(self.mask.any(axis=0))
        if rows.size == 0:
            return (0, 0, 0, 0)
        return (
            self.top + int(rows[0]),
            self.top + int(rows[-1]) + 1,
            self.left + int(cols[0]),
            self.left + int(cols[-1]) + 1,
        )

    def box_xyxy(self) -> list[int]:
        """[x0, y0, x1, y1] with x1 / y1 the last column / row (inclusive), [0, 0, 0, 0] when empty:
        segment_anything's ``batched_mask_to_box``."""
        y0, y1, x0, x1 = self.box_half_open()
        return [0, 0, 0, 0] if y1 == 0 else [x0, y0, x1 - 1, y1 - 1]

    def tight(self) -> "WindowMask":
        """The same mask in its tight window (an empty mask: a 0 x 0 window)."""
        y0, y1, x0, x1 = self.box_half_open()
        inner = self.mask[y0 - self.top : y1 - self.top, x0 - self.left : x1 - self.left] if y1 else self.mask[:0, :0]
        return WindowMask(np.ascontiguousarray(inner), y0, x0, self.image_size)

    def grown(self, pixels: int) -> "WindowMask":
        """The window widened by ``pixels`` on each side (clipped to the frame), the new pixels False."""
        height, width = self.image_size
        h, w = self.mask.shape
        top, left = max(self.top - pixels, 0), max(self.left - pixels, 0)
        bottom, right = min(self.top + h + pixels, height), min(self.left + w + pixels, width)
        grown = np.zeros((bottom - top, right - left), dtype=bool)
        grown[self.top - top : self.top - top + h, self.left - left : self.left - left + w] = self.mask
        return WindowMask(grown, top, left, self.image_size)

    def with_mask(self, mask: np.ndarray) -> "WindowMask":
        """Another mask in this window, tightened."""
        return WindowMask(mask, self.top, self.left, self.image_size).tight()

    def shifted(self, rows: int, cols: int, image_size: tuple[int, int]) -> "WindowMask":
        """The same pixels in a larger frame whose origin is (``rows``, ``cols``) up-left of this one (uncrop)."""
        return WindowMask(self.mask, self.top + rows, self.left + cols, tuple(image_size))

    def full_frame(self) -> np.ndarray:
        """bool [H, W]."""
        full = np.zeros(self.image_size, dtype=bool)
        h, w = self.mask.shape
        full[self.top : self.top + h, self.left : self.left + w] = self.mask
        return full

    def full_frame_window(self, value: bool) -> "WindowMask":
        """A window covering the whole frame, every pixel ``value``."""
        return WindowMask(np.full(self.image_size, value, dtype=bool), 0, 0, self.image_size).tight()

    @staticmethod
    def from_full_frame(mask: np.ndarray) -> "WindowMask":
        return WindowMask(np.asarray(mask, dtype=bool), 0, 0, tuple(mask.shape)).tight()

    def counts(self) -> np.ndarray:
        """COCO RLE counts (int64) of the full-frame mask (rle.window_counts)."""
        return window_counts(self.mask, self.top, self.left, self.image_size)


@dataclass(frozen=True)
class WindowedResult:
    """A candidate mask after upscaling: the mask (logits > threshold), its stability and box."""

    mask: WindowMask
    stability: np.float32
    box: list[int]  # XYXY inclusive, the upscaler's frame


def stats_windows(upscaler: MaskUpscaler, low_res: np.ndarray, threshold: float, offset: float) -> np.ndarray:
    """int64 [M, 4] (y0, y1, x0, x1): per mask the window holding every upscaled logit > threshold - |offset|."""
    return upscaler.outer_windows(low_res, threshold - abs(offset) - WINDOW_MARGIN)


def window_result(
    upscaler: MaskUpscaler,
    low_res: np.ndarray,
    window,
    threshold: float,
    offset: float,
    origin: tuple[int, int] = (0, 0),
) -> WindowedResult:
    """Mask, stability and box of one mask from its logits inside ``window`` (a ``stats_windows`` row);
    ``low_res`` and ``origin`` as ``MaskUpscaler.window_logits`` takes them."""
    logits = upscaler.window_logits(low_res, window, origin)
    inter = np.float32(np.count_nonzero(logits > threshold + offset))
    union = np.float32(np.count_nonzero(logits > threshold - offset))
    with np.errstate(invalid="ignore", divide="ignore"):
        stability = np.float32(inter / union)
    mask = WindowMask(logits > threshold, int(window[0]), int(window[2]), upscaler.output_size).tight()
    return WindowedResult(mask, stability, mask.box_xyxy())


def upscale_windowed(
    upscaler: MaskUpscaler, low_res: np.ndarray, threshold: float, offset: float
) -> list[WindowedResult]:
    """Masks, stability scores and boxes of low-res logits [M, L, L], upscaling each only in its window.

    Each window holds every upscaled logit > threshold - |offset| (``MaskUpscaler.outer_windows``), so
    the counts behind the stability score (logits > threshold + offset over logits > threshold - offset,
    as segment_anything's ``calculate_stability_score`` on the full-resolution logits) and the box are
    those of the whole frame. A mask with no logit > threshold - offset has stability NaN (0 / 0), as
    in the official code.
    """
    windows = stats_windows(upscaler, low_res, threshold, offset)
    return [window_result(upscaler, logits, window, threshold, offset) for logits, window in zip(low_res, windows)]
