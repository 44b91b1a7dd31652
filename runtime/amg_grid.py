"""Where the automatic mask generator prompts: point grids per crop layer, the crop boxes, crop-edge tests.

As segment_anything's ``utils/amg.py``. Grids are float64 [N, 2] (x, y) normalised to [0, 1] over a
crop; crop boxes are int [x0, y0, x1, y1] (half-open) in the original image frame; mask boxes are
int XYXY with x1 / y1 the last column / row of the mask (inclusive).
"""

from __future__ import annotations

import math
from itertools import product

import numpy as np

from sam_edge.runtime.errors import InvalidInputError

MAX_GRID_POINTS = 4096  # points per crop layer: more is a mistake (64 x 64 already costs minutes on a CPU)
EDGE_TOLERANCE = 20.0  # pixels: a mask box this close to a crop's inner edge was cut by the crop


def build_point_grid(points_per_side: int) -> np.ndarray:
    """[n * n, 2] cell centres of an n x n grid over [0, 1]^2, row by row (x fastest)."""
    offset = 1 / (2 * points_per_side)
    side = np.linspace(offset, 1 - offset, points_per_side)
    xs = np.tile(side[None, :], (points_per_side, 1))
    ys = np.tile(side[:, None], (1, points_per_side))
    return np.stack([xs, ys], axis=-1).reshape(-1, 2)


def layer_point_grids(points_per_side: int, crop_n_layers: int, downscale: int) -> list[np.ndarray]:
    """One grid per layer: layer i has int(points_per_side / downscale**i) points per side.

    Refused (one line) when a layer would get no point or a layer more than MAX_GRID_POINTS.
    """
    grids = []
    for layer in range(crop_n_layers + 1):
        side = int(points_per_side / (downscale**layer))
        if side < 1:
            raise InvalidInputError(
                f"crop layer {layer} gets no point: points_per_side {points_per_side} / "
                f"crop_n_points_downscale_factor**{layer} < 1; use fewer crop layers or a smaller downscale factor"
            )
        grids.append(build_point_grid(side))
    check_point_grids(grids)
    return grids


def check_point_grids(grids) -> list[np.ndarray]:
    """Explicit grids: a list of float [N, 2] arrays in [0, 1] with 1 <= N <= MAX_GRID_POINTS."""
    try:
        arrays = [np.asarray(grid, dtype=np.float64) for grid in grids]
    except (TypeError, ValueError):
        raise InvalidInputError("point_grids must be a list of [N, 2] arrays of (x, y) in [0, 1]") from None
    if not arrays:
        raise InvalidInputError("point_grids is empty; give one [N, 2] grid per crop layer (layer 0 first)")
    for layer, grid in enumerate(arrays):
        if grid.ndim != 2 or grid.shape[1] != 2 or not 1 <= grid.shape[0] <= MAX_GRID_POINTS:
            raise InvalidInputError(
                f"point grid {layer} must be [N, 2] with 1 <= N <= {MAX_GRID_POINTS}; got shape {grid.shape}"
            )
        if not np.isfinite(grid).all() or (grid < 0).any() or (grid > 1).any():
            raise InvalidInputError(f"point grid {layer} must hold (x, y) normalised to [0, 1] of the crop")
    return arrays


def crop_boxes(
    image_size: tuple[int, int], crop_n_layers: int, overlap_ratio: float
) -> tuple[list[list[int]], list[int]]:
    """(boxes [x0, y0, x1, y1], layer of each): the whole image, then (2**i)**2 overlapping crops in layer i.

    Refused (one line) when a layer's crops would not tile the image (overlap as large as a crop).
    """
    height, width = image_size
    boxes, layers = [[0, 0, width, height]], [0]
    short_side = min(height, width)
    for layer in range(crop_n_layers):
        per_side = 2 ** (layer + 1)
        overlap = int(overlap_ratio * short_side * (2 / per_side))
        crop_w, crop_h = _crop_len(width, per_side, overlap), _crop_len(height, per_side, overlap)
        if crop_w - overlap < 1 or crop_h - overlap < 1:
            raise InvalidInputError(
                f"crop layer {layer + 1} makes no crops of a {width}x{height} image: the overlap ({overlap} px) "
                f"is as large as a crop ({crop_w}x{crop_h} px); use a smaller crop_overlap_ratio or fewer crop layers"
            )
        x_starts = [int((crop_w - overlap) * i) for i in range(per_side)]
        y_starts = [int((crop_h - overlap) * i) for i in range(per_side)]
        for x0, y0 in product(x_starts, y_starts):
            boxes.append([x0, y0, min(x0 + crop_w, width), min(y0 + crop_h, height)])
            layers.append(layer + 1)
    return boxes, layers


def _crop_len(length: int, crops: int, overlap: int) -> int:
    return int(math.ceil((overlap * (crops - 1) + length) / crops))


def near_crop_edge(boxes: np.ndarray, crop_box, image_size: tuple[int, int]) -> np.ndarray:
    """bool [N]: a box (XYXY, original frame) within EDGE_TOLERANCE of a crop edge that is not an image edge."""
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    crop = np.asarray(crop_box, dtype=np.float32)
    image = np.array([0, 0, image_size[1], image_size[0]], dtype=np.float32)
    near_crop = np.abs(boxes - crop[None]) <= EDGE_TOLERANCE
    near_image = np.abs(boxes - image[None]) <= EDGE_TOLERANCE
    return (near_crop & ~near_image).any(axis=1)


def xyxy_to_xywh(box) -> list[int]:
    """[x0, y0, x1, y1] -> [x0, y0, x1 - x0, y1 - y0] (segment_anything's record convention)."""
    x0, y0, x1, y1 = (int(v) for v in box)
    return [x0, y0, x1 - x0, y1 - y0]
