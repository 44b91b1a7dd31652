"""Deterministic clicks for evaluation: the point deepest inside a region, and correction clicks.

As in SAM's interactive evaluation (which follows RITM), a simulated annotator clicks at the point
of a region farthest from the region's boundary. The distance is approximate and fast (no scipy):

- crop the region's bounding box, pad it by one background pixel (so the image border counts as a
  boundary too), and shrink it by an integer factor f so the longer side is at most ``WORK_SIDE``;
  a coarse cell is inside only if all f x f pixels are (then its centre pixel is surely inside). If
  shrinking empties a thin region, f is halved until something survives (f = 1 always does);
- erode the coarse mask repeatedly, alternating a 3x3 square and a 3x3 cross (an octagonal metric,
  within ~8% of Euclidean) until it would vanish; the cells left last are the deepest;
- among those, take the one nearest their centroid (so a disc gives its centre, a ring a point on
  the ring's mid-line), and return the centre pixel of that cell.

Masks are bool [H, W] in the original image frame (row y, column x). Points are (x, y) integer pixel
indices in that frame, as ``SamPredictor`` takes them (the prompt encoder adds the half pixel).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sam_edge.runtime.errors import InvalidInputError

WORK_SIDE = 128  # longest side of the coarse grid the erosions run on


@dataclass(frozen=True)
class Click:
    """A click at pixel (x, y), original frame; label 1 foreground, 0 background.

    ``depth``: approximate distance in pixels from the clicked region's boundary (0 for none).
    """

    x: int
    y: int
    label: int
    depth: float


def deepest_point(region: np.ndarray) -> tuple[int, int, float]:
    """(x, y, depth) of the pixel of ``region`` (bool [H, W], not empty) farthest from its boundary.

    ``depth`` is in original pixels (about the radius of the largest disc inside the region).
    """
    region = np.asarray(region, dtype=bool)
    if region.ndim != 2 or not region.any():
        raise InvalidInputError(
            f"region must be a non-empty bool [H, W] mask; got shape {region.shape} with {int(region.sum())} pixels set"
        )
    rows, cols = np.flatnonzero(region.any(axis=1)), np.flatnonzero(region.any(axis=0))
    y0, x0 = int(rows[0]), int(cols[0])
    crop = region[y0 : rows[-1] + 1, x0 : cols[-1] + 1]
    factor = max(1, math.ceil(max(crop.shape) / WORK_SIDE))
    coarse = _shrink_all(crop, factor)
    while not coarse.any():  # thin region: use a finer grid
        factor = max(1, factor // 2)
        coarse = _shrink_all(crop, factor)
    (cell_y, cell_x), erosions = _deepest_cell(coarse)
    x = x0 + cell_x * factor + factor // 2
    y = y0 + cell_y * factor + factor // 2
    return x, y, (erosions + 0.5) * factor


def correction_click(predicted: np.ndarray, target: np.ndarray) -> Click:
    """The next click of a simulated annotator who sees ``predicted`` and wants ``target``.

    predicted, target: bool [H, W], original frame. The error is split into the missed region
    (target & ~predicted -> a foreground click, label 1) and the spilled one (predicted & ~target ->
    a background click, label 0); the click goes into the larger of the two, measured as RITM and
    SAM do by its depth (the larger inscribed disc), so a thin sliver along the border loses to a
    blob; ties go to the missed region. With no error at all, a foreground click at the target's
    deepest point confirms the mask (so every instance gets a click each round).
    """
    predicted, target = np.asarray(predicted, dtype=bool), np.asarray(target, dtype=bool)
    if predicted.shape != target.shape:
        raise InvalidInputError(
            f"predicted {predicted.shape} and target {target.shape} masks must have the same [H, W] shape"
        )
    candidates = [
        _click(region, label) for region, label in ((target & ~predicted, 1), (predicted & ~target, 0)) if region.any()
    ]
    if not candidates:
        return _click(target, 1)
    return max(candidates, key=lambda click: click.depth)  # max keeps the first (missed) on ties


def _click(region: np.ndarray, label: int) -> Click:
    x, y, depth = deepest_point(region)
    return Click(x, y, label, depth)


def _shrink_all(mask: np.ndarray, factor: int) -> np.ndarray:
    """bool [h, w] -> [ceil(h/f), ceil(w/f)]: a cell is True only if its f x f block lies fully inside."""
    if factor == 1:
        return mask
    height, width = mask.shape
    padded = np.zeros((-(-height // factor) * factor, -(-width // factor) * factor), bool)
    padded[:height, :width] = mask
    return padded.reshape(padded.shape[0] // factor, factor, padded.shape[1] // factor, factor).all(axis=(1, 3))


def _deepest_cell(mask: np.ndarray) -> tuple[tuple[int, int], int]:
    """((row, col), erosions): a deepest cell of a non-empty bool [h, w] mask and how many erosions it survives."""
    current = np.pad(mask, 1)  # background all around: the crop border is a boundary
    erosions = 0
    while True:
        eroded = _erode(current, square=erosions % 2 == 0)
        if not eroded.any():
            break
        current, erosions = eroded, erosions + 1
    ys, xs = np.nonzero(current)
    nearest = int(np.argmin((ys - ys.mean()) ** 2 + (xs - xs.mean()) ** 2))
    return (int(ys[nearest]) - 1, int(xs[nearest]) - 1), erosions


def _erode(mask: np.ndarray, square: bool) -> np.ndarray:
    """One binary erosion of a bool [h, w] mask whose one-pixel border is False (it stays False)."""
    if square:  # separable 3x3 square: vertical min, then horizontal min of that
        column = mask[:-2] & mask[1:-1] & mask[2:]
        inner = column[:, :-2] & column[:, 1:-1] & column[:, 2:]
    else:  # 3x3 cross
        inner = mask[1:-1, 1:-1] & mask[:-2, 1:-1] & mask[2:, 1:-1] & mask[1:-1, :-2] & mask[1:-1, 2:]
    out = np.zeros_like(mask)
    out[1:-1, 1:-1] = inner
    return out
