"""Fill small holes and drop small islands of a mask (``min_mask_region_area``), in the mask's window.

segment_anything labels the whole [H, W] frame with OpenCV (8-connectivity) for every mask. Here a
mask is a ``WindowMask`` (its tight box); components are labelled with scipy.ndimage in that box
grown by one pixel (the "ring", background by construction). The background outside the window
is counted, not labelled: a hole component touching the ring is joined to the outside region, whose
size is known from the box geometry, so every component size is the full-frame one. The result is
the same mask as the official code gives; scipy is the optional extra ``sam-edge[everything]``.
"""

from __future__ import annotations

import numpy as np

from sam_edge.runtime.errors import SamEdgeError
from sam_edge.runtime.mask_windows import WindowMask

EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)


class MissingDependencyError(SamEdgeError, ImportError):
    """An optional package that a requested feature needs is not installed."""


def require_scipy():
    """scipy.ndimage, or a one-line MissingDependencyError naming the extra to install."""
    try:
        from scipy import ndimage
    except ImportError:
        raise MissingDependencyError(
            "min_mask_region_area > 0 needs scipy (pip install 'sam-edge[everything]'); or pass min_mask_region_area=0"
        ) from None
    return ndimage


def remove_small_regions(mask: WindowMask, min_area: int) -> tuple[WindowMask, bool]:
    """(mask without holes, then without islands, smaller than ``min_area`` pixels; changed?)."""
    filled, holes_changed = _fill_small_holes(mask, min_area)
    kept, islands_changed = _drop_small_islands(filled, min_area)
    return kept, holes_changed or islands_changed


def _drop_small_islands(mask: WindowMask, min_area: int) -> tuple[WindowMask, bool]:
    """Islands lie inside the tight box, so labelling the box is exact. All small: the largest stays."""
    labels, count = require_scipy().label(mask.mask, structure=EIGHT_CONNECTED)
    sizes = np.bincount(labels.ravel(), minlength=count + 1)[1:]
    small = sizes < min_area
    if not small.any():
        return mask, False
    keep = np.flatnonzero(~small) + 1
    if keep.size == 0:
        keep = np.array([int(np.argmax(sizes)) + 1])
    return mask.with_mask(np.isin(labels, keep)), True


def _fill_small_holes(mask: WindowMask, min_area: int) -> tuple[WindowMask, bool]:
    if mask.area == 0:
        sizes = [mask.image_size[0] * mask.image_size[1]]  # the whole frame is one background component
        if sizes[0] < min_area:
            return mask.full_frame_window(True), True
        return mask, False
    grown = mask.grown(1)
    labels, count = require_scipy().label(~grown.mask, structure=EIGHT_CONNECTED)
    sizes = np.bincount(labels.ravel(), minlength=count + 1).astype(np.int64)
    outside = _outside_pieces(mask, grown, labels)
    for label, extra in outside:
        sizes[label] += extra
    small = np.flatnonzero(sizes[1:] < min_area) + 1
    if small.size == 0:
        return mask, False
    if any(label in small for label, _ in outside):  # the outside region itself is small: fill it too
        return _fill_small_holes_full_frame(mask, min_area), True
    filled = grown.with_mask(grown.mask | np.isin(labels, small))
    return filled.tight(), True


def _outside_pieces(mask: WindowMask, grown: WindowMask, labels: np.ndarray) -> list[tuple[int, int]]:
    """(label in ``grown``, pixels of that piece outside ``grown``) for each connected piece of the
    background outside the mask's box: one piece, or two when the box spans the image's width or height.

    Each piece meets ``grown``'s ring (the window's pixels outside the box, all background) in one
    connected strip, so the label of any one ring pixel of the piece is the piece's label.
    """
    height, width = mask.image_size
    y0, y1, x0, x1 = mask.box_half_open()
    spans_w, spans_h = x0 == 0 and x1 == width, y0 == 0 and y1 == height
    pieces = []  # (a ring pixel (row, col) in the frame, piece pixels, of them in the ring)
    if spans_w and spans_h:
        return []
    if spans_w:
        pieces += [((y0 - 1, 0), y0 * width, width)] if y0 > 0 else []
        pieces += [((y1, 0), (height - y1) * width, width)] if y1 < height else []
    elif spans_h:
        pieces += [((0, x0 - 1), x0 * height, height)] if x0 > 0 else []
        pieces += [((0, x1), (width - x1) * height, height)] if x1 < width else []
    else:
        ring = (y0 - 1, x0) if y0 > 0 else (y1, x0) if y1 < height else (y0, x0 - 1) if x0 > 0 else (y0, x1)
        box_area = (y1 - y0) * (x1 - x0)
        pieces.append((ring, height * width - box_area, grown.mask.size - box_area))
    return [(int(labels[row - grown.top, col - grown.left]), size - in_ring) for (row, col), size, in_ring in pieces]


def _fill_small_holes_full_frame(mask: WindowMask, min_area: int) -> WindowMask:
    """The rare case where the background outside the box is itself small: label the whole frame."""
    full = mask.full_frame()
    labels, count = require_scipy().label(~full, structure=EIGHT_CONNECTED)
    sizes = np.bincount(labels.ravel(), minlength=count + 1)[1:]
    small = np.flatnonzero(sizes < min_area) + 1
    return WindowMask.from_full_frame(full | np.isin(labels, small))
