"""Candidate masks whose full-resolution work waits until NMS has decided which of them are kept.

When the stability score filters nothing (``stability_score_thresh=0``), what decides a candidate's
fate before NMS is its box alone. ``band_box`` finds the exact box of the upscaled mask by computing
the upscaled logits only in bands of BAND_LINES lines along the edges of its window (inward until a
band holds the edge), with the same blocks as the full upscale, so the box is the full-frame one. The
candidate keeps the low-res logits its stability window reads (``PendingMask``); only NMS survivors
are upscaled in their window (``materialize``), which gives the mask and the stability score.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sam_edge.runtime.mask_upscale import MaskUpscaler
from sam_edge.runtime.mask_windows import WINDOW_MARGIN, WindowedResult, stats_windows, window_result

BAND_LINES = 16  # the outer window is a few pixels from the mask's edge: one band usually finds it


@dataclass(frozen=True)
class PendingMask:
    """float32 low-res logits from low-res (row, column) ``origin`` on, enough for ``window_logits`` of
    the stability ``window`` (y0, y1, x0, x1) in the upscaler's frame."""

    low_res: np.ndarray
    origin: tuple[int, int]
    window: tuple[int, int, int, int]

    @property
    def nbytes(self) -> int:
        return int(self.low_res.nbytes)


def pending_masks(upscaler: MaskUpscaler, low_res: np.ndarray, threshold: float, offset: float) -> list[PendingMask]:
    """One PendingMask per low-res mask [M, L, L] (a copy of just the logits its window reads)."""
    pending = []
    for logits, window in zip(low_res, stats_windows(upscaler, low_res, threshold, offset)):
        r0, r1, c0, c1 = upscaler.window_inputs(window)
        pending.append(PendingMask(np.array(logits[r0:r1, c0:c1]), (r0, c0), tuple(int(v) for v in window)))
    return pending


def band_boxes(upscaler: MaskUpscaler, low_res: np.ndarray, pending: list[PendingMask], threshold: float) -> np.ndarray:
    """int64 [M, 4] exact boxes (XYXY, last row / column inclusive; [0, 0, 0, 0] when empty) of the masks
    logits > ``threshold``; ``low_res`` [M, L, L] bounds each mask's window, ``pending`` holds its logits."""
    windows = upscaler.outer_windows(low_res, threshold - WINDOW_MARGIN)
    return np.array([band_box(upscaler, p, w, threshold) for p, w in zip(pending, windows)], np.int64).reshape(-1, 4)


def band_box(upscaler: MaskUpscaler, pending: PendingMask, window, threshold: float) -> list[int]:
    """The box of one mask, scanning its ``window`` (which holds the whole mask) from each edge inward."""
    y0, y1, x0, x1 = (int(v) for v in window)
    if y1 <= y0 or x1 <= x0:
        return [0, 0, 0, 0]

    def positive(window_part):
        return upscaler.window_logits(pending.low_res, window_part, pending.origin) > threshold

    top = _edge_line(lambda a, b: positive((a, b, x0, x1)).any(axis=1), y0, y1, forward=True)
    if top is None:
        return [0, 0, 0, 0]
    bottom = _edge_line(lambda a, b: positive((a, b, x0, x1)).any(axis=1), top, y1, forward=False)
    left = _edge_line(lambda a, b: positive((top, bottom + 1, a, b)).any(axis=0), x0, x1, forward=True)
    right = _edge_line(lambda a, b: positive((top, bottom + 1, a, b)).any(axis=0), left, x1, forward=False)
    return [left, top, right, bottom]


def _edge_line(hits, start: int, stop: int, forward: bool) -> int | None:
    """First (``forward``) or last line in [start, stop) for which ``hits(a, b)`` (bool per line of [a, b)) is True."""
    if forward:
        for a in range(start, stop, BAND_LINES):
            hit = hits(a, min(a + BAND_LINES, stop))
            if hit.any():
                return a + int(np.argmax(hit))
        return None
    for b in range(stop, start, -BAND_LINES):
        a = max(b - BAND_LINES, start)
        hit = hits(a, b)
        if hit.any():
            return a + len(hit) - 1 - int(np.argmax(hit[::-1]))
    return None


def materialize(upscaler: MaskUpscaler, pending: PendingMask, threshold: float, offset: float) -> WindowedResult:
    """The mask, stability score and box of a pending candidate (upscaled in its stability window)."""
    return window_result(upscaler, pending.low_res, pending.window, threshold, offset, pending.origin)
