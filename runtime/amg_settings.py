"""The automatic mask generator's settings: segment_anything's constructor arguments, checked once.

Defaults and meaning are the official ones (``SamAutomaticMaskGenerator``); every bad value is a
one-line InvalidInputError saying what was given and what is accepted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from sam_edge.runtime.amg_grid import MAX_GRID_POINTS, check_point_grids, layer_point_grids
from sam_edge.runtime.errors import InvalidInputError

OUTPUT_MODES = ("binary_mask", "uncompressed_rle", "coco_rle")


@dataclass(frozen=True)
class AmgSettings:
    """What ``SamAutomaticMaskGenerator`` was built with; ``grids`` is derived (one per crop layer)."""

    points_per_side: int | None = 32
    points_per_batch: int = 64
    pred_iou_thresh: float = 0.88
    stability_score_thresh: float = 0.95
    stability_score_offset: float = 1.0
    box_nms_thresh: float = 0.7
    crop_n_layers: int = 0
    crop_nms_thresh: float = 0.7
    crop_overlap_ratio: float = 512 / 1500
    crop_n_points_downscale_factor: int = 1
    point_grids: list | None = None
    min_mask_region_area: int = 0
    output_mode: str = "binary_mask"
    grids: list = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _integer(self.points_per_batch, "points_per_batch", 1)
        _integer(self.crop_n_layers, "crop_n_layers", 0)
        _integer(self.crop_n_points_downscale_factor, "crop_n_points_downscale_factor", 1)
        _integer(self.min_mask_region_area, "min_mask_region_area", 0)
        for name in ("pred_iou_thresh", "stability_score_thresh", "box_nms_thresh", "crop_nms_thresh"):
            _fraction(getattr(self, name), name, "0 <= value <= 1", lambda v: 0.0 <= v <= 1.0)
        _fraction(self.crop_overlap_ratio, "crop_overlap_ratio", "0 <= value < 1", lambda v: 0.0 <= v < 1.0)
        _fraction(self.stability_score_offset, "stability_score_offset", "a number >= 0", lambda v: v >= 0.0)
        if self.output_mode not in OUTPUT_MODES:
            raise InvalidInputError(f"unknown output_mode {self.output_mode!r}; accepted: {', '.join(OUTPUT_MODES)}")
        object.__setattr__(self, "grids", self._build_grids())

    def _build_grids(self) -> list[np.ndarray]:
        if (self.points_per_side is None) == (self.point_grids is None):
            raise InvalidInputError(
                "give exactly one of points_per_side or point_grids (to use point_grids, pass points_per_side=None)"
            )
        if self.point_grids is not None:
            grids = check_point_grids(self.point_grids)
            if len(grids) < self.crop_n_layers + 1:
                raise InvalidInputError(
                    f"point_grids holds {len(grids)} grid(s) for {self.crop_n_layers + 1} crop "
                    "layers; give one [N, 2] grid per layer (layer 0 = the whole image)"
                )
            return grids
        side = _integer(self.points_per_side, "points_per_side", 1)
        if side * side > MAX_GRID_POINTS:
            raise InvalidInputError(
                f"points_per_side {side} makes a grid of {side * side} points; accepted: at most "
                f"{MAX_GRID_POINTS} points (points_per_side <= {math.isqrt(MAX_GRID_POINTS)})"
            )
        return layer_point_grids(side, self.crop_n_layers, self.crop_n_points_downscale_factor)


def _integer(value, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise InvalidInputError(f"{name} must be an integer >= {minimum}; got {value!r}")
    return int(value)


def _fraction(value, name: str, accepted: str, ok) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if isinstance(value, bool) or not math.isfinite(number) or not ok(number):
        raise InvalidInputError(f"{name} must be {accepted}; got {value!r}")
    return number
